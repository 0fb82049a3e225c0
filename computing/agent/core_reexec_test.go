package agent

// The core's re-executions, scripted head by head (no simulated chain:
// the head's Reexecs list is the chain's reexecsOf, written by hand).

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/jobs"
)

func rxHead(number uint64, rxs ...ChainReexec) Head {
	return Head{Number: number, Time: number, NowMs: int64(number) * 1000, Reexecs: rxs}
}

func pending(id uint64) ChainReexec {
	return ChainReexec{ID: id, Deadline: 100, GPUs: 1, TimeoutSeconds: 10, ImageHeld: true}
}

func onlyAction(t *testing.T, acts []Action, kind ActionKind) Action {
	t.Helper()
	if len(acts) != 1 || acts[0].Kind != kind {
		t.Fatalf("actions %+v, want one %s", acts, kind)
	}
	return acts[0]
}

// TestCoreReexecFlow: drawn -> run -> digest sent -> gone from the list:
// counted once, forgotten, journaled at each step.
func TestCoreReexecFlow(t *testing.T) {
	c := NewCore(CoreConfig{Owner: owner, GPUs: 1}, nil)
	run := onlyAction(t, c.Step(rxHead(1, pending(7))), ActReexec)
	if run.Entry.Phase != PhaseReexec || run.Entry.Attempt != 0 || !c.Dirty() || c.UsedGPUs() != 1 {
		t.Fatalf("run %+v, used GPUs %d", run, c.UsedGPUs())
	}
	if acts := c.Step(rxHead(2, pending(7))); len(acts) != 0 {
		t.Fatalf("running re-execution acted again: %+v", acts)
	}
	digest := common.Hash{0xd1}
	sub := onlyAction(t, c.RunDone(7, run.Token, RunOutcome{Record: common.Hash{1}, Digest: digest}), ActSubmitReexec)
	if sub.Entry.Digest != digest || sub.Entry.Phase != PhaseReexecReporting || c.UsedGPUs() != 0 || !c.Dirty() {
		t.Fatalf("submit %+v, used GPUs %d", sub, c.UsedGPUs())
	}
	// A result outcome for the same id does not touch it.
	if acts := c.TxDone(7, TxResult, common.Hash{2}, nil); acts != nil {
		t.Fatalf("result outcome acted: %+v", acts)
	}
	c.TxDone(7, TxReexec, common.Hash{3}, nil)
	if acts := c.Step(rxHead(3)); len(acts) != 0 {
		t.Fatalf("gone re-execution acted: %+v", acts)
	}
	if cn := c.Counts(); cn.Reexecuted != 1 || cn.ReexecAbandoned != 0 || len(c.Entries()) != 0 {
		t.Fatalf("counts %+v, entries %+v", cn, c.Entries())
	}
}

// TestCoreReexecTxRetry: a failed submitReexec is sent again after
// RetryBlocks, never the run.
func TestCoreReexecTxRetry(t *testing.T) {
	c := NewCore(CoreConfig{Owner: owner, GPUs: 1}, nil)
	run := onlyAction(t, c.Step(rxHead(1, pending(7))), ActReexec)
	onlyAction(t, c.RunDone(7, run.Token, RunOutcome{Record: common.Hash{1}, Digest: common.Hash{2}}), ActSubmitReexec)
	c.TxDone(7, TxReexec, common.Hash{3}, errors.New("reverted"))
	for n := uint64(2); n < 1+RetryBlocks; n++ {
		if acts := c.Step(rxHead(n, pending(7))); len(acts) != 0 {
			t.Fatalf("block %d: %+v before the retry block", n, acts)
		}
	}
	onlyAction(t, c.Step(rxHead(1+RetryBlocks, pending(7))), ActSubmitReexec)
}

// TestCoreReexecDeclines: an image not held, too little time, a node too
// small: declined once, never taken up while still listed; busy GPUs:
// waits, then runs.
func TestCoreReexecDeclines(t *testing.T) {
	c := NewCore(CoreConfig{Owner: owner, GPUs: 1}, nil)
	noImage := pending(1)
	noImage.ImageHeld = false
	late := pending(2)
	late.Deadline = 5 // block time 1 + timeout 10 >= 5
	big := pending(3)
	big.GPUs = 2
	for n := uint64(1); n <= 3; n++ {
		if acts := c.Step(rxHead(n, noImage, late, big)); len(acts) != 0 {
			t.Fatalf("declined re-executions acted: %+v", acts)
		}
	}
	if cn := c.Counts(); cn.ReexecAbandoned != 3 || len(c.Entries()) != 0 {
		t.Fatalf("counts %+v, entries %+v", cn, c.Entries())
	}
	// A job of its own holds the only GPU: the re-execution waits.
	c.Step(Head{Number: 4, Time: 4, Jobs: []ChainJob{{ID: 10, State: jobs.StateAssigned, Node: owner, Attempts: 1, Deadline: 20,
		GPUs: 1, TimeoutSeconds: 10, ImageHeld: true}}, Reexecs: []ChainReexec{pending(11)}})
	if es := c.Entries(); len(es) != 1 || es[0].ID != 10 {
		t.Fatalf("entries %+v, want only job 10", es)
	}
	// Job 10 leaves (reassigned): the GPU is free, the re-execution runs.
	onlyAction(t, c.Step(rxHead(5, pending(11))), ActReexec)
}

