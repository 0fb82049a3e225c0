package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/challenge"
	"github.com/emc-network/emcd/computing/executor"
	"github.com/emc-network/emcd/computing/pow"
)

// Where a compute node computes its proof-of-work challenge (--verify.prover).
const (
	ProverInProcess = "inprocess"
	ProverSandbox   = "sandbox"
)

// DefaultProverImage is the prover image with the Docker executor: the
// node's own image as `make image` builds it (its entrypoint is emcd, so
// the prover is `emcd pow prove`).
const DefaultProverImage = "emcd:dev"

// challengeProver returns the compute node's ProveFunc: nil (the service's
// in-process pow.Prove on workers goroutines) for ProverInProcess, or a
// challenge.SandboxProver running the prover program through an executor
// of the compute agent's kind, with the jobs' sandbox and GPU allocator:
// the emcd binary itself (os.Executable) for the process executor, the
// image VerifyProverImage for Docker. Its time limit is the commit
// deadline of the class of the problem size (the longest when classes
// share one).
func (n *Node) challengeProver(ctx context.Context, workers int, params pow.Params) (challenge.ProveFunc, error) {
	switch n.cfg.VerifyProver {
	case "", ProverInProcess:
		return nil, nil
	case ProverSandbox:
	default:
		return nil, fmt.Errorf("node: verify prover %q: want %s or %s", n.cfg.VerifyProver, ProverInProcess, ProverSandbox)
	}
	dir := filepath.Join(n.cfg.DataDir.Compute(), "prover")
	// Scratch dirs of runs a stopped node left behind.
	if err := os.RemoveAll(filepath.Join(dir, "runs")); err != nil {
		return nil, fmt.Errorf("node: sandboxed prover: %w", err)
	}
	store, err := challenge.NewProverStore(filepath.Join(dir, "out"))
	if err != nil {
		return nil, err
	}
	excfg := executor.Config{ScratchDir: filepath.Join(dir, "runs"), Store: store, GPUs: n.alloc, Logger: n.baseLog}
	cfg := challenge.SandboxProverConfig{Store: store, Workers: workers, Log: n.baseLog,
		Timeout: func(size int) time.Duration { return classDeadline(params, size) }}
	if n.alloc != nil && n.alloc.Total() > 0 {
		cfg.GPUs = 1
	}
	switch n.execKind {
	case agent.ExecutorProcess:
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("node: sandboxed prover: %w", err)
		}
		cfg.Run, cfg.Command = executor.NewProcess(excfg).Run, self
	case agent.ExecutorDocker:
		d, err := executor.NewDocker(executor.DockerConfig{Config: excfg})
		if err != nil {
			return nil, fmt.Errorf("node: sandboxed prover: %w", err)
		}
		cfg.Run, cfg.Image = d.Run, n.cfg.VerifyProverImage
		if cfg.Image == "" {
			cfg.Image = DefaultProverImage
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if ok, err := d.HasImage(pctx, cfg.Image); err != nil || !ok {
			n.log.Warn("challenge prover image not present: challenges fail until it is loaded", "image", cfg.Image, "err", err)
		}
		cancel()
	default:
		return nil, fmt.Errorf("node: sandboxed prover: executor %q: want docker or process", n.execKind)
	}
	sp, err := challenge.NewSandboxProver(cfg)
	if err != nil {
		return nil, err
	}
	n.log.Info("challenge prover runs in the sandbox", "executor", n.execKind, "image", cfg.Image, "command", cfg.Command, "gpus", cfg.GPUs)
	return sp.Prove, nil
}

// classDeadline is the longest commit deadline of the classes of problem
// size size, or pow.MaxDeadlineSeconds when no class has it.
func classDeadline(params pow.Params, size int) time.Duration {
	var secs uint64
	for _, c := range params.Classes {
		if c.N == size {
			secs = max(secs, c.DeadlineSeconds)
		}
	}
	if secs == 0 {
		secs = pow.MaxDeadlineSeconds
	}
	return time.Duration(secs) * time.Second
}
