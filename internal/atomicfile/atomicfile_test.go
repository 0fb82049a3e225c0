package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "f")
	for _, want := range []string{"one", "two, longer", ""} {
		if err := Write(path, []byte(want)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(ents) != 1 {
		t.Fatalf("directory holds %d entries (%v), want the file alone (no temporary left)", len(ents), err)
	}
	// A directory in the way is an error, not a panic.
	if err := Write(filepath.Dir(path), []byte("x")); err == nil {
		t.Fatal("wrote over a directory")
	}
}