// TestCoreReexecRunFails: a re-execution that could not run sends no
// digest (a wrong one would accuse an honest provider) and is not taken up
// again.
func TestCoreReexecRunFails(t *testing.T) {
	c := NewCore(CoreConfig{Owner: owner, GPUs: 1}, nil)
	run := onlyAction(t, c.Step(rxHead(1, pending(7))), ActReexec)
	if acts := c.RunDone(7, run.Token, RunOutcome{Err: errors.New("no program")}); len(acts) != 0 {
		t.Fatalf("failed run acted: %+v", acts)
	}
	if acts := c.Step(rxHead(2, pending(7))); len(acts) != 0 {
		t.Fatalf("failed re-execution taken up again: %+v", acts)
	}
	if cn := c.Counts(); cn.ReexecAbandoned != 1 || cn.Reexecuted != 0 {
		t.Fatalf("counts %+v", cn)
	}
}

// TestCoreReexecDeadline: the deadline passes while running: the run is
// killed; the run leaves the list (timed out on chain) while running: killed.
func TestCoreReexecDeadline(t *testing.T) {
	c := NewCore(CoreConfig{Owner: owner, GPUs: 2}, nil)
	onlyAction(t, c.Step(rxHead(1, pending(7))), ActReexec)
	late := pending(7)
	late.Deadline = 50
	onlyAction(t, c.Step(rxHead(50, late)), ActKill)
	onlyAction(t, c.Step(rxHead(51, pending(8))), ActReexec)
	onlyAction(t, c.Step(rxHead(52)), ActKill)
	if cn := c.Counts(); cn.ReexecAbandoned != 2 || len(c.Entries()) != 0 {
		t.Fatalf("counts %+v, entries %+v", cn, c.Entries())
	}
}

// TestCoreReexecRestart: a journaled re-execution still running is run
// again (time left) or dropped (too late); one with its digest is sent
// again, not run.
func TestCoreReexecRestart(t *testing.T) {
	journal := []Entry{
		{ID: 7, Phase: PhaseReexec, GPUs: 1, TimeoutSeconds: 10},
		{ID: 8, Phase: PhaseReexecReporting, GPUs: 1, TimeoutSeconds: 10, Record: common.Hash{1}, Digest: common.Hash{2}},
	}
	c := NewCore(CoreConfig{Owner: owner, GPUs: 1}, journal)
	acts := c.Step(rxHead(20, pending(7), pending(8)))
	if len(acts) != 2 || acts[0].Kind != ActReexec || acts[0].Entry.ID != 7 || acts[1].Kind != ActSubmitReexec ||
		acts[1].Entry.Digest != (common.Hash{2}) {
		t.Fatalf("actions after restart %+v", acts)
	}
	c = NewCore(CoreConfig{Owner: owner, GPUs: 1}, journal[:1])
	if acts := c.Step(rxHead(95, pending(7))); len(acts) != 0 || len(c.Entries()) != 0 {
		t.Fatalf("too-late restart: actions %+v entries %+v", acts, c.Entries())
	}
}

// TestCoreDeterministicResult: a run with a digest reports it (the driver
// sends submitResultDigest); the chain putting the result in
// re-execution finishes the job for this node.
func TestCoreDeterministicResult(t *testing.T) {
	c := NewCore(CoreConfig{Owner: owner, GPUs: 1}, nil)
	j := ChainJob{ID: 3, State: jobs.StateAssigned, Node: owner, Attempts: 1, Deadline: 10, GPUs: 1, TimeoutSeconds: 10, ImageHeld: true}
	onlyAction(t, c.Step(Head{Number: 1, Time: 1, Jobs: []ChainJob{j}}), ActAccept)
	j.State, j.Deadline = jobs.StateRunning, 100
	run := onlyAction(t, c.Step(Head{Number: 2, Time: 2, Jobs: []ChainJob{j}}), ActRun)
	rec, digest := common.Hash{5}, common.Hash{6}
	sub := onlyAction(t, c.RunDone(3, run.Token, RunOutcome{Record: rec, Digest: digest, WallMillis: 100}), ActSubmit)
	if sub.Entry.Digest != digest || sub.Entry.Record != rec {
		t.Fatalf("submit %+v", sub.Entry)
	}
	j.State, j.ResultHash = jobs.StateReexec, rec
	if acts := c.Step(Head{Number: 3, Time: 3, Jobs: []ChainJob{j}}); len(acts) != 0 {
		t.Fatalf("actions %+v", acts)
	}
	if cn := c.Counts(); cn.Completed != 1 || cn.Abandoned != 0 || len(c.Entries()) != 0 {
		t.Fatalf("counts %+v entries %+v", cn, c.Entries())
	}
}
