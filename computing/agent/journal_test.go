package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/jobs"
)

func TestJournalSaveLoad(t *testing.T) {
	j := NewJournal(filepath.Join(t.TempDir(), "agent", "journal.json"))
	if got, err := j.Load(); err != nil || len(got) != 0 {
		t.Fatalf("missing journal: %v %v", got, err)
	}
	want := []Entry{
		{ID: 1, Attempt: 1, Phase: PhaseAccepting, GPUs: 2, TimeoutSeconds: 60, AcceptTx: common.Hash{1}},
		{ID: 7, Attempt: 2, Phase: PhaseReporting, GPUs: 1, TimeoutSeconds: 10, Record: common.Hash{9}, GPUMillis: 1234, Exit: -1, StartedMs: 99,
			Digest: common.Hash{8}},
		{ID: 8, Phase: PhaseReexec, GPUs: 1, TimeoutSeconds: 10, StartedMs: 5},
		{ID: 9, Phase: PhaseReexecReporting, GPUs: 1, TimeoutSeconds: 10, Record: common.Hash{3}, Digest: common.Hash{4}, ResultTx: common.Hash{5}},
	}
	if err := j.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err := j.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("loaded %+v, want %+v", got, want)
	}
	if err := j.Save(nil); err != nil {
		t.Fatal(err)
	}
	if got, err := j.Load(); err != nil || len(got) != 0 {
		t.Fatalf("emptied journal: %v %v", got, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(j.Path()))
	if len(ents) != 1 {
		t.Fatalf("%d files in the journal dir, want 1 (no temporaries left)", len(ents))
	}
}

func TestDecodeJournalRejects(t *testing.T) {
	for name, in := range map[string]string{
		"garbage":   "{",
		"version":   `{"version":2,"entries":[]}`,
		"unknown":   `{"version":1,"entries":[],"x":1}`,
		"zero id":   `{"version":1,"entries":[{"id":0,"phase":1}]}`,
		"repeated":  `{"version":1,"entries":[{"id":1,"attempt":1,"phase":1},{"id":1,"attempt":1,"phase":1}]}`,
		"phase":     `{"version":1,"entries":[{"id":1,"attempt":1,"phase":9}]}`,
		"no record": `{"version":1,"entries":[{"id":1,"attempt":1,"phase":3}]}`,
		// Re-executions have attempt 0, assignments never.
		"no attempt":       `{"version":1,"entries":[{"id":1,"phase":2}]}`,
		"reexec attempt":   `{"version":1,"entries":[{"id":1,"attempt":1,"phase":4}]}`,
		"no reexec digest": `{"version":1,"entries":[{"id":1,"phase":5}]}`,
	} {
		if _, err := DecodeJournal([]byte(in)); !errors.Is(err, ErrBadJournal) {
			t.Errorf("%s: err %v, want ErrBadJournal", name, err)
		}
	}
}

func FuzzDecodeJournal(f *testing.F) {
	good, _ := EncodeJournal([]Entry{{ID: 3, Attempt: 1, Phase: PhaseRunning, GPUs: 1}})
	f.Add(good)
	f.Add([]byte(`{"version":1,"entries":[]}`))
	f.Add([]byte(`{"version":1,"entries":[{"id":1,"phase":3,"record":"0x01"}]}`))
	rx, _ := EncodeJournal([]Entry{{ID: 4, Phase: PhaseReexec, GPUs: 1}, {ID: 5, Phase: PhaseReexecReporting, Digest: common.Hash{1}, Record: common.Hash{2}}})
	f.Add(rx)
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := DecodeJournal(data)
		if err != nil {
			return
		}
		again, err := EncodeJournal(es)
		if err != nil {
			t.Fatalf("decoded journal does not encode: %v", err)
		}
		es2, err := DecodeJournal(again)
		if err != nil || len(es2) != len(es) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range es {
			if es[i] != es2[i] {
				t.Fatalf("entry %d: %+v then %+v", i, es[i], es2[i])
			}
		}
		if !bytes.Equal(again, mustEncode(t, es2)) {
			t.Fatal("encoding not stable")
		}
	})
}

