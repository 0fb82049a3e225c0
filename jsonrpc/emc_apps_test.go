package jsonrpc

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// appsSetup runs the real apps module on block 3's state: devAddr
// publishes apps 1 and 2; otherAddr deploys instance 1 of app 1 (1 ether,
// 1 GPU, 2 hours) and instance 2 of app 2, and stops instance 2 (closed,
// refunded).
func appsSetup(f *fakeBackend) {
	t := f.t
	st := registry.Staking{EpochLength: 1, MinRouterStakeWei: uint256.NewInt(params.Ether)}
	reg, err := native.Load(map[string]json.RawMessage{apps.Name: nil}, map[string]native.Factory{apps.Name: apps.Factory(st, 2000)})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := reg.Lookup(native.AppsAddress)
	appsABI, _ := abi.JSON(strings.NewReader(m.ABI()))
	f.mineState(func(s *ethstate.StateDB) {
		ch := nativetest.New(t, reg, nil)
		for a, acct := range reg.GenesisAlloc() {
			s.SetCode(a, acct.Code, tracing.CodeChangeGenesis)
			s.SetNonce(a, acct.Nonce, tracing.NonceChangeGenesis)
		}
		s.AddBalance(otherAddr, uint256.NewInt(10*params.Ether), tracing.BalanceChangeUnspecified)
		ch.State, ch.Number = s, 3
		send := func(from common.Address, value *uint256.Int, method string, args ...any) {
			data, err := appsABI.Pack(method, args...)
			if err != nil {
				t.Fatal(err)
			}
			msg := ch.Msg(from, &native.AppsAddress, value, data)
			msg.GasLimit = 5_000_000
			if res, _ := ch.Apply(msg); res.Err != nil {
				reason, _ := abi.UnpackRevert(res.ReturnData)
				t.Fatalf("%s: %v %q", method, res.Err, reason)
			}
		}
		for i, name := range []string{"echo", "llama"} {
			send(devAddr, nil, "publishApp", [32]byte{0xaa, byte(i)}, uint16(8080+i), "/health", name, "desc "+name, "POST /",
				big.NewInt(1000), big.NewInt(int64(2000*i)), uint16(500*i))
		}
		key := [32]byte{0x4b}
		send(otherAddr, uint256.NewInt(params.Ether), "deploy", big.NewInt(1), uint32(1), uint64(2), key)
		send(otherAddr, uint256.NewInt(params.Ether), "deploy", big.NewInt(2), uint32(0), uint64(1), key)
		send(otherAddr, nil, "stop", big.NewInt(2))
	})
}

