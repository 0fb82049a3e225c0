package results

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emc-network/emcd/computing/job"
)

func hashOf(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func openStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBlobs(t *testing.T) {
	s := openStore(t, Config{MaxBlobBytes: 10, MaxTotalBytes: 24})
	sum, n, err := s.PutBlob(strings.NewReader("hello"), 0)
	if err != nil || n != 5 || sum != hashOf([]byte("hello")) {
		t.Fatalf("put: %s %d %v", sum, n, err)
	}
	if _, _, err := s.PutBlob(strings.NewReader("hello"), 0); err != nil { // dedup: no new bytes
		t.Fatal(err)
	}
	rc, size, err := s.OpenBlob(sum)
	if err != nil || size != 5 {
		t.Fatal(size, err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
	if err := s.VerifyBlob(sum); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutBlob(strings.NewReader("0123456789a"), 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over MaxBlobBytes: %v", err)
	}
	if _, _, err := s.PutBlob(strings.NewReader("abc"), 2); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over limit: %v", err)
	}
	if _, _, err := s.PutBlob(strings.NewReader("0123456789"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutBlob(strings.NewReader("abcdefghij"), 0); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("over MaxTotalBytes: %v", err)
	}
	if _, _, err := s.OpenBlob(strings.Repeat("0", 64)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, _, err := s.OpenBlob("../../etc/passwd"); !errors.Is(err, ErrBadHash) {
		t.Fatalf("bad hash: %v", err)
	}
	// Bit rot (or tampering) is caught on verify.
	os.WriteFile(s.blobPath(sum), []byte("jello"), 0o600)
	if err := s.VerifyBlob(sum); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(ents) != 0 {
		t.Fatalf("tmp not cleaned: %v", ents)
	}
}

func TestPutFileRefusesNonRegular(t *testing.T) {
	s := openStore(t, Config{})
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("host secret"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(secret, link)
	if _, _, err := s.PutFile(link, 0); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("symlink: %v", err)
	}
	if _, _, err := s.PutFile(dir, 0); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("dir: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err == nil {
		if _, _, err := s.PutFile(fifo, 0); !errors.Is(err, ErrNotRegular) {
			t.Fatalf("fifo: %v", err)
		}
	}
	if sum, _, err := s.PutFile(secret, 0); err != nil || sum != hashOf([]byte("host secret")) {
		t.Fatal(sum, err)
	}
}

func record(t *testing.T, s *Store, id string, finished time.Time, outputs ...string) *job.Result {
	t.Helper()
	r := &job.Result{JobID: id, Executor: "process", Status: job.StatusSucceeded}
	for i, o := range outputs {
		sum, n, err := s.PutBlob(strings.NewReader(o), 0)
		if err != nil {
			t.Fatal(err)
		}
		r.Outputs = append(r.Outputs, job.Output{Path: "f" + string(rune('0'+i)), SHA256: sum, SizeBytes: n})
	}
	r.SetTimes(finished.Add(-time.Second), finished)
	if err := r.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveResult(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResults(t *testing.T) {
	s := openStore(t, Config{})
	now := time.Unix(1_800_000_000, 0)
	r := record(t, s, "j1", now, "out-a", "out-b")
	got, err := s.Verify(r.RecordSHA256)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := r.Encode()
	b, _ := got.Encode()
	if !bytes.Equal(a, b) {
		t.Fatal("record changed on the way through the store")
	}
	// A record whose output blob is missing is refused.
	bad := &job.Result{JobID: "j2", Outputs: []job.Output{{Path: "x", SHA256: strings.Repeat("1", 64)}}}
	bad.Seal()
	if err := s.SaveResult(bad); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	unsealed := *r
	unsealed.ExitCode = 3
	if err := s.SaveResult(&unsealed); !errors.Is(err, job.ErrRecordHash) {
		t.Fatalf("unsealed: %v", err)
	}
	// Tampering with a stored record or its output is detected.
	os.WriteFile(s.blobPath(r.Outputs[1].SHA256), []byte("forged"), 0o600)
	if _, err := s.Verify(r.RecordSHA256); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered output: %v", err)
	}
	data, _ := os.ReadFile(s.recordPath(r.RecordSHA256))
	os.WriteFile(s.recordPath(r.RecordSHA256), bytes.Replace(data, []byte(`"exit_code":0`), []byte(`"exit_code":1`), 1), 0o600)
	if _, err := s.LoadResult(r.RecordSHA256); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered record: %v", err)
	}
	if _, err := s.LoadResult(strings.Repeat("2", 64)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}
}

func TestCleanup(t *testing.T) {
	s := openStore(t, Config{Retention: 24 * time.Hour, GCGrace: time.Hour, MaxTotalBytes: 1 << 20})
	now := time.Now()
	old := record(t, s, "old", now.Add(-48*time.Hour), "old-output", "shared")
	fresh := record(t, s, "fresh", now.Add(-time.Hour), "fresh-output", "shared")
	staged, _, _ := s.PutBlob(strings.NewReader("input staged for a running job"), 0)

	recs, blobs, err := s.Cleanup(now)
	if err != nil {
		t.Fatal(err)
	}
	// Only "old" expired; the blob it alone used is within GCGrace (just
	// written), so it stays until the grace passes.
	if recs != 1 || blobs != 0 {
		t.Fatalf("removed %d records %d blobs", recs, blobs)
	}
	if _, err := s.LoadResult(old.RecordSHA256); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old record kept: %v", err)
	}
	recs, blobs, err = s.Cleanup(now.Add(2 * time.Hour))
	if err != nil || recs != 0 || blobs != 2 { // old-output and the staged input
		t.Fatalf("later cleanup: %d %d %v", recs, blobs, err)
	}
	if _, err := s.Verify(fresh.RecordSHA256); err != nil {
		t.Fatalf("fresh record damaged: %v", err)
	}
	if _, _, err := s.OpenBlob(staged); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unreferenced blob kept: %v", err)
	}
}

func TestCleanupSizeLimit(t *testing.T) {
	s := openStore(t, Config{MaxTotalBytes: 1 << 20})
	now := time.Now()
	big := strings.Repeat("x", 400<<10)
	r1 := record(t, s, "a", now.Add(-3*time.Minute), big+"1")
	r2 := record(t, s, "b", now.Add(-2*time.Minute), big+"2")
	s.cfg.MaxTotalBytes = 600 << 10 // an operator lowered the limit
	if _, _, err := s.Cleanup(now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadResult(r1.RecordSHA256); !errors.Is(err, ErrNotFound) {
		t.Fatalf("oldest record kept over the limit: %v", err)
	}
	if _, err := s.Verify(r2.RecordSHA256); err != nil {
		t.Fatalf("newest record: %v", err)
	}
	if s.total > 600<<10 {
		t.Fatalf("store still %d bytes", s.total)
	}
}