func mustEncode(t *testing.T, es []Entry) []byte {
	b, err := EncodeJournal(es)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProgramsLoadVerify(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tool")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := NewPrograms(filepath.Join(dir, "programs"))
	if l, err := p.List(); err != nil || len(l) != 0 {
		t.Fatalf("empty store lists %v %v", l, err)
	}
	d, err := p.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, junk := range []string{"notes.txt", strings.ToUpper(hex.EncodeToString(d[:]))} {
		if err := os.WriteFile(filepath.Join(p.Dir(), junk), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := p.List(); err != nil || len(l) != 1 || l[0] != d {
		t.Fatalf("List %v %v, want [%x]", l, err, d)
	}
	if want := common.HexToHash("0x" + sha256Hex([]byte("#!/bin/sh\necho hi\n"))); d != want {
		t.Fatalf("digest %x, want %x", d, want)
	}
	if !p.Has(d) || p.Has(common.Hash{1}) {
		t.Fatal("Has")
	}
	if err := p.Verify(d); err != nil {
		t.Fatal(err)
	}
	if d2, err := p.Load(src); err != nil || d2 != d {
		t.Fatalf("second load: %x %v", d2, err)
	}
	if err := os.WriteFile(p.Path(d), []byte("tampered"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(d); !errors.Is(err, ErrProgramHash) {
		t.Fatalf("tampered program: %v", err)
	}
	if _, err := p.Load(dir); err == nil {
		t.Fatal("loaded a directory")
	}
}

func TestToRunSpec(t *testing.T) {
	s := jobs.Spec{Image: common.Hash{0xab}, Args: []string{"-n", "3"}, Env: []string{"A=1", "B=x=y"},
		GPUs: 2, MinMemoryMiB: 1024, TimeoutSeconds: 30, OutputCapBytes: 1 << 20}
	p := NewPrograms("/data/programs")
	rs, err := ToRunSpec(ExecutorProcess, p, 17, 5, 2, &s)
	if err != nil {
		t.Fatal(err)
	}
	if rs.ID != "emc-17-5-2" || rs.Command != p.Path(s.Image) || rs.Image != "" || rs.GPUCount != 2 ||
		rs.MinGPUMemoryBytes != 1<<30 || rs.TimeoutMillis != 30_000 || rs.MaxOutputBytes != 1<<20 ||
		rs.Env["B"] != "x=y" || len(rs.Args) != 2 {
		t.Fatalf("process spec %+v", rs)
	}
	rs, err = ToRunSpec(ExecutorDocker, nil, 17, 5, 2, &s)
	if err != nil || rs.Image != "sha256:ab"+string(bytes.Repeat([]byte("0"), 62)) || rs.Command != "" {
		t.Fatalf("docker spec %+v %v", rs, err)
	}
	s.Env = []string{"1BAD=x"}
	if _, err := ToRunSpec(ExecutorDocker, nil, 17, 5, 2, &s); err == nil {
		t.Fatal("env name the executor refuses was accepted")
	}
	if _, err := ToRunSpec("vm", nil, 1, 1, 1, &s); err == nil {
		t.Fatal("unknown executor")
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// KillProcesses finds a leftover run by its EMC_JOB_ID and kills its group.
func TestKillProcesses(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & wait")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "EMC_JOB_ID=emc-test-leftover-1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if n, err := KillProcesses("/proc", "emc-test-leftover-2"); err != nil || n != 0 {
		t.Fatalf("another run's id killed %d (%v)", n, err)
	}
	n, err := KillProcesses("/proc", "emc-test-leftover-1")
	if err != nil || n < 1 {
		t.Fatalf("killed %d (%v), want the leftover", n, err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("leftover still running")
	}
}
