package node

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// reapFixture: the real staking, registry and apps modules on a state
// driven by hand (epochs of 10 blocks, 2 s blocks, apps livenessBlocks
// 50): routers r1 and r2 staked and registered, nodes n1 and n2
// registered with image A, an app published, blocks run by next.
type reapFixture struct {
	t                   *testing.T
	ch                  *nativetest.Chain
	reg                 *native.Registry
	mod                 *apps.Module
	appsABI, regABI     abi.ABI
	user, dev           common.Address
	r1, r2, n1, n2      common.Address
	image               common.Hash
	clock               time.Time
	reapers             map[common.Address]*hubReaper
	sent                map[common.Address][]*fakeTx
	failNext            bool
	settlers            map[common.Address]*fakeSettler
	epochLength, period uint64
}

// fakeTx is a reap a reaper sent: applied on the state when mined.
type fakeTx struct {
	from common.Address
	data []byte
	done chan struct{}
	rc   *types.Receipt
}

func (x *fakeTx) Done() <-chan struct{} { return x.done }
func (x *fakeTx) Wait(context.Context) (*types.Receipt, error) {
	<-x.done
	return x.rc, nil
}

// fakeSettler is a router's settler as the reaper sees it: pending
// settlements of the newest receipt until settled is set.
type fakeSettler struct {
	pending   map[uint64]bool
	calls     int
	forgotten map[uint64]int
}

func (s *fakeSettler) settleFirst(_ context.Context, in *apps.Instance, _ uint64) (bool, bool, error) {
	s.calls++
	if s.pending[in.ID] {
		return true, true, nil
	}
	return false, false, nil
}

func (s *fakeSettler) forget(id uint64) { s.forgotten[id]++ }

func newReapFixture(t *testing.T) *reapFixture {
	t.Helper()
	const epoch = 10
	stRaw := json.RawMessage(`{"minRouterStakeWei":"100000000000000000000"}`)
	sp, err := staking.ParseParams(stRaw, epoch)
	if err != nil {
		t.Fatal(err)
	}
	st := registry.Staking{EpochLength: epoch, MinRouterStakeWei: sp.MinStakeWei[staking.RoleRouter]}
	reg, err := native.Load(map[string]json.RawMessage{staking.Name: stRaw, registry.Name: json.RawMessage(`{"allowSimulatedGPUs":true}`),
		apps.Name: json.RawMessage(`{"placeBlocks":10,"readyBlocks":5,"settleBlocks":4,"livenessBlocks":50}`)},
		map[string]native.Factory{staking.Name: staking.Factory(epoch), registry.Name: registry.Factory(st), apps.Name: apps.Factory(st, 2000)})
	if err != nil {
		t.Fatal(err)
	}
	f := &reapFixture{t: t, reg: reg, image: common.Hash{0xaa}, clock: time.Unix(1_000_000, 0), epochLength: epoch, period: 2,
		reapers: map[common.Address]*hubReaper{}, sent: map[common.Address][]*fakeTx{}, settlers: map[common.Address]*fakeSettler{}}
	m, _ := reg.Lookup(native.AppsAddress)
	f.mod = m.(*apps.Module)
	f.appsABI = moduleABI(t, Modules{reg}, native.AppsAddress)
	f.regABI = moduleABI(t, Modules{reg}, native.RegistryAddress)
	stkABI := moduleABI(t, Modules{reg}, native.StakingAddress)
	keys := map[string]common.Address{}
	alloc := types.GenesisAlloc{}
	for _, name := range []string{"user", "dev", "r1", "r2", "n1", "n2"} {
		a := crypto.PubkeyToAddress(crypto.ToECDSAUnsafe(crypto.Keccak256([]byte("reap " + name))).PublicKey)
		keys[name] = a
		alloc[a] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1e18), big.NewInt(1000))}
	}
	f.user, f.dev, f.r1, f.r2, f.n1, f.n2 = keys["user"], keys["dev"], keys["r1"], keys["r2"], keys["n1"], keys["n2"]
	f.ch = nativetest.New(t, reg, alloc)
	stake := new(uint256.Int).Mul(uint256.NewInt(100), uint256.NewInt(1e18))
	for _, r := range []common.Address{f.r1, f.r2} {
		f.must(r, native.StakingAddress, stkABI, stake, "stake", uint8(staking.RoleRouter), uint8(0))
	}
	f.ch.Number = 2 * epoch
	cid := uint256.MustFromBig(f.ch.Config.ChainID)
	for _, r := range []common.Address{f.r1, f.r2} {
		id, sig, err := registry.SignPeerProof(newPeerKey(t), cid, r)
		if err != nil {
			t.Fatal(err)
		}
		f.must(r, native.RegistryAddress, f.regABI, nil, "registerRouter", id, sig)
	}
	model := "NVIDIA H200"
	for _, n := range []common.Address{f.n1, f.n2} {
		id, sig, err := registry.SignPeerProof(newPeerKey(t), cid, n)
		if err != nil {
			t.Fatal(err)
		}
		f.must(n, native.RegistryAddress, f.regABI, nil, "registerNode", id, sig, [32]byte(crypto.Keccak256Hash([]byte(model))), uint32(1), model,
			uint64(143_771), true, []string{model}, []*big.Int{big.NewInt(1e9)}, big.NewInt(0), [][32]byte{f.image})
	}
	f.must(f.dev, native.AppsAddress, f.appsABI, nil, "publishApp", [32]byte(f.image), uint16(80), "/h", "app", "", "", big.NewInt(1e9), new(big.Int), uint16(0))
	f.next()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, r := range []common.Address{f.r1, f.r2} {
		r := r
		rp := newReaper(f.mod, f.appsABI, r, func(_ context.Context, data []byte) (txWait, error) {
			x := &fakeTx{from: r, data: data, done: make(chan struct{})}
			f.sent[r] = append(f.sent[r], x)
			return x, nil
		}, log)
		rp.now = func() time.Time { return f.clock }
		f.reapers[r] = rp
		f.settlers[r] = &fakeSettler{pending: map[uint64]bool{}, forgotten: map[uint64]int{}}
	}
	return f
}

