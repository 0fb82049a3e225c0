package challenge_test

// Method: the sandboxed prover runs a real prover program
// (testdata/powprover: the command line of `emcd pow prove` over the same
// pow.ProveToDir, built static) through the real executors, and its
// Prover must give the root and the openings of pow.Prove, in process, for
// several seeds and sizes; each way that program can hand back a wrong
// answer (POWPROVER_FAULT) must be refused with ErrProver and leave
// nothing stored; cancelling the context and the deadline must stop the
// program; the Docker variant, where an engine answers, runs it from a
// FROM scratch image with the same sandbox as jobs.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/emc-network/emcd/internal/scratchimage"

	"github.com/emc-network/emcd/computing/challenge"
	"github.com/emc-network/emcd/computing/executor"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/pow"
)

var (
	proverOnce sync.Once
	proverBin  string
	proverErr  error
	proverDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if proverDir != "" {
		os.RemoveAll(proverDir)
	}
	os.Exit(code)
}

// powprover builds testdata/powprover once, static.
func powprover(t *testing.T) string {
	t.Helper()
	proverOnce.Do(func() {
		if proverDir, proverErr = os.MkdirTemp("", "emcd-powprover-"); proverErr != nil {
			return
		}
		proverBin = filepath.Join(proverDir, "powprover")
		cmd := exec.Command("go", "build", "-trimpath", "-o", proverBin, "./testdata/powprover")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			proverErr = fmt.Errorf("build powprover: %w\n%s", err, out)
		}
	})
	if proverErr != nil {
		t.Fatal(proverErr)
	}
	return proverBin
}

// faulty is a script running powprover with POWPROVER_FAULT=fault (the
// process executor gives its programs a clean environment).
func faulty(t *testing.T, fault, pidfile string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prover-"+fault)
	script := fmt.Sprintf("#!/bin/sh\nPOWPROVER_FAULT=%s POWPROVER_PIDFILE=%s exec %s \"$@\"\n", fault, pidfile, powprover(t))
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// processProver is a SandboxProver over the process executor running
// command; mod adjusts its config.
func processProver(t *testing.T, command string, mod func(*challenge.SandboxProverConfig)) (*challenge.SandboxProver, string) {
	t.Helper()
	storeDir := filepath.Join(t.TempDir(), "store")
	store, err := challenge.NewProverStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	ex := executor.NewProcess(executor.Config{ScratchDir: filepath.Join(t.TempDir(), "jobs"), Store: store})
	cfg := challenge.SandboxProverConfig{Run: ex.Run, Store: store, Command: command, Workers: 2}
	if mod != nil {
		mod(&cfg)
	}
	sp, err := challenge.NewSandboxProver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sp, storeDir
}

// sameAsInProcess checks p against pow.Prove of w: root, and the openings
// of a verifier's sample (which also pass pow.Verify).
func sameAsInProcess(t *testing.T, w pow.Workload, p *pow.Prover) {
	t.Helper()
	ref, err := pow.Prove(context.Background(), w, 2)
	if err != nil {
		t.Fatal(err)
	}
	if p.Root() != ref.Root() {
		t.Fatalf("n %d: sandboxed root %x, in-process %x", w.N, p.Root(), ref.Root())
	}
	want, err := pow.SampleChunks([32]byte{byte(w.N)}, ref.Root(), [20]byte{7}, w.N, pow.MaxOpenings)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ref.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Open(want)
	if err != nil {
		t.Fatalf("n %d: open: %v", w.N, err)
	}
	for k := range a {
		if a[k].Index != b[k].Index || !slices.Equal(a[k].Chunk, b[k].Chunk) || !slices.Equal(a[k].Proof, b[k].Proof) {
			t.Fatalf("n %d: opening of chunk %d differs", w.N, a[k].Index)
		}
	}
	if err := pow.Verify(w, p.Root(), want, b); err != nil {
		t.Fatal(err)
	}
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("%s holds %d files after the run", dir, len(ents))
	}
}

func TestSandboxProverMatchesInProcess(t *testing.T) {
	// GPUs: 1 on a node with none: the prover runs without (CPU reference).
	sp, store := processProver(t, powprover(t), func(c *challenge.SandboxProverConfig) { c.GPUs = 1 })
	for _, w := range []pow.Workload{
		{Seed: [32]byte{1}, N: 64},
		{Seed: [32]byte{2, 3}, N: 128},
		{Seed: [32]byte{0xff, 9}, N: 192},
		{Seed: [32]byte{4}, N: 256},
	} {
		p, err := sp.Prove(context.Background(), w)
		if err != nil {
			t.Fatalf("n %d: %v", w.N, err)
		}
		sameAsInProcess(t, w, p)
		emptyDir(t, store)
	}
}

