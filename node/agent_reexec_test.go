package node

// Re-execution through the compute agent, on an in-memory chain with the
// real modules and the real process executor: two registered compute
// nodes, each running its own agent (own data dir, results store and ONE
// SIMULATED GPU). The router's live table (a FAKE) shows only node A, so A
// runs every job; the jobs module samples every deterministic result
// (sampleBps 10,000) and draws B, the only other node, to re-execute it.
// Node A may run with the test-only fault injection (agent.FaultWrongOutput)
// to cheat. Balances are checked to the wei, and the supply is exact (every
// account's balance plus what was burned equals the genesis supply).

import (
	"context"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/executor"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/results"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/router/assign"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/router/scheduler"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// reexecProgram is deterministic: its output depends on its arguments
// only (not on the run id), so two honest runs agree.
const reexecProgram = `#!/bin/sh
echo "sum of $1 and $2 is $(($1 + $2))" > "$EMC_OUTPUT_DIR/out.txt"
`

// txGas signs a call from a with gas limit gas (0: 3,000,000).
func (f *assignFixture) txGas(a *chainActor, to common.Address, value *big.Int, data []byte, gas uint64) func() *types.Transaction {
	if gas == 0 {
		return f.tx(a, to, value, data)
	}
	return func() *types.Transaction {
		if value == nil {
			value = new(big.Int)
		}
		tx, err := types.SignNewTx(a.key, types.LatestSigner(f.chain.Config()), &types.DynamicFeeTx{
			ChainID: f.chain.Config().ChainID, Nonce: a.nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9),
			Gas: gas, To: &to, Value: value, Data: data,
		})
		if err != nil {
			f.t.Fatal(err)
		}
		a.nonce++
		return tx
	}
}

type reexecFixture struct {
	*agentFixture
	b       *chainActor
	g       *genesis.Genesis
	tracked map[common.Address]bool
	stake   *big.Int
}