func (f *reapFixture) apply(from, to common.Address, a abi.ABI, value *uint256.Int, method string, args ...any) error {
	f.t.Helper()
	msg := f.ch.Msg(from, &to, value, pack(f.t, a, method, args...))
	msg.GasLimit = 8_000_000
	res, _ := f.ch.Apply(msg)
	if res.Err != nil {
		reason, _ := abi.UnpackRevert(res.ReturnData)
		return &revertErr{method, reason}
	}
	return nil
}

type revertErr struct{ method, reason string }

func (e *revertErr) Error() string { return e.method + ": " + e.reason }

func (f *reapFixture) must(from, to common.Address, a abi.ABI, value *uint256.Int, method string, args ...any) {
	f.t.Helper()
	if err := f.apply(from, to, a, value, method, args...); err != nil {
		f.t.Fatal(err)
	}
}

func (f *reapFixture) next() {
	f.t.Helper()
	env := func() *native.BlockEnv {
		return &native.BlockEnv{Number: f.ch.Number, Time: f.ch.Time, Coinbase: f.ch.Coinbase, BaseFee: big.NewInt(nativetest.BaseFeeWei),
			EpochLength: f.epochLength, ParentHash: crypto.Keccak256Hash(new(big.Int).SetUint64(f.ch.Number).Bytes())}
	}
	if err := f.reg.EndBlock(f.ch.State, env()); err != nil {
		f.t.Fatal(err)
	}
	f.ch.State.Finalise(f.ch.Rules())
	f.ch.Number++
	f.ch.Time += f.period
	if err := f.reg.BeginBlock(f.ch.State, env()); err != nil {
		f.t.Fatal(err)
	}
	f.ch.State.Finalise(f.ch.Rules())
}

// step runs router r's reaper on the head state.
func (f *reapFixture) step(r common.Address) {
	f.t.Helper()
	if err := f.reapers[r].step(context.Background(), f.ch.State, f.ch.Number, f.settlers[r]); err != nil {
		f.t.Fatal(err)
	}
}

// mine applies r's sent reaps not mined yet in the next block (ok false:
// they fail without reaching the chain) and resolves them.
func (f *reapFixture) mine(r common.Address, ok bool) {
	f.t.Helper()
	f.next()
	for _, x := range f.sent[r] {
		if x.rc != nil {
			continue
		}
		x.rc = &types.Receipt{Status: types.ReceiptStatusFailed}
		if ok {
			msg := f.ch.Msg(x.from, &native.AppsAddress, nil, x.data)
			msg.GasLimit = 8_000_000
			if res, _ := f.ch.Apply(msg); res.Err == nil {
				x.rc.Status = types.ReceiptStatusSuccessful
			}
		}
		close(x.done)
	}
}

