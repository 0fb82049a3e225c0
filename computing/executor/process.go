package executor

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/internal/procattr"
)

// Process runs a job's Command as a child process in its scratch dir. It is
// for development and tests, chosen explicitly: it promises NO isolation.
// The job has the node's network, user and filesystem view, and memory, CPU
// and pids limits are not enforced (a warning is logged when a spec sets
// them). What it does promise: its own working dir, a clean environment,
// the timeout (SIGKILL to the whole process group), the output cap, log
// tails and the exit code.
type Process struct{ cfg Config }

var _ Executor = (*Process)(nil)

// NewProcess returns a process executor.
func NewProcess(cfg Config) *Process {
	cfg.fill()
	cfg.Logger = cfg.Logger.With("component", "executor", "executor", "process")
	return &Process{cfg: cfg}
}

// Run runs spec.Command with spec.Args. A bare name is looked up in the
// node's PATH; a relative path (./in/tool) is relative to the scratch dir.
func (p *Process) Run(ctx context.Context, spec *job.Spec) (*job.Result, error) {
	if spec.Command == "" {
		return nil, fmt.Errorf("%w: process executor needs a command", ErrWrongKind)
	}
	specHash, alloc, release, err := prepare(&p.cfg, spec)
	if err != nil {
		return nil, err
	}
	defer release()
	log := p.cfg.Logger.With("job", spec.ID)
	if spec.MemoryBytes > 0 || spec.CPUMillicores > 0 {
		log.Warn("process executor does not enforce memory or CPU limits", "memory_bytes", spec.MemoryBytes, "cpu_millicores", spec.CPUMillicores)
	}
	sc, err := newScratch(p.cfg.ScratchDir, spec.ID)
	if err != nil {
		return nil, err
	}
	defer sc.remove()
	if err := stageInputs(p.cfg.Store, sc.in, spec.Inputs); err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithTimeout(ctx, spec.Timeout())
	defer cancel()
	cmd := exec.CommandContext(runCtx, spec.Command, spec.Args...)
	cmd.Dir = sc.root
	cmd.Env = append(append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + sc.root,
		"EMC_JOB_ID=" + spec.ID,
		"EMC_INPUT_DIR=" + sc.in,
		"EMC_OUTPUT_DIR=" + sc.out,
	}, gpuEnv(alloc)...), specEnv(spec)...)
	stdout, stderr := newTail(p.cfg.LogTailBytes), newTail(p.cfg.LogTailBytes)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so a kill reaches every child it forked; on
	// Linux it dies with the node.
	cmd.SysProcAttr = procattr.Group()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A grandchild holding the output pipes must not keep Wait hanging.
	cmd.WaitDelay = time.Second

	var outputKilled bool
	started := p.cfg.Now()
	if err := procattr.Start(cmd); err != nil {
		return nil, fmt.Errorf("executor: start %s: %w", spec.Command, err)
	}
	watchCtx, stopWatch := context.WithCancel(runCtx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		watchOutputs(watchCtx, sc.out, spec.MaxOutputBytes, p.cfg.OutputPollInterval, func() {
			outputKilled = true
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		})
	}()
	waitErr := cmd.Wait()
	stopWatch()
	<-watchDone
	// Reap anything left in the group (daemonised grandchildren).
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	finished := p.cfg.Now()

	r := &job.Result{
		JobID:      spec.ID,
		SpecSHA256: specHash,
		Executor:   "process",
		GPUUUIDs:   alloc.UUIDs(),
	}
	r.SetTimes(started, finished)
	if ps := cmd.ProcessState; ps != nil {
		r.CPUMillis = (ps.UserTime() + ps.SystemTime()).Milliseconds()
		r.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.ExitCode = 128 + int(ws.Signal())
		}
	} else if waitErr != nil {
		return nil, fmt.Errorf("executor: wait: %w", waitErr)
	}
	switch {
	case outputKilled:
		r.Status = job.StatusOutputLimit
	case errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		r.Status = job.StatusTimedOut
	case ctx.Err() != nil:
		r.Status = job.StatusCanceled
	case r.ExitCode == 0:
		r.Status = job.StatusSucceeded
	default:
		r.Status = job.StatusFailed
	}
	if err := finish(&p.cfg, r, sc, spec, stdout, stderr); err != nil {
		return nil, err
	}
	log.Info("job finished", "status", r.Status, "exit_code", r.ExitCode, "wall_ms", r.WallMillis, "record", r.RecordSHA256)
	return r, nil
}

// finish fills in logs and outputs and seals the record. Outputs over the
// limit turn the status into output_limit and are not stored.
func finish(cfg *Config, r *job.Result, sc *scratch, spec *job.Spec, stdout, stderr *tail) error {
	r.StdoutBytes, r.StdoutTail = stdout.Total(), stdout.String()
	r.StderrBytes, r.StderrTail = stderr.Total(), stderr.String()
	if r.Status == job.StatusSucceeded || r.Status == job.StatusFailed {
		if dirSize(sc.out) > spec.MaxOutputBytes {
			r.Status = job.StatusOutputLimit
		}
	}
	if r.Status != job.StatusOutputLimit {
		outs, err := collectOutputs(cfg.Store, sc.out, spec.MaxOutputBytes)
		if errors.Is(err, errOutputLimit) {
			r.Status, outs = job.StatusOutputLimit, nil
		} else if err != nil {
			return fmt.Errorf("executor: collect outputs: %w", err)
		}
		r.Outputs = outs
	}
	return r.Seal()
}
