package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/executor"
	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/state/native"
)

// startAgent runs the compute agent (computing/agent) for the compute role
// and dev mode: it accepts the jobs assigned to this node's owner, runs
// them with the configured executor and reports their results through the
// node wallet, and re-executes the deterministic jobs the chain draws it
// for (Config.ComputeFault, test only, makes it cheat on those). It needs GPUs opened (startCompute), a key of its own and
// the jobs module; without one of them it logs why and stays off.
func (n *Node) startAgent(ctx context.Context) error {
	if (n.cfg.Role != RoleCompute && !n.cfg.Dev) || n.cfg.GPU == nil {
		return nil // no compute side (startCompute opened nothing)
	}
	switch {
	case n.alloc == nil:
		n.log.Warn("compute agent off: no GPU provider opened")
		return nil
	case n.wallet == nil:
		n.log.Warn("compute agent off: this node has no key of its own to send from (create one with `emcd account new`)")
		return nil
	case n.jobs == nil:
		n.log.Warn("compute agent off: this chain has no jobs module")
		return nil
	}
	kind := n.execKind
	dir := n.cfg.DataDir.Compute()
	store, err := n.openResultStore()
	if err != nil {
		return fmt.Errorf("node: compute agent: %w", err)
	}
	programs := agent.NewPrograms(filepath.Join(dir, "programs"))
	excfg := executor.Config{ScratchDir: filepath.Join(dir, "jobs"), Store: store, GPUs: n.alloc, Logger: n.baseLog}
	var (
		run    func(context.Context, *job.Spec) (*job.Result, error)
		images agent.Images
		reap   func(context.Context, string) (int, error)
	)
	switch kind {
	case agent.ExecutorProcess:
		n.log.Warn("compute agent uses the process executor: jobs run as plain child processes with NO isolation (development only)")
		run = executor.NewProcess(excfg).Run
		images = programImages{programs}
		reap = func(_ context.Context, runID string) (int, error) { return agent.KillProcesses("/proc", runID) }
	case agent.ExecutorDocker:
		d, err := executor.NewDocker(executor.DockerConfig{Config: excfg})
		if err != nil {
			return fmt.Errorf("node: compute agent: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = d.Ping(pctx)
		cancel()
		if err != nil {
			n.log.Warn("compute agent: the Docker daemon does not answer; jobs assigned here are declined until it does", "err", err)
		}
		run, images, reap = d.Run, dockerImages{d}, d.RemoveJob
	default:
		return fmt.Errorf("node: compute agent: executor %q: want docker or process", kind)
	}
	// A stopped node's runs also leave their scratch dirs behind.
	killRun := reap
	reap = func(ctx context.Context, runID string) (int, error) {
		k, err := killRun(ctx, runID)
		if dirs, gerr := filepath.Glob(filepath.Join(excfg.ScratchDir, runID+"-*")); gerr == nil {
			for _, d := range dirs {
				_ = os.RemoveAll(d)
			}
		}
		return k, err
	}
	jobsABI, err := abi.JSON(strings.NewReader(n.jobs.ABI()))
	if err != nil {
		return fmt.Errorf("node: compute agent: %w", err)
	}
	svc, err := agent.New(agent.Config{
		Owner:   n.wallet.Address(),
		ChainID: n.chain.Config().ChainID.Uint64(),
		GPUs:    uint32(n.alloc.Total()),
		View: func(head *types.Header) (agent.View, error) {
			st, err := n.chain.StateAt(head.Root)
			if err != nil {
				return nil, err
			}
			return stateJobs{st}, nil
		},
		Spec: func(_ context.Context, j *jobs.Job) (jobs.Spec, error) {
			h := n.chain.HeaderByNumber(j.SubmitBlock)
			if h == nil {
				return jobs.Spec{}, fmt.Errorf("no block %d", j.SubmitBlock)
			}
			var logs []*types.Log
			for _, rc := range n.chain.Receipts(h.Hash()) {
				logs = append(logs, rc.Logs...)
			}
			return agent.SpecFromLogs(&jobsABI, logs, j.ID, j.SpecHash)
		},
		Inputs: func(_ context.Context, j *jobs.Job) ([]byte, error) {
			b := n.chain.BlockByNumber(j.SubmitBlock)
			if b == nil {
				return nil, fmt.Errorf("no block %d", j.SubmitBlock)
			}
			var logs []*types.Log
			for _, rc := range n.chain.Receipts(b.Hash()) {
				logs = append(logs, rc.Logs...)
			}
			return agent.InputsFromTxs(&jobsABI, logs, b.Transactions(), j.ID, j.SpecHash)
		},
		Blobs: store,
		Send: func(ctx context.Context, req wallet.Request) (agent.Pending, error) {
			h, err := n.wallet.Submit(ctx, req)
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return h, nil
		},
		Run:      run,
		Executor: kind,
		Programs: programs,
		Images:   images,
		Store:    store,
		Journal:  agent.NewJournal(filepath.Join(dir, "agent", "journal.json")),
		Reap:     reap,
		Now:      time.Now,
		Metrics:  agent.NewMetrics(n.reg),
		Log:      n.baseLog,
		Fault:    n.cfg.ComputeFault,
	})
	if err != nil {
		return fmt.Errorf("node: compute agent: %w", err)
	}
	n.agent.Store(svc)
	n.log.Info("compute agent on", "owner", n.wallet.Address(), "executor", kind, "gpus", n.alloc.Total())
	if n.cfg.ComputeFault != "" {
		n.log.Warn("compute agent FAULT INJECTION on (test only): this node corrupts its deterministic outputs", "fault", n.cfg.ComputeFault)
	}
	n.spawn(func() error { return svc.Run(ctx, n.chain, n.chain.Head()) })
	return nil
}

// stateJobs is the agent's View over a state.
type stateJobs struct{ s native.StateReader }

func (v stateJobs) JobCount() uint64                        { return jobs.JobCount(v.s) }
func (v stateJobs) JobOf(id uint64) (jobs.Job, bool, error) { return jobs.JobOf(v.s, id) }
func (v stateJobs) ReexecsOf(node common.Address, offset, limit uint64) ([]uint64, uint64) {
	return jobs.ReexecsOf(v.s, node, offset, limit)
}
func (v stateJobs) ReexecOf(id uint64) (jobs.Reexec, bool, error) { return jobs.ReexecOf(v.s, id) }

// programImages: the process executor holds a job's image when a program
// is stored under its digest.
type programImages struct{ p *agent.Programs }

func (i programImages) Has(_ context.Context, d common.Hash) (bool, error) { return i.p.Has(d), nil }

// dockerImages: the Docker executor holds a job's image when the daemon
// has an image with that ID.
type dockerImages struct{ d *executor.Docker }

func (i dockerImages) Has(ctx context.Context, d common.Hash) (bool, error) {
	return i.d.HasImage(ctx, "sha256:"+strings.TrimPrefix(d.Hex(), "0x"))
}