func (f *reapFixture) inst(id uint64) apps.Instance {
	in, ok, err := apps.InstanceOf(f.ch.State, id)
	if err != nil || !ok {
		f.t.Fatalf("instance %d: %v %v", id, ok, err)
	}
	return in
}

// running deploys an instance (restart as asked) placed by router on node.
func (f *reapFixture) running(router, node common.Address, restart bool) uint64 {
	f.t.Helper()
	f.must(f.user, native.AppsAddress, f.appsABI, uint256.NewInt(1e18), "deploy", big.NewInt(1), uint32(1), uint64(1), [32]byte{1})
	id := apps.InstanceCount(f.ch.State)
	if restart {
		f.must(f.user, native.AppsAddress, f.appsABI, nil, "setRestart", new(big.Int).SetUint64(id), true)
	}
	f.must(node, native.RegistryAddress, f.regABI, nil, "ping")
	f.must(router, native.AppsAddress, f.appsABI, nil, "place", new(big.Int).SetUint64(id), node)
	f.must(node, native.AppsAddress, f.appsABI, nil, "ready", new(big.Int).SetUint64(id))
	return id
}

// TestHubReaper: the placing router reaps a dead node's running instance
// (deregistered or unseen for livenessBlocks, exactly the module's rule)
// after its settler settled the newest receipt, once per instance, again
// after a failure only when the backoff has passed; another router reaps
// it only after the grace; a live node's instance is never reaped; a
// restart-enabled instance goes back to the routers and the old
// placement's ledger is forgotten.
func TestHubReaper(t *testing.T) {
	f := newReapFixture(t)
	a := f.running(f.r1, f.n1, true)  // placed by r1: r1 reaps it
	b := f.running(f.r1, f.n2, false) // on n2, which stays live
	for range 10 {
		f.next()
		f.step(f.r1)
		f.step(f.r2)
	}
	if len(f.sent[f.r1])+len(f.sent[f.r2]) != 0 || f.settlers[f.r1].calls != 0 {
		t.Fatalf("reaps sent while every node is live: r1 %d, r2 %d", len(f.sent[f.r1]), len(f.sent[f.r2]))
	}
	// n1 goes silent; n2 keeps pinging.
	f.settlers[f.r1].pending[a] = true
	seen := registry.LastSeen(f.ch.State, ptr(registry.NodeOf(f.ch.State, f.n1)))
	for f.ch.Number < seen+49 {
		f.next()
		if f.ch.Number%10 == 0 {
			f.must(f.n2, native.RegistryAddress, f.regABI, nil, "ping")
		}
		f.step(f.r1)
	}
	if len(f.sent[f.r1]) != 0 || f.settlers[f.r1].calls != 0 {
		t.Fatalf("reap sent at block %d, before the module would take it", f.ch.Number)
	}
	if err := f.mod.Reapable(f.ch.State, ptrInst(f.inst(a)), f.ch.Number+1); err == nil {
		t.Fatal("reapable a block early")
	}
	f.next()
	if err := f.mod.Reapable(f.ch.State, ptrInst(f.inst(a)), f.ch.Number+1); err != nil {
		t.Fatalf("not reapable at the next block: %v", err)
	}
	// r1 settles first: no reap while the settlement is pending.
	f.step(f.r1)
	f.step(f.r1)
	if len(f.sent[f.r1]) != 0 || f.settlers[f.r1].calls != 2 {
		t.Fatalf("reap sent before the settlement (%d settle calls)", f.settlers[f.r1].calls)
	}
	f.settlers[f.r1].pending[a] = false
	f.step(f.r1)
	f.step(f.r1) // in flight: not sent twice
	if len(f.sent[f.r1]) != 1 {
		t.Fatalf("%d reaps sent, want 1", len(f.sent[f.r1]))
	}
	// The transaction fails: retried only after the backoff.
	f.mine(f.r1, false)
	f.step(f.r1)
	f.clock = f.clock.Add(hubReapBackoff - time.Second)
	f.step(f.r1)
	if len(f.sent[f.r1]) != 1 {
		t.Fatalf("a failed reap resent within the backoff: %d sent", len(f.sent[f.r1]))
	}
	f.clock = f.clock.Add(2 * time.Second)
	f.step(f.r1)
	if len(f.sent[f.r1]) != 2 {
		t.Fatalf("the failed reap not resent after the backoff: %d sent", len(f.sent[f.r1]))
	}
	f.mine(f.r1, true)
	in := f.inst(a)
	if in.State != apps.StateDeployed || in.Restarts != 1 {
		t.Fatalf("reaped with restart on: %+v", in)
	}
	f.step(f.r1)
	if f.settlers[f.r1].forgotten[a] == 0 {
		t.Fatal("the old placement's ledger kept after the restart")
	}
	if in := f.inst(b); in.State != apps.StateRunning || len(f.sent[f.r1]) != 2 {
		t.Fatalf("the live node's instance: %+v, %d reaps", in, len(f.sent[f.r1]))
	}

	// Fallback: r1 is gone; r2 reaps instance c (on n1, dead) only after
	// it has seen it reapable for hubReapGrace blocks.
	f.must(f.n1, native.RegistryAddress, f.regABI, nil, "ping")
	c := f.running(f.r1, f.n1, false)
	var first uint64
	for first == 0 {
		f.next()
		if f.ch.Number%10 == 0 {
			f.must(f.n2, native.RegistryAddress, f.regABI, nil, "ping")
		}
		f.step(f.r2)
		first = f.reapers[f.r2].deadSince[c]
	}
	if err := f.mod.Reapable(f.ch.State, ptrInst(f.inst(c)), f.ch.Number+1); err != nil || first != f.ch.Number {
		t.Fatalf("r2 saw c reapable at %d (head %d): %v", first, f.ch.Number, err)
	}
	for f.ch.Number < first+hubReapGrace-1 {
		f.next()
		f.step(f.r2)
		if len(f.sent[f.r2]) != 0 {
			t.Fatalf("r2 reaped at block %d, grace ends at %d", f.ch.Number, first+hubReapGrace)
		}
	}
	f.next()
	f.step(f.r2)
	if len(f.sent[f.r2]) != 1 || f.settlers[f.r2].calls != 0 {
		t.Fatalf("r2 after the grace: %d reaps, %d settle calls (it holds no receipts)", len(f.sent[f.r2]), f.settlers[f.r2].calls)
	}
	f.mine(f.r2, true)
	if in := f.inst(c); in.State != apps.StateEnding || in.EndReason != apps.EndNodeDead {
		t.Fatalf("c after the fallback reap: %+v", in)
	}

	// A deregistered node: its instances (b and d) are reapable at once.
	d := f.running(f.r1, f.n2, false)
	f.must(f.n2, native.RegistryAddress, f.regABI, nil, "deregisterNode")
	f.next()
	f.step(f.r1)
	f.mine(f.r1, true)
	for _, id := range []uint64{b, d} {
		if in := f.inst(id); in.State != apps.StateEnding || in.EndReason != apps.EndNodeDead || len(f.sent[f.r1]) != 4 {
			t.Fatalf("deregistered node's instance %d: %+v after %d reaps", id, in, len(f.sent[f.r1]))
		}
	}

	// A settlement that keeps failing holds the reap back only
	// hubReapSettleTries times.
	e := f.running(f.r1, f.n1, false)
	f.settlers[f.r1].pending[e] = true
	for range 51 {
		f.next()
	}
	calls := f.settlers[f.r1].calls
	for range hubReapSettleTries {
		f.step(f.r1)
	}
	if len(f.sent[f.r1]) != 4 || f.settlers[f.r1].calls != calls+hubReapSettleTries {
		t.Fatalf("reaped while settling: %d reaps, %d settle calls", len(f.sent[f.r1]), f.settlers[f.r1].calls-calls)
	}
	f.step(f.r1)
	f.mine(f.r1, true)
	if in := f.inst(e); in.State != apps.StateEnding || len(f.sent[f.r1]) != 5 {
		t.Fatalf("after %d failed settlements: %+v, %d reaps", hubReapSettleTries, in, len(f.sent[f.r1]))
	}
}

func ptr(n registry.Node, _ bool, _ error) *registry.Node { return &n }
func ptrInst(in apps.Instance) *apps.Instance             { return &in }
