package executor

// The conformance suite: behaviours both executors promise, run against
// each through a harness that knows how to turn jobtool steps into a spec.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/results"
)

type harness struct {
	exec  Executor
	store *results.Store
	spec  func(id string, steps ...string) *job.Spec
}

type newHarness func(t *testing.T, cfg Config) *harness

func baseConfig(t *testing.T) Config {
	t.Helper()
	store, err := results.Open(t.TempDir(), results.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inv, _ := gpu.NewSimulated(gpu.SimulatedH100s(2)).Inventory(context.Background())
	return Config{
		ScratchDir:         t.TempDir(),
		Store:              store,
		GPUs:               gpu.NewAllocator(inv),
		LogTailBytes:       1024,
		OutputPollInterval: 20 * time.Millisecond,
	}
}

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func runConformance(t *testing.T, newH newHarness) {
	t.Run("success with inputs and outputs", func(t *testing.T) {
		cfg := baseConfig(t)
		h := newH(t, cfg)
		in := "input bytes\n"
		isum, n, err := h.store.PutBlob(strings.NewReader(in), 0)
		if err != nil {
			t.Fatal(err)
		}
		spec := h.spec("ok", "echo:hello", "stderr:warning", "write:a.txt:5", "write:sub/b.bin:70000", "copyin", "env:EMC_GPU_UUIDS", "env:FOO")
		spec.Inputs = []job.Input{{Path: "data/in.txt", SHA256: isum, SizeBytes: n}}
		spec.Env = map[string]string{"FOO": "bar"}
		spec.GPUCount = 1
		r, err := h.exec.Run(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != job.StatusSucceeded || r.ExitCode != 0 {
			t.Fatalf("status %s exit %d stderr %q", r.Status, r.ExitCode, r.StderrTail)
		}
		if r.StdoutTail != "hello\nSIM-GPU-0\nbar\n" || r.StderrTail != "warning\n" || r.StdoutBytes != int64(len(r.StdoutTail)) {
			t.Fatalf("logs %q %q", r.StdoutTail, r.StderrTail)
		}
		want := []job.Output{
			{Path: "a.txt", SHA256: sum("abcde"), SizeBytes: 5},
			{Path: "copy/data/in.txt", SHA256: isum, SizeBytes: n},
			{Path: "sub/b.bin", SizeBytes: 70000},
		}
		if len(r.Outputs) != 3 {
			t.Fatalf("outputs %+v", r.Outputs)
		}
		for i, o := range r.Outputs {
			if o.Path != want[i].Path || o.SizeBytes != want[i].SizeBytes || (want[i].SHA256 != "" && o.SHA256 != want[i].SHA256) {
				t.Fatalf("output %d: %+v, want %+v", i, o, want[i])
			}
			if err := h.store.VerifyBlob(o.SHA256); err != nil {
				t.Fatal(err)
			}
		}
		if len(r.GPUUUIDs) != 1 || r.GPUMillis != r.WallMillis || r.FinishedAtUnixMillis < r.StartedAtUnixMillis {
			t.Fatalf("accounting %+v", r)
		}
		if err := r.Verify(); err != nil {
			t.Fatal(err)
		}
		if err := h.store.SaveResult(r); err != nil {
			t.Fatal(err)
		}
		if _, err := h.store.Verify(r.RecordSHA256); err != nil {
			t.Fatal(err)
		}
		if cfg.GPUs.Held() != 0 {
			t.Fatal("GPUs not released")
		}
	})

	t.Run("non-zero exit", func(t *testing.T) {
		h := newH(t, baseConfig(t))
		r, err := h.exec.Run(context.Background(), h.spec("fail", "stderr:boom", "exit:7"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != job.StatusFailed || r.ExitCode != 7 || r.StderrTail != "boom\n" {
			t.Fatalf("%s %d %q", r.Status, r.ExitCode, r.StderrTail)
		}
	})

	t.Run("timeout kills", func(t *testing.T) {
		h := newH(t, baseConfig(t))
		spec := h.spec("slow", "echo:started", "sleep:60s")
		spec.TimeoutMillis = 1500
		start := time.Now()
		r, err := h.exec.Run(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != job.StatusTimedOut || r.ExitCode != 137 || time.Since(start) > 30*time.Second {
			t.Fatalf("%s exit %d after %v", r.Status, r.ExitCode, time.Since(start))
		}
		if r.StdoutTail != "started\n" {
			t.Fatalf("stdout %q", r.StdoutTail)
		}
	})

	t.Run("cancel kills", func(t *testing.T) {
		h := newH(t, baseConfig(t))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		r, err := h.exec.Run(ctx, h.spec("cancel", "sleep:60s"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != job.StatusCanceled {
			t.Fatalf("%s exit %d", r.Status, r.ExitCode)
		}
	})

	t.Run("output cap", func(t *testing.T) {
		h := newH(t, baseConfig(t))
		// Writes 1 MiB then sleeps: the watcher must kill it, not the timeout.
		spec := h.spec("big", "write:big.bin:1048576", "sleep:60s")
		spec.MaxOutputBytes = 64 << 10
		spec.TimeoutMillis = 30_000
		start := time.Now()
		r, err := h.exec.Run(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != job.StatusOutputLimit || len(r.Outputs) != 0 || time.Since(start) > 20*time.Second {
			t.Fatalf("%s outputs %d after %v", r.Status, len(r.Outputs), time.Since(start))
		}
		// Exited before the watcher looked: caught at collection.
		spec = h.spec("big2", "write:big.bin:1048576")
		spec.MaxOutputBytes = 64 << 10
		if r, err = h.exec.Run(context.Background(), spec); err != nil || r.Status != job.StatusOutputLimit {
			t.Fatalf("%v %v", r.Status, err)
		}
	})

	t.Run("log tail cap", func(t *testing.T) {
		h := newH(t, baseConfig(t))
		r, err := h.exec.Run(context.Background(), h.spec("spew", "spew:200000", "echo:END"))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.StdoutTail) != 1024 || !strings.HasSuffix(r.StdoutTail, "END\n") {
			t.Fatalf("tail of %d bytes: %q", len(r.StdoutTail), r.StdoutTail[max(0, len(r.StdoutTail)-20):])
		}
		if r.StdoutBytes < 200000 {
			t.Fatalf("stdout bytes %d", r.StdoutBytes)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		h := newH(t, baseConfig(t))
		spec := h.spec("greedy", "echo:x")
		spec.GPUCount = 3 // the node has 2
		if _, err := h.exec.Run(context.Background(), spec); !errors.Is(err, gpu.ErrInsufficientGPUs) {
			t.Fatalf("too many GPUs: %v", err)
		}
		spec = h.spec("net", "echo:x")
		spec.Network = true
		if _, err := h.exec.Run(context.Background(), spec); !errors.Is(err, ErrNetworkNotAllowed) {
			t.Fatalf("network: %v", err)
		}
		spec = h.spec("in", "echo:x")
		spec.Inputs = []job.Input{{Path: "x", SHA256: sum("absent"), SizeBytes: 6}}
		if _, err := h.exec.Run(context.Background(), spec); !errors.Is(err, ErrInputMismatch) {
			t.Fatalf("missing input: %v", err)
		}
		isum, _, _ := h.store.PutBlob(strings.NewReader("abc"), 0)
		spec.Inputs = []job.Input{{Path: "x", SHA256: isum, SizeBytes: 4}}
		if _, err := h.exec.Run(context.Background(), spec); !errors.Is(err, ErrInputMismatch) {
			t.Fatalf("wrong input size: %v", err)
		}
		spec = h.spec("../bad", "echo:x")
		if _, err := h.exec.Run(context.Background(), spec); !errors.Is(err, job.ErrInvalidSpec) {
			t.Fatalf("invalid spec: %v", err)
		}
	})
}
