package node

// The compute agent (computing/agent) over an in-memory chain with the real
// modules and the real process executor: a staked, registered router runs
// the assignment service (router/assign, with a FAKE live table holding
// the node's heartbeat), a registered compute node with one SIMULATED GPU
// runs the agent, and a submitter posts a job whose image digest names a
// shell script stored in the node's program store. The test seals the
// blocks and plays both wallets: every transaction a service sends is
// signed with its key and mined in the next block, and its handle resolves
// with the receipt. Balances are checked to the wei: the provider gets
// 80 % of the cost, 20 % is burned, the submitter is refunded the rest,
// and each side paid exactly its gas.

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/executor"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/results"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/router/assign"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/router/scheduler"
	"github.com/emc-network/emcd/state/native"
)

// The job's program: it waits (at most 60 s) for the file named by its
// first argument, when one is given, then writes an output and exits 0.
const agentTestProgram = `#!/bin/sh
if [ -n "$1" ]; then
  i=0
  while [ ! -e "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
fi
echo "done $EMC_JOB_ID" > "$EMC_OUTPUT_DIR/out.txt"
`

type queuedTx struct {
	from *chainActor
	req  wallet.Request
	p    *minedPending
}

type agentFixture struct {
	*assignFixture
	dir      string
	image    common.Hash
	assigner *assign.Service
	queue    []queuedTx
	// receipts of every transaction each actor sent through a service
	gasOf map[common.Address]*big.Int
	// the requests mined, by label
	mined map[string]int
	logs  *logBuf
	alloc *gpu.Allocator
	store *results.Store
}

