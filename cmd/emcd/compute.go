package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/executor"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/results"
)

func init() { extraCommands = append(extraCommands, newComputeCmd) }

// exitDaemon is what compute exec exits with when the job could not run at
// all, as docker run does.
const exitDaemon = 125

func newComputeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compute",
		Short: "Run and inspect jobs on this compute node, locally",
	}
	cmd.AddCommand(newComputeExecCmd(g), newComputeResultCmd(g), newComputeImagesCmd(g))
	return cmd
}

func computeStore(g *globals) (*results.Store, error) {
	return results.Open(filepath.Join(g.resolvedDataDir().Compute(), "store"), results.Config{}, nil)
}

func newComputeExecCmd(g *globals) *cobra.Command {
	var (
		kind, image, command, id, memory, maxOutput, load string
		timeout                                           time.Duration
		gpus                                              int
		cpus                                              float64
		inputs                                            []string
		asJSON                                            bool
	)
	gf := &gpuFlags{}
	cmd := &cobra.Command{
		Use:   "exec [flags] -- ARGS...",
		Short: "Run one job locally and print its result record",
		Long: `exec runs one job the way the node would run a job from the network and
prints the sealed result record, so an operator can check the node can run
jobs before joining. It exits with the job's exit code, like docker run
(125 when the job could not be started at all).

--executor docker (the default) runs --image in an isolated container: no
network, memory, CPU and pids limits, read-only root, unprivileged user.
The image must be present locally or be given with --load (a docker save
tarball); nothing is pulled. --executor process runs --cmd as a child
process for development only: it has NO isolation and no memory or CPU
limits.

Inputs are stored in DATADIR/compute/store and appear in the job's input
dir ($EMC_INPUT_DIR, /job/in in a container) under their base names; files
the job writes to $EMC_OUTPUT_DIR (/job/out) are hashed into the store.`,
		RunE: func(c *cobra.Command, args []string) error {
			log, err := g.logger(c.ErrOrStderr())
			if err != nil {
				return err
			}
			spec := &job.Spec{
				ID: id, Image: image, Command: command, Args: args,
				GPUCount: gpus, CPUMillicores: int64(cpus * 1000),
				TimeoutMillis: timeout.Milliseconds(),
			}
			if spec.ID == "" {
				spec.ID = fmt.Sprintf("exec-%d", time.Now().UnixNano())
			}
			if spec.MemoryBytes, err = parseBytes(memory); err != nil {
				return fmt.Errorf("--memory: %w", err)
			}
			if spec.MaxOutputBytes, err = parseBytes(maxOutput); err != nil {
				return fmt.Errorf("--max-output: %w", err)
			}
			switch kind {
			case "docker":
				if image == "" || command != "" && image == "" {
					return errors.New("--executor docker needs --image (and takes --cmd as the entrypoint)")
				}
			case "process":
				if command == "" || image != "" {
					return errors.New("--executor process needs --cmd and no --image")
				}
			default:
				return fmt.Errorf("--executor %q: want docker or process", kind)
			}

			dd := g.resolvedDataDir()
			if err := dd.Lock(); err != nil {
				return err
			}
			defer dd.Unlock()
			store, err := computeStore(g)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for _, f := range inputs {
				name := filepath.Base(f)
				if seen[name] {
					return fmt.Errorf("--input %s: two inputs named %s", f, name)
				}
				seen[name] = true
				sum, size, err := store.PutFile(f, 0)
				if err != nil {
					return fmt.Errorf("--input %s: %w", f, err)
				}
				spec.Inputs = append(spec.Inputs, job.Input{Path: name, SHA256: sum, SizeBytes: size})
			}
			if err := spec.Validate(); err != nil {
				return err
			}

			prov, err := gf.open(g, c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer prov.Close()
			inv, err := prov.Inventory(c.Context())
			if err != nil {
				return err
			}
			cfg := executor.Config{
				ScratchDir: filepath.Join(dd.Compute(), "jobs"),
				Store:      store,
				GPUs:       gpu.NewAllocator(inv),
				Logger:     log,
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var ex executor.Executor
			if kind == "process" {
				log.Warn("process executor: the job runs as a plain child process with NO isolation (no network, memory or CPU limits); for development only")
				ex = executor.NewProcess(cfg)
			} else {
				d, err := executor.NewDocker(executor.DockerConfig{Config: cfg})
				if err != nil {
					return &exitError{exitDaemon, err}
				}
				defer d.Close()
				if load != "" {
					if err := loadImage(ctx, d, load); err != nil {
						return &exitError{exitDaemon, err}
					}
				}
				ex = d
			}
			r, err := ex.Run(ctx, spec)
			if err != nil {
				return &exitError{exitDaemon, fmt.Errorf("job %s not run: %w", spec.ID, err)}
			}
			if err := store.SaveResult(r); err != nil {
				return &exitError{exitDaemon, err}
			}
			if err := printResult(c.OutOrStdout(), r, asJSON); err != nil {
				return err
			}
			if r.Status != job.StatusSucceeded {
				code := r.ExitCode
				if code == 0 {
					code = 1 // e.g. output_limit after a clean exit
				}
				return &exitError{code, fmt.Errorf("job %s %s (exit code %d)", r.JobID, r.Status, r.ExitCode)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "executor", "docker", "docker (isolated container) or process (development only, no isolation)")
	f.StringVar(&image, "image", "", "container image, present locally (docker executor)")
	f.StringVar(&command, "cmd", "", "program to run (process executor), or the image's entrypoint override")
	f.StringVar(&load, "load", "", "docker save tarball to load before running (docker executor)")
	f.StringVar(&id, "id", "", "job id (default exec-<time>)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "wall-clock limit; the job is killed after it")
	f.IntVar(&gpus, "gpus", 0, "GPUs to allocate exclusively")
	f.Float64Var(&cpus, "cpus", 0, "CPU limit in CPUs, e.g. 1.5 (0: none; docker only)")
	f.StringVar(&memory, "memory", "0", "memory limit in bytes, or with a KiB/MiB/GiB suffix (0: none; docker only)")
	f.StringVar(&maxOutput, "max-output", "0", "limit on the total size of output files (0: 64MiB)")
	f.StringArrayVar(&inputs, "input", nil, "input file, repeatable; appears in the input dir under its base name")
	f.BoolVar(&asJSON, "json", false, "print the result record as JSON")
	gf.register(cmd)
	return cmd
}

func newComputeResultCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "result RECORD_SHA256",
		Short: "Read a stored result record back by its hash and verify it and its outputs",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			store, err := computeStore(g)
			if err != nil {
				return err
			}
			r, err := store.Verify(args[0])
			if err != nil {
				return err
			}
			return printResult(c.OutOrStdout(), r, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result record as JSON")
	return cmd
}

func loadImage(ctx context.Context, d *executor.Docker, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--load: %w", err)
	}
	defer f.Close()
	return d.LoadImage(ctx, f)
}

func printResult(w io.Writer, r *job.Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "job %s: %s, exit code %d", r.JobID, r.Status, r.ExitCode)
	if r.OOMKilled {
		fmt.Fprint(w, " (out of memory)")
	}
	fmt.Fprintf(w, ", %s wall, %d ms CPU, %d ms GPU on %d GPU(s) [%s executor]\n",
		time.Duration(r.WallMillis)*time.Millisecond, r.CPUMillis, r.GPUMillis, len(r.GPUUUIDs), r.Executor)
	for _, o := range r.Outputs {
		fmt.Fprintf(w, "output %s  %d bytes  sha256:%s\n", o.Path, o.SizeBytes, o.SHA256)
	}
	if r.StdoutTail != "" {
		fmt.Fprintf(w, "--- stdout (last %d of %d bytes)\n%s", len(r.StdoutTail), r.StdoutBytes, withNewline(r.StdoutTail))
	}
	if r.StderrTail != "" {
		fmt.Fprintf(w, "--- stderr (last %d of %d bytes)\n%s", len(r.StderrTail), r.StderrBytes, withNewline(r.StderrTail))
	}
	fmt.Fprintf(w, "record sha256:%s\n", r.RecordSHA256)
	return nil
}

func withNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// parseBytes reads a byte count: digits, optionally with a KiB, MiB or GiB
// suffix (K, M, G also accepted).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<53)/mult {
		return 0, fmt.Errorf("%q: want a byte count like 536870912 or 512MiB", s)
	}
	return n * mult, nil
}