// newReexecFixture: genesis with every deterministic result sampled and
// the tiny-network tie break on (disputeTieBreak: a disputed tie of the
// two nodes fails the provider), a router, node A (f.node: compute stake,
// registered, in the live table) and node B (registered only), both
// holding the deterministic program.
func newReexecFixture(t *testing.T) *reexecFixture {
	g := genesis.Dev()
	g.EpochLength = 4
	g.Params = map[string]json.RawMessage{jobs.Name: json.RawMessage(`{"sampleBps":10000,"newNodeSampleBps":10000,"disputeTieBreak":true}`)}
	af := &assignFixture{t: t, sealer: genesis.DevSignerKey()}
	f := &reexecFixture{g: g, tracked: map[common.Address]bool{}}
	for _, a := range []**chainActor{&af.router, &af.node, &af.sub, &f.b} {
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		*a = &chainActor{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
		g.Alloc[(*a).addr] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))}
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	af.chain, af.mods = chain, mods
	f.agentFixture = &agentFixture{assignFixture: af, dir: t.TempDir(), gasOf: map[common.Address]*big.Int{},
		mined: map[string]int{}, logs: &logBuf{}}
	for a := range g.Alloc {
		f.tracked[a] = true
	}
	for a := range mods.GenesisAlloc() {
		f.tracked[a] = true
	}
	f.tracked[crypto.PubkeyToAddress(af.sealer.PublicKey)] = true
	f.tracked[*g.Reserve] = true

	src := filepath.Join(f.dir, "job.sh")
	if err := os.WriteFile(src, []byte(reexecProgram), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		image, err := agent.NewPrograms(filepath.Join(f.dir, n, "programs")).Load(src)
		if err != nil {
			t.Fatal(err)
		}
		f.image = image
	}
	// Node A stakes for the compute role, so a slash takes something.
	f.stake = new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))
	stkABI := moduleABI(t, mods, native.StakingAddress)
	f.mustMine(f.tx(f.node, native.StakingAddress, f.stake, pack(t, stkABI, "stake", uint8(staking.RoleCompute), uint8(0))))
	f.registerRouter()
	_, nid := f.registerNode(1, f.image)
	f.registerNodeOf(f.b, f.image)

	pid, err := peer.IDFromBytes(nid)
	if err != nil {
		t.Fatal(err)
	}
	live := fakeLiveTable{{
		Peer:   p2p.PeerID(pid.String()),
		Latest: heartbeat.Heartbeat{Peer: nid, Owner: f.node.addr, FreeGPUs: 1, GPUUtil: []uint32{0}},
	}}
	jm := f.mods.jobs()
	f.assigner, err = assign.New(assign.Config{
		Router: f.router.addr,
		View: func(head *types.Header) (assign.View, error) {
			st, err := f.chain.StateAt(head.Root)
			if err != nil {
				return nil, err
			}
			return &assign.StateView{S: st, Jobs: jm, Number: head.Number.Uint64(), EpochLength: f.mods.epochLength()}, nil
		},
		Send: func(ctx context.Context, req wallet.Request) (assign.Pending, error) {
			return f.sender(f.router)(ctx, req)
		},
		Live:   live,
		NowMs:  func() int64 { return 0 },
		Params: scheduler.DefaultParams(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// registerNodeOf registers a as a compute node with one H100 holding image.
func (f *reexecFixture) registerNodeOf(a *chainActor, image common.Hash) {
	t := f.t
	regABI := moduleABI(t, f.mods, native.RegistryAddress)
	nid, nsig, err := registry.SignPeerProof(newPeerKey(t), uint256.MustFromBig(f.chain.Config().ChainID), a.addr)
	if err != nil {
		t.Fatal(err)
	}
	f.mustMine(f.tx(a, native.RegistryAddress, nil, pack(t, regABI, "registerNode", nid, nsig,
		crypto.Keccak256Hash([]byte("inventory")), uint32(1), "NVIDIA H100", uint64(81_559), false,
		[]string{"NVIDIA H100"}, []*big.Int{big.NewInt(1e9)}, big.NewInt(0), [][32]byte{image})))
}

// agentOf builds actor a's agent over data dir DIR/name, with fault.
func (f *reexecFixture) agentOf(a *chainActor, name, fault string) *agent.Service {
	t := f.t
	t.Helper()
	dir := filepath.Join(f.dir, name)
	inv, err := gpu.NewSimulated(gpu.SimulatedH100s(1)).Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	store, err := results.Open(filepath.Join(dir, "store"), results.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	programs := agent.NewPrograms(filepath.Join(dir, "programs"))
	ex := executor.NewProcess(executor.Config{ScratchDir: filepath.Join(dir, "jobs"), Store: store, GPUs: gpu.NewAllocator(inv),
		OutputPollInterval: 20 * time.Millisecond, Logger: newTestLogger(f.logs)})
	jobsABI := moduleABI(t, f.mods, native.JobsAddress)
	svc, err := agent.New(agent.Config{
		Owner: a.addr, ChainID: f.chain.Config().ChainID.Uint64(), GPUs: 1,
		View: func(head *types.Header) (agent.View, error) {
			st, err := f.chain.StateAt(head.Root)
			if err != nil {
				return nil, err
			}
			return stateJobs{st}, nil
		},
		Spec: func(_ context.Context, j *jobs.Job) (jobs.Spec, error) {
			h := f.chain.HeaderByNumber(j.SubmitBlock)
			var logs []*types.Log
			for _, rc := range f.chain.Receipts(h.Hash()) {
				logs = append(logs, rc.Logs...)
			}
			return agent.SpecFromLogs(&jobsABI, logs, j.ID, j.SpecHash)
		},
		Send:     f.sender(a),
		Run:      ex.Run,
		Executor: agent.ExecutorProcess,
		Programs: programs,
		Images:   programImages{programs},
		Store:    store,
		Blobs:    store,
		Journal:  agent.NewJournal(filepath.Join(dir, "agent", "journal.json")),
		Reap:     func(_ context.Context, runID string) (int, error) { return agent.KillProcesses("/proc", runID) },
		Log:      newTestLogger(f.logs).With("node", name),
		Fault:    fault,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.Recover(context.Background())
	t.Cleanup(svc.Close)
	return svc
}

// submitDeterministic posts the deterministic program with args x and y
// and returns the escrow (twice the most the run can cost: the
// re-executor's fee comes from the rest).
func (f *reexecFixture) submitDeterministic(x, y string) *big.Int {
	f.t.Helper()
	spec := jobs.Spec{Image: f.image, Args: []string{x, y}, GPUs: 1, GPUModel: "NVIDIA H100", TimeoutSeconds: 60,
		OutputCapBytes: 1 << 20, Deterministic: true}
	enc, err := spec.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	escrow := new(big.Int).Mul(big.NewInt(2e9), big.NewInt(120))
	rc := f.mine(f.tx(f.sub, native.JobsAddress, escrow, pack(f.t, moduleABI(f.t, f.mods, native.JobsAddress), "submitJob", enc, big.NewInt(2e9))))
	if rc[0].Status != types.ReceiptStatusSuccessful {
		f.t.Fatal("submitJob reverted")
	}
	f.addGas(f.sub.addr, rc[0])
	return escrow
}

func (f *reexecFixture) addGas(a common.Address, rc *types.Receipt) {
	if f.gasOf[a] == nil {
		f.gasOf[a] = new(big.Int)
	}
	f.gasOf[a].Add(f.gasOf[a], new(big.Int).Mul(new(big.Int).SetUint64(rc.GasUsed), rc.EffectiveGasPrice))
}

// stepAll runs the assigner and both agents on the head, lets their runs
// finish, and mines the next block.
func (f *reexecFixture) stepAll(ctx context.Context, svcs ...*agent.Service) {
	f.t.Helper()
	head := f.chain.Head()
	f.assigner.Step(ctx, head)
	for _, svc := range svcs {
		svc.Step(ctx, head)
	}
	for _, svc := range svcs {
		for svc.Running() > 0 {
			select {
			case o := <-svc.Outcomes():
				svc.RunDone(ctx, o)
			case <-time.After(60 * time.Second):
				f.t.Fatalf("run did not finish; log:\n%s", f.logs)
			}
		}
	}
	f.mineQueue(nil)
}

// checkSupply: every account's balance plus what was burned is the
// genesis supply, to the wei.
func (f *reexecFixture) checkSupply() {
	f.t.Helper()
	st := f.headState()
	sum := new(big.Int)
	for a := range f.tracked {
		sum.Add(sum, st.GetBalance(a).ToBig())
	}
	burned := native.BurnedTotal(st).ToBig()
	if got := new(big.Int).Add(sum, burned); got.Cmp(f.g.TotalSupply()) != 0 {
		f.t.Fatalf("Σ balances %s + burned %s = %s, supply %s", sum, burned, got, f.g.TotalSupply())
	}
	if !jobs.EscrowTotal(st).IsZero() || st.GetBalance(native.JobsAddress).Sign() != 0 {
		f.t.Fatalf("jobs module holds %s (escrow total %s)", st.GetBalance(native.JobsAddress), jobs.EscrowTotal(st))
	}
}

func (f *reexecFixture) until(what string, limit uint64, done func() bool, svcs ...*agent.Service) {
	f.t.Helper()
	for !done() {
		if f.chain.Head().Number.Uint64() > limit {
			f.t.Fatalf("%s not reached by block %d: job 1 %s verify %d; mined %v; log:\n%s", what, limit, f.job(1).State,
				f.job(1).Verify, f.mined, f.logs)
		}
		f.stepAll(context.Background(), svcs...)
	}
}

// TestAgentReexecPasses: A's deterministic result is sampled, B
// re-executes it and agrees; the job settles, A is paid its cost's share,
// B its fee from the escrow's rest, and the supply is exact.
func TestAgentReexecPasses(t *testing.T) {
	f := newReexecFixture(t)
	a, b := f.agentOf(f.node, "a", ""), f.agentOf(f.b, "b", "")
	aBefore, bBefore, subBefore := f.balance(f.node.addr), f.balance(f.b.addr), f.balance(f.sub.addr)
	escrow := f.submitDeterministic("2", "3")
	f.until("settlement", 120, func() bool { return f.job(1).State == jobs.StateSettled }, a, b)
	j := f.job(1)
	if j.Verify != jobs.VerifyPassed || j.ExitCode() != 0 || j.OutputDigest == (common.Hash{}) {
		t.Fatalf("job %s verify %d exit %d digest %x", j.State, j.Verify, j.ExitCode(), j.OutputDigest)
	}
	if f.mined["submitResultDigest"] != 1 || f.mined["submitReexec"] != 1 || f.mined["submitResult"] != 0 {
		t.Fatalf("mined %v, want one submitResultDigest and one submitReexec", f.mined)
	}
	rx, ok, err := jobs.ReexecOf(f.headState(), 1)
	if err != nil || !ok || len(rx.Executors) != 1 || rx.Executors[0] != f.b.addr || rx.Digests[0] != j.OutputDigest {
		t.Fatalf("re-execution %+v %v %v", rx, ok, err)
	}
	cost := jobs.Cost(j.GPUMillis, j.PriceWei, j.EscrowWei)
	provider, _ := jobs.Split(cost)
	if j.FeesWei == nil || j.FeesWei.IsZero() || !j.CostWei.Eq(cost) {
		t.Fatalf("cost %s (want %s) fees %v", j.CostWei, cost, j.FeesWei)
	}
	if got, want := f.balance(f.node.addr), new(big.Int).Sub(new(big.Int).Add(aBefore, provider.ToBig()), f.gasOf[f.node.addr]); got.Cmp(want) != 0 {
		t.Fatalf("node A balance %s, want %s", got, want)
	}
	if got, want := f.balance(f.b.addr), new(big.Int).Sub(new(big.Int).Add(bBefore, j.FeesWei.ToBig()), f.gasOf[f.b.addr]); got.Cmp(want) != 0 {
		t.Fatalf("node B balance %s, want %s (fee %s)", got, want, j.FeesWei)
	}
	wantSub := new(big.Int).Sub(new(big.Int).Add(new(big.Int).Sub(subBefore, escrow), j.RefundWei.ToBig()), f.gasOf[f.sub.addr])
	if got := f.balance(f.sub.addr); got.Cmp(wantSub) != 0 {
		t.Fatalf("submitter balance %s, want %s", got, wantSub)
	}
	f.checkSupply()
	if fb := jobs.FaultsOf(f.headState(), f.b.addr); fb.Reexecs != 1 || fb.Passed != 1 || fb.TimedOut != 0 {
		t.Fatalf("B faults %+v", fb)
	}
	if c := b.Core().Counts(); c.Reexecuted != 1 || c.ReexecAbandoned != 0 || len(b.Core().Entries()) != 0 {
		t.Fatalf("B counts %+v, entries %+v", c, b.Core().Entries())
	}
	if c := a.Core().Counts(); c.Completed != 1 || len(a.Core().Entries()) != 0 {
		t.Fatalf("A counts %+v, entries %+v", c, a.Core().Entries())
	}
}

// TestAgentReexecCatchesLiar: A runs with the fault injection and reports
// a wrong output digest; B's re-execution contradicts it, no third node
// exists (a tie), the submitter, who knows the right output, disputes, and
// the decision goes against A: it is slashed ComputeSlashBps of its
// compute stake and jailed, the submitter gets its escrow and bond back,
// B is paid, and the supply is exact.
func TestAgentReexecCatchesLiar(t *testing.T) {
	f := newReexecFixture(t)
	a, b := f.agentOf(f.node, "a", agent.FaultWrongOutput), f.agentOf(f.b, "b", "")
	stakeBefore := staking.PositionOf(f.headState(), f.node.addr).AmountWei.ToBig()
	aBefore, bBefore, subBefore := f.balance(f.node.addr), f.balance(f.b.addr), f.balance(f.sub.addr)
	escrow := f.submitDeterministic("2", "3")
	f.until("the tie", 120, func() bool { return f.job(1).Verify == jobs.VerifyInconclusive }, a, b)
	rx, _, _ := jobs.ReexecOf(f.headState(), 1)
	if len(rx.Digests) != 1 || rx.Digests[0] == f.job(1).OutputDigest || rx.Digests[0] == (common.Hash{}) {
		t.Fatalf("re-execution %+v, provider digest %x", rx, f.job(1).OutputDigest)
	}
	// The submitter disputes (a real one would compare the output it
	// downloads with what it expects: here B's digest is the right one).
	bond := jobs.DefaultDisputeBondWei().ToBig()
	rc := f.mine(f.txGas(f.sub, native.JobsAddress, bond, pack(t, moduleABI(t, f.mods, native.JobsAddress), "dispute", big.NewInt(1)), 8_000_000))
	if rc[0].Status != types.ReceiptStatusSuccessful {
		t.Fatalf("dispute reverted")
	}
	f.addGas(f.sub.addr, rc[0])
	f.until("the refund", 200, func() bool { return f.job(1).State == jobs.StateRefunded }, a, b)
	j := f.job(1)
	st := f.headState()
	fa := jobs.FaultsOf(st, f.node.addr)
	wantSlash := new(big.Int).Div(new(big.Int).Mul(stakeBefore, big.NewInt(int64(jobs.DefaultComputeSlashBps))), big.NewInt(10_000))
	if j.Verify != jobs.VerifyFailed || fa.Slashes != 1 || fa.Jails != 1 || fa.SlashedWei.ToBig().Cmp(wantSlash) != 0 ||
		!jobs.Jailed(st, f.node.addr, f.chain.Head().Number.Uint64()) {
		t.Fatalf("job verify %d, A faults %+v (want slash %s), jailed %v", j.Verify, fa, wantSlash,
			jobs.Jailed(st, f.node.addr, f.chain.Head().Number.Uint64()))
	}
	if got := staking.PositionOf(st, f.node.addr).AmountWei.ToBig(); new(big.Int).Sub(stakeBefore, got).Cmp(wantSlash) != 0 {
		t.Fatalf("A's stake %s, was %s: want %s less", got, stakeBefore, wantSlash)
	}
	// A is paid nothing; the submitter is refunded escrow and bond; B
	// gets its pay from A's slash.
	if got, want := f.balance(f.node.addr), new(big.Int).Sub(aBefore, f.gasOf[f.node.addr]); got.Cmp(want) != 0 {
		t.Fatalf("node A balance %s, want %s", got, want)
	}
	if got, want := f.balance(f.sub.addr), new(big.Int).Sub(subBefore, f.gasOf[f.sub.addr]); got.Cmp(want) != 0 {
		t.Fatalf("submitter balance %s, want %s (escrow %s and bond refunded)", got, want, escrow)
	}
	if got := new(big.Int).Add(new(big.Int).Sub(f.balance(f.b.addr), bBefore), f.gasOf[f.b.addr]); got.Sign() <= 0 {
		t.Fatalf("node B earned %s for its re-executions", got)
	}
	f.checkSupply()
	if c := b.Core().Counts(); c.Reexecuted < 1 || len(b.Core().Entries()) != 0 {
		t.Fatalf("B counts %+v, entries %+v", c, b.Core().Entries())
	}
	if len(a.Core().Entries()) != 0 {
		t.Fatalf("A entries %+v", a.Core().Entries())
	}
}

// TestAgentReexecRestart: B stops after sending its digest, before it is
// mined; the restarted B sends it again from its journal without running
// the job again; the module takes one and refuses the other, and the job
// settles passed.
func TestAgentReexecRestart(t *testing.T) {
	f := newReexecFixture(t)
	ctx := context.Background()
	a, b := f.agentOf(f.node, "a", ""), f.agentOf(f.b, "b", "")
	f.submitDeterministic("4", "5")
	queued := func() bool {
		for _, q := range f.queue {
			if q.req.Label == "submitReexec" {
				return true
			}
		}
		return false
	}
	for !queued() {
		if f.chain.Head().Number.Uint64() > 120 {
			t.Fatalf("no re-execution digest by block 120; log:\n%s", f.logs)
		}
		head := f.chain.Head()
		f.assigner.Step(ctx, head)
		for _, svc := range []*agent.Service{a, b} {
			svc.Step(ctx, head)
			for svc.Running() > 0 {
				o := <-svc.Outcomes()
				svc.RunDone(ctx, o)
			}
		}
		if !queued() {
			f.mineQueue(nil)
		}
	}
	f.mineQueue(func(q queuedTx) bool { return q.req.Label == "submitReexec" }) // held in the "pool"
	b.Close()
	runs := f.logs.count("job finished")
	b = f.agentOf(f.b, "b", "")
	if es := b.Core().Entries(); len(es) != 1 || es[0].Phase != agent.PhaseReexecReporting || es[0].Digest == (common.Hash{}) {
		t.Fatalf("journal after restart: %+v", es)
	}
	b.Step(ctx, f.chain.Head())
	if b.Running() != 0 || len(f.queue) != 2 || f.queue[1].req.Label != "submitReexec" {
		t.Fatalf("after restart: %d running, %d queued", b.Running(), len(f.queue))
	}
	f.mineQueue(nil)
	if f.mined["submitReexec"] != 1 || f.mined["submitReexec/reverted"] != 1 {
		t.Fatalf("mined %v, want one digest taken and one refused", f.mined)
	}
	f.until("settlement", 160, func() bool { return f.job(1).State == jobs.StateSettled }, a, b)
	if got := f.logs.count("job finished"); got != runs {
		t.Fatalf("re-execution run again after restart (%d, then %d)", runs, got)
	}
	if f.job(1).Verify != jobs.VerifyPassed {
		t.Fatalf("verify %d", f.job(1).Verify)
	}
	f.checkSupply()
}
