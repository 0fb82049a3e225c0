package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ethereum/go-ethereum/common"
)

// MaxProgramBytes bounds a program loaded for the process executor.
const MaxProgramBytes = 1 << 30

// ErrProgramHash is returned when a stored program no longer hashes to its
// name.
var ErrProgramHash = errors.New("agent: program does not match its digest")

// Programs is the process executor's image store: executables kept at
// DIR/<sha256-hex>, named by their own sha256, so a job's on-chain image
// digest names one program and the node can check it holds the right one.
type Programs struct{ dir string }

// NewPrograms returns the store at dir (DATADIR/compute/programs).
func NewPrograms(dir string) *Programs { return &Programs{dir: dir} }

// Dir returns the store's directory.
func (p *Programs) Dir() string { return p.dir }

// Path is where the program with digest lives.
func (p *Programs) Path(digest common.Hash) string {
	return filepath.Join(p.dir, hex.EncodeToString(digest[:]))
}

// Has reports whether a program with digest is stored (its content is
// checked when it is run: Verify).
func (p *Programs) Has(digest common.Hash) bool {
	fi, err := os.Stat(p.Path(digest))
	return err == nil && fi.Mode().IsRegular()
}

// List returns the digests of the stored programs, sorted (a missing
// store holds none). Files whose names are not 64 hex digits, and
// anything not a regular file, are not programs and are skipped.
func (p *Programs) List() ([]common.Hash, error) {
	ents, err := os.ReadDir(p.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: programs: %w", err)
	}
	var out []common.Hash
	for _, e := range ents {
		b, err := hex.DecodeString(e.Name())
		if err != nil || len(b) != common.HashLength || hex.EncodeToString(b) != e.Name() || !e.Type().IsRegular() {
			continue
		}
		out = append(out, common.BytesToHash(b))
	}
	return out, nil // ReadDir sorts by name: by digest
}

// Verify hashes the stored program and checks it against its digest.
func (p *Programs) Verify(digest common.Hash) error {
	f, err := os.Open(p.Path(digest))
	if err != nil {
		return fmt.Errorf("agent: program %x: %w", digest, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, MaxProgramBytes+1)); err != nil {
		return fmt.Errorf("agent: program %x: %w", digest, err)
	}
	if got := common.BytesToHash(h.Sum(nil)); got != digest {
		return fmt.Errorf("%w: %x hashes to %x", ErrProgramHash, digest, got)
	}
	return nil
}

// Load copies the executable at src into the store under its sha256 and
// returns the digest. Loading a program already held is a no-op.
func (p *Programs) Load(src string) (common.Hash, error) {
	in, err := os.Open(src)
	if err != nil {
		return common.Hash{}, fmt.Errorf("agent: load program: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return common.Hash{}, fmt.Errorf("agent: load program: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return common.Hash{}, fmt.Errorf("agent: load program: %s is not a regular file", src)
	}
	if fi.Size() > MaxProgramBytes {
		return common.Hash{}, fmt.Errorf("agent: load program: %s is %d bytes (at most %d)", src, fi.Size(), MaxProgramBytes)
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return common.Hash{}, fmt.Errorf("agent: load program: %w", err)
	}
	tmp, err := os.CreateTemp(p.dir, ".load-*")
	if err != nil {
		return common.Hash{}, fmt.Errorf("agent: load program: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(in, MaxProgramBytes+1))
	if err == nil && n > MaxProgramBytes {
		err = fmt.Errorf("%s grew past %d bytes", src, MaxProgramBytes)
	}
	if err == nil {
		err = tmp.Chmod(0o700)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return common.Hash{}, fmt.Errorf("agent: load program: %w", err)
	}
	digest := common.BytesToHash(h.Sum(nil))
	if err := os.Rename(tmp.Name(), p.Path(digest)); err != nil {
		return common.Hash{}, fmt.Errorf("agent: load program: %w", err)
	}
	return digest, nil
}
