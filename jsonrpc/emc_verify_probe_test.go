package jsonrpc

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/state/native"
)

// TestVerifyFaultsRouterProbes: emc_verifyFaults reports an account's
// router probe counters (the verify module's word at slot 10, as
// computing/verify documents it: u64 failReports ‖ u64 failedEpochs), and
// zeros for an account never probed.
func TestVerifyFaultsRouterProbes(t *testing.T) {
	srv, b := newTestServer(t)
	missSetup(b)
	router := common.HexToAddress("0x0de0000000000000000000000000000000000ace")
	b.mineState(func(st *ethstate.StateDB) {
		var w common.Hash
		binary.BigEndian.PutUint64(w[0:], 3)
		binary.BigEndian.PutUint64(w[8:], 1)
		st.SetState(native.VerifyAddress, native.MapSlot(native.Slot(10), native.AddressKey(router)), w)
	})
	client := rpc.DialInProc(srv.rpc)
	defer client.Close()
	var vf VerifyFaults
	if err := client.CallContext(context.Background(), &vf, "emc_verifyFaults", router); err != nil {
		t.Fatal(err)
	}
	if vf.ProbeFailReports != 3 || vf.ProbeFailedEpochs != 1 {
		t.Fatalf("emc_verifyFaults %+v", vf)
	}
	st, err := b.StateAt(b.CurrentBlock().Header())
	if err != nil {
		t.Fatal(err)
	}
	if got := verify.RouterProbesOf(st, router); got != (verify.RouterProbes{FailReports: 3, FailedEpochs: 1}) {
		t.Fatalf("RouterProbesOf %+v", got)
	}
	// Many callers at once read the same counters (run under -race).
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				var got VerifyFaults
				if err := client.CallContext(context.Background(), &got, "emc_verifyFaults", router); err != nil {
					errs <- err
				} else if got.ProbeFailReports != 3 || got.ProbeFailedEpochs != 1 {
					errs <- fmt.Errorf("concurrent emc_verifyFaults %+v", got)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var raw string
	var msg map[string]any
	if err := client.CallContext(context.Background(), &msg, "emc_verifyFaults", devAddr); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"probeFailReports", "probeFailedEpochs"} {
		if v, ok := msg[k].(string); !ok || v != "0x0" {
			raw += k + " "
		}
	}
	if strings.TrimSpace(raw) != "" {
		t.Fatalf("unprobed account: %v", msg)
	}
}
