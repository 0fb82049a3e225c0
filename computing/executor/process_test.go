package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/results"
)

func processHarness(t *testing.T, cfg Config) *harness {
	return &harness{
		exec:  NewProcess(cfg),
		store: cfg.Store.(*results.Store),
		spec: func(id string, steps ...string) *job.Spec {
			return &job.Spec{ID: id, Command: jobtoolPath, Args: steps}
		},
	}
}

func TestProcessConformance(t *testing.T) { runConformance(t, processHarness) }

// TestProcessKillsGroup: a timeout kills the job's children too, so nothing
// it forked outlives it.
func TestProcessKillsGroup(t *testing.T) {
	cfg := baseConfig(t)
	h := processHarness(t, cfg)
	marker := filepath.Join(t.TempDir(), "grandchild-survived")
	spec := h.spec("group", "grandchild:1500ms:"+marker, "sleep:60s")
	spec.TimeoutMillis = 500
	r, err := h.exec.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != job.StatusTimedOut {
		t.Fatalf("status %s", r.Status)
	}
	// Wait past the grandchild's sleep: it must be dead and never write.
	time.Sleep(2 * time.Second)
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("grandchild survived the kill: %v", err)
	}
}

func TestProcessWorkingDir(t *testing.T) {
	cfg := baseConfig(t)
	h := processHarness(t, cfg)
	r, err := h.exec.Run(context.Background(), h.spec("wd", "env:EMC_OUTPUT_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(filepath.Dir(strings.TrimSpace(r.StdoutTail))) != cfg.ScratchDir {
		t.Fatalf("output dir %q not under scratch %s", r.StdoutTail, cfg.ScratchDir)
	}
	ents, _ := os.ReadDir(cfg.ScratchDir)
	if len(ents) != 0 {
		t.Fatalf("scratch dir not cleaned: %v", ents)
	}
	if _, err := h.exec.Run(context.Background(), &job.Spec{ID: "img", Image: "x"}); !errors.Is(err, ErrWrongKind) {
		t.Fatalf("image spec on process executor: %v", err)
	}
}
