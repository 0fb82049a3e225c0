package job

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite golden files in testdata")

func sampleResult() *Result {
	r := &Result{
		JobID:      "job-1",
		SpecSHA256: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
		Executor:   "docker",
		Status:     StatusSucceeded,
		GPUUUIDs:   []string{"GPU-a", "GPU-b"},
		CPUMillis:  1234,
		StdoutTail: "hello\n", StdoutBytes: 6,
		StderrTail: "warn: \u00e9\u2028\x01", StderrBytes: 12,
		Outputs: []Output{{Path: "out/a.txt", SHA256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", SizeBytes: 5}},
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.SetTimes(start, start.Add(1500*time.Millisecond))
	return r
}

// TestResultGolden pins the result record's JSON shape: it is the payload a
// node will report on chain. Regenerate with -rewrite and review the diff.
func TestResultGolden(t *testing.T) {
	r := sampleResult()
	if r.GPUMillis != 3000 || r.WallMillis != 1500 {
		t.Fatalf("gpu_ms %d wall_ms %d", r.GPUMillis, r.WallMillis)
	}
	if err := r.Seal(); err != nil {
		t.Fatal(err)
	}
	got, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "result.golden.json")
	if *rewrite {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Fatalf("record changed:\ngot  %s\nwant %s", got, want)
	}
	back, err := DecodeResult(want)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := back.Encode()
	if !bytes.Equal(enc, got) {
		t.Fatal("decode→encode changed the record")
	}
}

func TestResultVerify(t *testing.T) {
	r := sampleResult()
	if err := r.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	r.ExitCode = 1
	if err := r.Verify(); !errors.Is(err, ErrRecordHash) {
		t.Fatalf("tampered record verified: %v", err)
	}
	enc, _ := r.Encode()
	if _, err := DecodeResult(enc); !errors.Is(err, ErrRecordHash) {
		t.Fatalf("DecodeResult accepted a tampered record: %v", err)
	}
}

func FuzzDecodeResult(f *testing.F) {
	r := sampleResult()
	_ = r.Seal()
	enc, _ := r.Encode()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeResult(data)
		if err != nil {
			return
		}
		enc, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeResult(enc)
		if err != nil {
			t.Fatalf("re-encoded record rejected: %v", err)
		}
		enc2, _ := r2.Encode()
		if !bytes.Equal(enc, enc2) {
			t.Fatal("decode→encode not a fixed point")
		}
	})
}

// TestSetTimesRoundsUp: wall time is billed in whole milliseconds rounded
// up, so a run that took any time bills at least 1 ms per GPU; a clock
// that went back bills nothing.
func TestSetTimesRoundsUp(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		d          time.Duration
		wall, gpus int64
	}{
		{0, 0, 0}, {-time.Second, 0, 0}, {time.Nanosecond, 1, 2}, {800 * time.Microsecond, 1, 2},
		{time.Millisecond, 1, 2}, {time.Millisecond + 1, 2, 4}, {1500 * time.Millisecond, 1500, 3000},
	} {
		r := &Result{GPUUUIDs: []string{"GPU-a", "GPU-b"}}
		r.SetTimes(start, start.Add(c.d))
		if r.WallMillis != c.wall || r.GPUMillis != c.gpus {
			t.Errorf("%s: wall %d gpu %d, want %d %d", c.d, r.WallMillis, r.GPUMillis, c.wall, c.gpus)
		}
	}
}
