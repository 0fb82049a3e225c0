package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emc-network/emcd/computing/gpu"
)

var rewrite = flag.Bool("rewrite", false, "rewrite golden files in testdata")

// TestReportGolden pins the JSON of `emcd gpus --json`: two simulated H100s,
// one with MIG, and a device that supports no optional field.
func TestReportGolden(t *testing.T) {
	devs := gpu.SimulatedH100s(2)
	devs[1].MIG = []gpu.MIGDevice{{Index: 0, UUID: "SIM-MIG-1-0", Name: "3g.40gb", MemoryTotalBytes: ptr(uint64(40 << 30)), GPUInstanceID: ptr(1), ComputeInstanceID: ptr(0)}}
	devs = append(devs, gpu.SimDevice{Name: "Simulated bare GPU"})
	p := gpu.NewSimulated(devs)
	s := NewSampler(p, time.Second, newFakeClock(), ProcHost{FS: procFS(100, 1000)}, nil)
	r, err := NewReport(context.Background(), p, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "report.golden.json")
	if *rewrite {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("report changed (rerun with -rewrite and review):\n%s", got)
	}
}

func TestReportNoGPUs(t *testing.T) {
	p := &gpu.None{Reason: gpu.ErrNoDriver.Error()}
	s := NewSampler(p, time.Second, newFakeClock(), nil, nil)
	r, err := NewReport(context.Background(), p, s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	want := `{"inventory":{"source":"none","simulated":false,"reason":"gpu: no NVIDIA driver (libnvidia-ml not found)","devices":[]},"telemetry":{"taken_at_unix_ms":1700000000000,"gpus":[]}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}