func TestSandboxProverPassesGPUs(t *testing.T) {
	alloc := gpu.NewAllocator(mustInventory(t, gpu.NewSimulated(gpu.SimulatedH100s(2))))
	storeDir := filepath.Join(t.TempDir(), "store")
	store, err := challenge.NewProverStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	ex := executor.NewProcess(executor.Config{ScratchDir: t.TempDir(), Store: store, GPUs: alloc})
	var gpus []string
	run := func(ctx context.Context, spec *job.Spec) (*job.Result, error) {
		r, err := ex.Run(ctx, spec)
		if r != nil {
			gpus = r.GPUUUIDs
		}
		return r, err
	}
	sp, err := challenge.NewSandboxProver(challenge.SandboxProverConfig{Run: run, Store: store, Command: powprover(t), Workers: 1, GPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := pow.Workload{Seed: [32]byte{8}, N: 64}
	p, err := sp.Prove(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	sameAsInProcess(t, w, p)
	if len(gpus) != 1 {
		t.Fatalf("prover ran with GPUs %v, want one", gpus)
	}
	// Both busy with jobs: the prover runs without them.
	for _, id := range []string{"job-a", "job-b"} {
		if _, err := alloc.Allocate(id, 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	if p, err = sp.Prove(context.Background(), w); err != nil || len(gpus) != 0 {
		t.Fatalf("GPUs busy: %v, ran with %v", err, gpus)
	}
	sameAsInProcess(t, w, p)
}

func mustInventory(t *testing.T, s *gpu.Simulated) *gpu.Inventory {
	t.Helper()
	inv, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestSandboxProverRefusesBrokenProvers(t *testing.T) {
	w := pow.Workload{Seed: [32]byte{5}, N: 128}
	for _, fault := range []string{"truncate", "wrongroot", "wrongseed", "garbage", "nofile", "exit"} {
		sp, store := processProver(t, faulty(t, fault, ""), nil)
		p, err := sp.Prove(context.Background(), w)
		if !errors.Is(err, challenge.ErrProver) || p != nil {
			t.Errorf("%s: %v, want ErrProver", fault, err)
			continue
		}
		t.Logf("%s: %v", fault, err)
		emptyDir(t, store)
	}
}

func TestSandboxProverCancel(t *testing.T) {
	w := pow.Workload{Seed: [32]byte{6}, N: 64}
	pidfile := filepath.Join(t.TempDir(), "pid")
	sp, _ := processProver(t, faulty(t, "hang", pidfile), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := sp.Prove(ctx, w); done <- err }()
	pid := waitPid(t, pidfile)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Prove did not return after cancel")
	}
	t.Logf("returned %v after cancel", time.Since(start).Round(time.Millisecond))
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("prover %d still there after cancel: %v", pid, err)
	}

	// The deadline: Timeout, and the context's when sooner.
	os.Remove(pidfile)
	sp, _ = processProver(t, faulty(t, "hang", pidfile), func(c *challenge.SandboxProverConfig) {
		c.Timeout = func(int) time.Duration { return 500 * time.Millisecond }
	})
	start = time.Now()
	if _, err := sp.Prove(context.Background(), w); !errors.Is(err, challenge.ErrProver) || !strings.Contains(err.Error(), "timed_out") {
		t.Fatalf("timeout: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	os.Remove(pidfile)
	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := sp.Prove(ctx, w); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context deadline: %v", err)
	}
}

func waitPid(t *testing.T, path string) int {
	t.Helper()
	for range 500 {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the prover never started")
	return 0
}

func TestSandboxProverConfig(t *testing.T) {
	store, err := challenge.NewProverStore(filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	run := executor.NewProcess(executor.Config{ScratchDir: t.TempDir(), Store: store}).Run
	for _, c := range []challenge.SandboxProverConfig{
		{Store: store, Command: "x", Workers: 1},
		{Run: run, Command: "x", Workers: 1},
		{Run: run, Store: store, Workers: 1},
		{Run: run, Store: store, Command: "x"},
		{Run: run, Store: store, Command: "x", Workers: 1, SpotChecks: pow.MaxOpenings + 1},
		{Run: run, Store: store, Command: "x", Workers: 1, GPUs: -1},
	} {
		if _, err := challenge.NewSandboxProver(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	sp, err := challenge.NewSandboxProver(challenge.SandboxProverConfig{Run: run, Store: store, Command: "x", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Prove(context.Background(), pow.Workload{N: 100}); !errors.Is(err, pow.ErrBadWorkload) {
		t.Fatalf("bad workload: %v", err)
	}
}

func TestSandboxProverDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: Docker tests skipped")
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Skip("no Docker client: ", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	cancel()
	if err != nil {
		t.Skip("no Docker engine answers: ", err)
	}
	tag := fmt.Sprintf("emcd-powprover-test:%d", time.Now().UnixNano())
	if err := buildProverImage(cli, powprover(t), tag); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	storeDir := filepath.Join(t.TempDir(), "store")
	store, err := challenge.NewProverStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := executor.NewDocker(executor.DockerConfig{Config: executor.Config{ScratchDir: t.TempDir(), Store: store}, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := challenge.NewSandboxProver(challenge.SandboxProverConfig{Run: d.Run, Store: store, Image: tag, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []pow.Workload{{Seed: [32]byte{10}, N: 128}, {Seed: [32]byte{11}, N: 256}} {
		p, err := sp.Prove(context.Background(), w)
		if err != nil {
			t.Fatalf("n %d: %v", w.N, err)
		}
		sameAsInProcess(t, w, p)
		emptyDir(t, storeDir)
	}
	// An image that is not there is an error, not a hang.
	sp, err = challenge.NewSandboxProver(challenge.SandboxProverConfig{Run: d.Run, Store: store, Image: tag + "-absent", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Prove(context.Background(), pow.Workload{N: 64}); !errors.Is(err, executor.ErrImageNotFound) {
		t.Fatalf("absent image: %v", err)
	}
}

// buildProverImage builds FROM scratch + the static prover as entrypoint
// with the classic builder from an in-memory context (no registry).
func buildProverImage(cli *client.Client, bin, tag string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return scratchimage.Build(ctx, cli, tag, "powprover", data)
}