func TestEmcApps(t *testing.T) {
	srv, b := newTestServer(t)
	client := rpc.DialInProc(srv.rpc)
	t.Cleanup(client.Close)
	ctx := t.Context()
	var empty AppsPage
	if err := client.CallContext(ctx, &empty, "emc_apps", hexU(0), hexU(0)); err != nil || empty.Total != 0 || len(empty.Apps) != 0 {
		t.Fatalf("apps on a chain without any: %+v %v", empty, err)
	}
	appsSetup(b)

	var page AppsPage
	if err := client.CallContext(ctx, &page, "emc_apps", hexU(0), hexU(0)); err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || page.NextOffset != 2 || len(page.Apps) != 2 || page.Apps[1].Name != "llama" || page.Apps[1].Publisher != devAddr ||
		page.Apps[1].RoyaltyBps != 500 || page.Apps[1].PricePerGPUSecond.ToInt().Int64() != 2000 || page.Apps[0].Port != 8080 {
		t.Fatalf("emc_apps %+v", page)
	}
	if err := client.CallContext(ctx, &page, "emc_apps", hexU(1), hexU(5)); err != nil || len(page.Apps) != 1 || page.Apps[0].ID != 2 || page.NextOffset != 2 {
		t.Fatalf("second page %+v %v", page, err)
	}
	if err := client.CallContext(ctx, &page, "emc_apps", hexU(9), hexU(5)); err != nil || len(page.Apps) != 0 || page.NextOffset != 2 {
		t.Fatalf("past the end %+v %v", page, err)
	}
	if err := client.CallContext(ctx, &page, "emc_apps", hexU(0), hexU(MaxAppsPage+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("limit above the page: %v", err)
	}
	var in *Instance
	if err := client.CallContext(ctx, &in, "emc_getInstance", hexU(1)); err != nil || in == nil {
		t.Fatal(in, err)
	}
	if in.State != "deployed" || in.Owner != otherAddr || in.App != 1 || in.EscrowKind != "emc" || in.Escrow.ToInt().Cmp(big.NewInt(params.Ether)) != 0 ||
		in.Node != nil || in.Hours != 2 || in.GPUs != 1 {
		t.Fatalf("instance 1 %+v", in)
	}
	if err := client.CallContext(ctx, &in, "emc_getInstance", hexU(2)); err != nil || in.State != "closed" || in.EndReason != "stopped" ||
		in.Refund.ToInt().Cmp(big.NewInt(params.Ether)) != 0 {
		t.Fatalf("instance 2 %+v %v", in, err)
	}
	in = nil
	if err := client.CallContext(ctx, &in, "emc_getInstance", hexU(3)); err != nil || in != nil {
		t.Fatalf("missing instance %+v %v", in, err)
	}
	var app *App
	if err := client.CallContext(ctx, &app, "emc_getApp", hexU(1)); err != nil || app == nil || app.Name != "echo" {
		t.Fatalf("emc_getApp %+v %v", app, err)
	}
	// at block 2, before the apps existed
	if err := client.CallContext(ctx, &page, "emc_apps", hexU(0), hexU(0), "0x2"); err != nil || page.Total != 0 {
		t.Fatalf("apps at block 2 %+v %v", page, err)
	}
}

// TestEmcAppsConcurrent: many callers read apps and instances at once
// (each request opens its own StateDB); run under -race.
func TestEmcAppsConcurrent(t *testing.T) {
	srv, b := newTestServer(t)
	appsSetup(b)
	client := rpc.DialInProc(srv.rpc)
	t.Cleanup(client.Close)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				var page AppsPage
				if err := client.CallContext(t.Context(), &page, "emc_apps", hexU(0), hexU(0)); err != nil || page.Total != 2 || len(page.Apps) != 2 {
					errs <- fmt.Errorf("emc_apps: %+v %v", page, err)
					return
				}
				var ins InstancesPage
				if err := client.CallContext(t.Context(), &ins, "emc_instances", hexU(0), hexU(0)); err != nil || ins.Total != 2 || len(ins.Instances) != 2 {
					errs <- fmt.Errorf("emc_instances: %+v %v", ins, err)
					return
				}
				var in *Instance
				id := uint64(1 + (g+i)%2)
				if err := client.CallContext(t.Context(), &in, "emc_getInstance", hexU(id)); err != nil || in == nil || uint64(in.ID) != id {
					errs <- fmt.Errorf("emc_getInstance %d: %+v %v", id, in, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func hexU(v uint64) string { return fmt.Sprintf("0x%x", v) }

func TestEmcInstances(t *testing.T) {
	srv, b := newTestServer(t)
	client := rpc.DialInProc(srv.rpc)
	t.Cleanup(client.Close)
	ctx := t.Context()
	var page InstancesPage
	if err := client.CallContext(ctx, &page, "emc_instances", hexU(0), hexU(0)); err != nil || page.Total != 0 || len(page.Instances) != 0 || page.NextOffset != 0 {
		t.Fatalf("instances on a chain without any: %+v %v", page, err)
	}
	appsSetup(b)
	if err := client.CallContext(ctx, &page, "emc_instances", hexU(0), hexU(0)); err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || page.NextOffset != 2 || len(page.Instances) != 2 || page.Instances[0].ID != 1 || page.Instances[1].App != 2 ||
		page.Instances[0].Owner != otherAddr || page.Instances[0].State != "deployed" {
		t.Fatalf("emc_instances %+v", page)
	}
	if err := client.CallContext(ctx, &page, "emc_instances", hexU(1), hexU(1)); err != nil || len(page.Instances) != 1 || page.Instances[0].ID != 2 || page.NextOffset != 2 {
		t.Fatalf("second page %+v %v", page, err)
	}
	if err := client.CallContext(ctx, &page, "emc_instances", hexU(7), hexU(1)); err != nil || len(page.Instances) != 0 || page.NextOffset != 2 {
		t.Fatalf("past the end %+v %v", page, err)
	}
	if err := client.CallContext(ctx, &page, "emc_instances", hexU(0), hexU(MaxAppsPage+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("limit above the page: %v", err)
	}
}