func newAgentFixture(t *testing.T) *agentFixture {
	f := &agentFixture{assignFixture: newAssignFixture(t), dir: t.TempDir(), gasOf: map[common.Address]*big.Int{},
		mined: map[string]int{}, logs: &logBuf{}}

	// The program, loaded as `emcd compute images load --executor process` does.
	src := filepath.Join(f.dir, "job.sh")
	if err := os.WriteFile(src, []byte(agentTestProgram), 0o755); err != nil {
		t.Fatal(err)
	}
	image, err := agent.NewPrograms(filepath.Join(f.dir, "compute", "programs")).Load(src)
	if err != nil {
		t.Fatal(err)
	}
	f.image = image

	f.registerRouter()
	_, nid := f.registerNode(1, image)

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
	inv, err := gpu.NewSimulated(gpu.SimulatedH100s(1)).Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.alloc = gpu.NewAllocator(inv)
	if f.store, err = results.Open(filepath.Join(f.dir, "compute", "store"), results.Config{}, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

// sender plays actor's wallet: requests queue up for the next block.
func (f *agentFixture) sender(a *chainActor) func(context.Context, wallet.Request) (agent.Pending, error) {
	return func(_ context.Context, req wallet.Request) (agent.Pending, error) {
		p := &minedPending{done: make(chan struct{})}
		f.queue = append(f.queue, queuedTx{from: a, req: req, p: p})
		return p, nil
	}
}

// newAgent builds the node's agent over the fixture's data dir, as
// node/agent.go does with the process executor.
func (f *agentFixture) newAgent() *agent.Service {
	f.t.Helper()
	dir := filepath.Join(f.dir, "compute")
	programs := agent.NewPrograms(filepath.Join(dir, "programs"))
	ex := executor.NewProcess(executor.Config{ScratchDir: filepath.Join(dir, "jobs"), Store: f.store, GPUs: f.alloc,
		OutputPollInterval: 20 * time.Millisecond, Logger: newTestLogger(f.logs)})
	chainID := f.chain.Config().ChainID.Uint64()
	jobsABI := moduleABI(f.t, f.mods, native.JobsAddress)
	send := f.sender(f.node)
	svc, err := agent.New(agent.Config{
		Owner: f.node.addr, ChainID: chainID, GPUs: uint32(f.alloc.Total()),
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
		Send:     send,
		Run:      ex.Run,
		Executor: agent.ExecutorProcess,
		Programs: programs,
		Images:   programImages{programs},
		Store:    f.store,
		Journal:  agent.NewJournal(filepath.Join(dir, "agent", "journal.json")),
		Reap:     func(_ context.Context, runID string) (int, error) { return agent.KillProcesses("/proc", runID) },
		Log:      newTestLogger(f.logs),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	svc.Recover(context.Background())
	return svc
}

// mineQueue mines the queued requests in one block and resolves their
// handles; keep (when not nil) holds back the requests it says no to.
func (f *agentFixture) mineQueue(keep func(queuedTx) bool) {
	f.t.Helper()
	var calls []func() *types.Transaction
	var sent, held []queuedTx
	for _, q := range f.queue {
		if keep != nil && keep(q) {
			held = append(held, q)
			continue
		}
		value := q.req.Value
		calls = append(calls, f.txGas(q.from, *q.req.To, value, q.req.Data, q.req.Gas))
		sent = append(sent, q)
	}
	f.queue = held
	rcs := f.mine(calls...)
	for i, q := range sent {
		rc := rcs[i]
		g := new(big.Int).Mul(new(big.Int).SetUint64(rc.GasUsed), rc.EffectiveGasPrice)
		if f.gasOf[q.from.addr] == nil {
			f.gasOf[q.from.addr] = new(big.Int)
		}
		f.gasOf[q.from.addr].Add(f.gasOf[q.from.addr], g)
		q.p.rc = rc
		if rc.Status != types.ReceiptStatusSuccessful {
			q.p.err = fmt.Errorf("%w: %s", wallet.ErrReverted, q.req.Label)
			f.mined[q.req.Label+"/reverted"]++
		} else {
			f.mined[q.req.Label]++
		}
		close(q.p.done)
	}
}

// step runs both services on the head, lets a run in progress finish
// (waiting for its outcome), and mines the next block.
func (f *agentFixture) step(ctx context.Context, svc *agent.Service) {
	f.t.Helper()
	f.serve(ctx, svc)
	f.mineQueue(nil)
}

// serve runs both services on the head and lets a run in progress finish.
func (f *agentFixture) serve(ctx context.Context, svc *agent.Service) {
	f.t.Helper()
	head := f.chain.Head()
	f.assigner.Step(ctx, head)
	svc.Step(ctx, head)
	for svc.Running() > 0 {
		select {
		case o := <-svc.Outcomes():
			svc.RunDone(ctx, o)
		case <-time.After(60 * time.Second):
			f.t.Fatalf("run did not finish; log:\n%s", f.logs)
		}
	}
}

func (f *agentFixture) job(id uint64) jobs.Job {
	f.t.Helper()
	st, err := f.chain.StateAt(f.chain.Head().Root)
	if err != nil {
		f.t.Fatal(err)
	}
	j, ok, err := jobs.JobOf(st, id)
	if err != nil || !ok {
		f.t.Fatalf("job %d: %v %v", id, ok, err)
	}
	return j
}

func (f *agentFixture) balance(a common.Address) *big.Int {
	f.t.Helper()
	st, err := f.chain.StateAt(f.chain.Head().Root)
	if err != nil {
		f.t.Fatal(err)
	}
	return st.GetBalance(a).ToBig()
}

// submit posts a job for the fixture's program with args and returns the
// escrow.
func (f *agentFixture) submit(args ...string) *big.Int {
	f.t.Helper()
	spec := jobs.Spec{Image: f.image, Args: args, GPUs: 1, GPUModel: "NVIDIA H100", TimeoutSeconds: 60, OutputCapBytes: 1 << 20}
	enc, err := spec.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	escrow := new(big.Int).Mul(big.NewInt(2e9), big.NewInt(60))
	rc := f.mine(f.tx(f.sub, native.JobsAddress, escrow, pack(f.t, moduleABI(f.t, f.mods, native.JobsAddress), "submitJob", enc, big.NewInt(2e9))))
	if rc[0].Status != types.ReceiptStatusSuccessful {
		f.t.Fatal("submitJob reverted")
	}
	g := new(big.Int).Mul(new(big.Int).SetUint64(rc[0].GasUsed), rc[0].EffectiveGasPrice)
	if f.gasOf[f.sub.addr] == nil {
		f.gasOf[f.sub.addr] = new(big.Int)
	}
	f.gasOf[f.sub.addr].Add(f.gasOf[f.sub.addr], g)
	return escrow
}

// checkSettlement checks job id settled and the node's and submitter's
// balances moved by exactly the split, the refund and their gas.
func (f *agentFixture) checkSettlement(id uint64, nodeBefore, subBefore, burnBefore, escrow *big.Int) {
	f.t.Helper()
	j := f.job(id)
	if j.State != jobs.StateSettled || j.ExitCode() != 0 {
		f.t.Fatalf("job %d %s exit %d, want settled exit 0; log:\n%s", id, j.State, j.ExitCode(), f.logs)
	}
	if j.GPUMillis == 0 || j.GPUMillis > 60*1000 {
		f.t.Fatalf("job %d: %d GPU-ms", id, j.GPUMillis)
	}
	cost := jobs.Cost(j.GPUMillis, j.PriceWei, j.EscrowWei)
	provider, burn := jobs.Split(cost)
	if !j.CostWei.Eq(cost) || !j.BurnedWei.Eq(burn) || !j.RefundWei.Eq(new(uint256.Int).Sub(j.EscrowWei, cost)) {
		f.t.Fatalf("job %d: cost %s burned %s refund %s; want %s %s %s", id, j.CostWei, j.BurnedWei, j.RefundWei, cost, burn, new(uint256.Int).Sub(j.EscrowWei, cost))
	}
	if want := new(uint256.Int).Mul(provider, uint256.NewInt(5)); want.Cmp(new(uint256.Int).Mul(cost, uint256.NewInt(4))) > 0 {
		f.t.Fatalf("provider share %s above 80 %% of %s", provider, cost)
	}
	gasNode, gasSub := f.gasOf[f.node.addr], f.gasOf[f.sub.addr]
	wantNode := new(big.Int).Sub(new(big.Int).Add(nodeBefore, provider.ToBig()), gasNode)
	if got := f.balance(f.node.addr); got.Cmp(wantNode) != 0 {
		f.t.Fatalf("node balance %s, want %s (before %s + provider %s - gas %s)", got, wantNode, nodeBefore, provider, gasNode)
	}
	wantSub := new(big.Int).Sub(new(big.Int).Add(new(big.Int).Sub(subBefore, escrow), j.RefundWei.ToBig()), gasSub)
	if got := f.balance(f.sub.addr); got.Cmp(wantSub) != 0 {
		f.t.Fatalf("submitter balance %s, want %s (before %s - escrow %s + refund %s - gas %s)", got, wantSub, subBefore, escrow, j.RefundWei, gasSub)
	}
	st, _ := f.chain.StateAt(f.chain.Head().Root)
	if got := native.Burned(st, native.BurnRent).ToBig(); new(big.Int).Sub(got, burnBefore).Cmp(burn.ToBig()) != 0 {
		f.t.Fatalf("rent burned %s more, want %s", new(big.Int).Sub(got, burnBefore), burn)
	}
	if !jobs.EscrowTotal(st).IsZero() || st.GetBalance(native.JobsAddress).Sign() != 0 {
		f.t.Fatalf("module holds %s (escrow total %s) after settlement", st.GetBalance(native.JobsAddress), jobs.EscrowTotal(st))
	}
}

func (f *agentFixture) burned() *big.Int {
	st, _ := f.chain.StateAt(f.chain.Head().Root)
	return native.Burned(st, native.BurnRent).ToBig()
}

func newTestLogger(l *logBuf) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestAgentRunsJobOnChain(t *testing.T) {
	f := newAgentFixture(t)
	ctx := context.Background()
	svc := f.newAgent()
	defer svc.Close()
	nodeBefore, subBefore, burnBefore := f.balance(f.node.addr), f.balance(f.sub.addr), f.burned()
	escrow := f.submit()
	for f.job(1).State != jobs.StateSettled {
		if f.chain.Head().Number.Uint64() > 80 {
			t.Fatalf("job 1 %s at block 80; log:\n%s", f.job(1).State, f.logs)
		}
		f.step(ctx, svc)
	}
	f.checkSettlement(1, nodeBefore, subBefore, burnBefore, escrow)
	if f.mined["accept"] != 1 || f.mined["submitResult"] != 1 || f.mined["assign"] != 1 {
		t.Fatalf("mined %v, want one assign, accept and submitResult", f.mined)
	}
	// The record on chain is the one in the store, with the job's output.
	rec, err := f.store.Verify(f.job(1).ResultHash.Hex()[2:])
	if err != nil {
		t.Fatal(err)
	}
	if rec.JobID != agent.RunID(f.chain.Config().ChainID.Uint64(), 1, 1) || len(rec.Outputs) != 1 || rec.ExitCode != 0 {
		t.Fatalf("record %+v", rec)
	}
	if c := svc.Core().Counts(); c.Accepted != 1 || c.Completed != 1 || c.Abandoned != 0 {
		t.Fatalf("counts %+v", c)
	}
}

// TestAgentRestartWhileRunning stops the agent while its job runs (the
// run is killed with it), starts a new one on the same data dir: it reruns
// the job (the result deadline leaves time), and the job settles once.
func TestAgentRestartWhileRunning(t *testing.T) {
	f := newAgentFixture(t)
	ctx := context.Background()
	release := filepath.Join(f.dir, "release")
	svc := f.newAgent()
	nodeBefore, subBefore, burnBefore := f.balance(f.node.addr), f.balance(f.sub.addr), f.burned()
	escrow := f.submit(release)
	for svc.Running() == 0 {
		if f.chain.Head().Number.Uint64() > 40 {
			t.Fatalf("job not started by block 40; log:\n%s", f.logs)
		}
		head := f.chain.Head()
		f.assigner.Step(ctx, head)
		svc.Step(ctx, head)
		if svc.Running() == 0 {
			f.mineQueue(nil)
		}
	}
	runID := agent.RunID(f.chain.Config().ChainID.Uint64(), 1, 1)
	svc.Close() // the node stops: the run is killed, the journal keeps the job
	if n, err := agent.KillProcesses("/proc", runID); err != nil || n != 0 {
		t.Fatalf("%d processes of the run left after the agent stopped (%v)", n, err)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	svc = f.newAgent()
	defer svc.Close()
	if es := svc.Core().Entries(); len(es) != 1 || es[0].Phase != agent.PhaseRunning {
		t.Fatalf("journal after restart: %+v", es)
	}
	for f.job(1).State != jobs.StateSettled {
		if f.chain.Head().Number.Uint64() > 80 {
			t.Fatalf("job 1 %s at block 80; log:\n%s", f.job(1).State, f.logs)
		}
		f.step(ctx, svc)
	}
	f.checkSettlement(1, nodeBefore, subBefore, burnBefore, escrow)
	if f.mined["accept"] != 1 || f.mined["submitResult"] != 1 {
		t.Fatalf("mined %v", f.mined)
	}
}

// TestAgentRestartWhileReporting stops the agent after its result is sent
// and before it is mined; the new agent sends it again without rerunning
// the job. Both transactions are mined: the module refuses the second, so
// the job is paid once.
func TestAgentRestartWhileReporting(t *testing.T) {
	f := newAgentFixture(t)
	ctx := context.Background()
	svc := f.newAgent()
	nodeBefore, subBefore, burnBefore := f.balance(f.node.addr), f.balance(f.sub.addr), f.burned()
	escrow := f.submit()
	hasResult := func() bool {
		for _, q := range f.queue {
			if q.req.Label == "submitResult" {
				return true
			}
		}
		return false
	}
	for !hasResult() {
		if f.chain.Head().Number.Uint64() > 40 {
			t.Fatalf("no result by block 40; log:\n%s", f.logs)
		}
		f.serve(ctx, svc)
		if hasResult() {
			break
		}
		f.mineQueue(nil)
	}
	// Whatever else is queued is mined; the result stays in the "pool".
	f.mineQueue(func(q queuedTx) bool { return q.req.Label == "submitResult" })
	svc.Close()
	runs := f.logs.count("job finished")
	svc = f.newAgent()
	defer svc.Close()
	if es := svc.Core().Entries(); len(es) != 1 || es[0].Phase != agent.PhaseReporting {
		t.Fatalf("journal after restart: %+v", es)
	}
	head := f.chain.Head()
	svc.Step(ctx, head)
	if len(f.queue) != 2 || f.queue[1].req.Label != "submitResult" {
		t.Fatalf("queue after restart: %d requests", len(f.queue))
	}
	f.mineQueue(nil) // both results in one block
	if f.mined["submitResult"] != 1 || f.mined["submitResult/reverted"] != 1 {
		t.Fatalf("mined %v, want one result and one refused", f.mined)
	}
	for f.job(1).State != jobs.StateSettled {
		if f.chain.Head().Number.Uint64() > 80 {
			t.Fatalf("job 1 %s at block 80; log:\n%s", f.job(1).State, f.logs)
		}
		f.step(ctx, svc)
	}
	if got := f.logs.count("job finished"); got != runs {
		t.Fatalf("job run again after restart (%d runs, then %d)", runs, got)
	}
	f.checkSettlement(1, nodeBefore, subBefore, burnBefore, escrow)
}
