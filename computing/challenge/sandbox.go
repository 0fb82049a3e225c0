package challenge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/pow"
)

// ErrProver is returned by SandboxProver.Prove when the prover program
// did not hand back a usable answer: it failed, timed out, left no leaf
// file, a file [pow.ReadLeafFile] refuses, or leaves that fail the spot
// check against the CPU recomputation. The challenge then fails cleanly:
// nothing is committed.
var ErrProver = errors.New("challenge: sandboxed prover")

// Defaults of a SandboxProverConfig.
const (
	// DefaultSpotChecks is how many chunks the node recomputes on the CPU
	// and checks against the prover's leaves before it commits.
	DefaultSpotChecks = 4
	// DefaultProverTimeout bounds a prover run when neither the context
	// nor Timeout gives a deadline.
	DefaultProverTimeout = 10 * time.Minute
)

// SandboxProverConfig configures a SandboxProver.
type SandboxProverConfig struct {
	// Run runs a job spec: the Run of an executor (computing/executor)
	// whose Config.Store is Store.
	Run func(context.Context, *job.Spec) (*job.Result, error)
	// Store receives the prover's output files from the executor.
	Store *ProverStore
	// Image is the container image holding the prover (Docker executor);
	// empty for the process executor.
	Image string
	// Command is the prover program: the path of the emcd binary for the
	// process executor; for Docker the entrypoint, empty for the image's
	// own (emcd's image: /usr/local/bin/emcd).
	Command string
	// Workers is the prover's --workers and its CPU limit (cores).
	Workers int
	// GPUs is how many GPUs the prover asks for, allocated and passed as
	// for jobs. When they are not there (busy with jobs, or none), the
	// prover runs without: the CPU reference does not need them.
	GPUs int
	// MemoryBytes caps the prover's memory; 0: ProverMemory(n).
	MemoryBytes int64
	// Timeout is the limit of a run for a problem size (the class's
	// commit deadline); the context's deadline, when sooner, wins. Nil:
	// DefaultProverTimeout.
	Timeout func(n int) time.Duration
	// SpotChecks is the chunks recomputed against the leaves (default
	// DefaultSpotChecks, at most pow.MaxOpenings).
	SpotChecks int
	// Rand chooses the spot-checked chunks (default crypto/rand).
	Rand io.Reader
	Log  *slog.Logger
}

// SandboxProver computes a challenge by running a prover program in the
// node's sandbox: `emcd pow prove` (the CPU reference, [pow.ProveToDir])
// or any image implementing the same command line, e.g. a GPU one. The
// program leaves a leaf file in its output dir ([pow.LeafFileName]); the
// node reads it ([pow.ReadLeafFile]: size, header, root recomputed from
// the leaves), opens SpotChecks random chunks against a CPU recomputation,
// and keeps a [pow.Prover] over the leaves that recomputes every chunk it
// serves. A broken prover cannot make the node commit a root it cannot
// open: Prove returns [ErrProver] instead.
type SandboxProver struct {
	cfg SandboxProverConfig
	log *slog.Logger
	mu  sync.Mutex // one run at a time: Store is emptied after each
	seq int
}

// NewSandboxProver checks cfg and returns the prover; its Prove is a
// ProveFunc.
func NewSandboxProver(cfg SandboxProverConfig) (*SandboxProver, error) {
	if cfg.Run == nil || cfg.Store == nil {
		return nil, errors.New("challenge: sandboxed prover needs an executor and its store")
	}
	if cfg.Image == "" && cfg.Command == "" {
		return nil, errors.New("challenge: sandboxed prover needs an image or a command")
	}
	if cfg.Workers < 1 || cfg.GPUs < 0 || cfg.MemoryBytes < 0 {
		return nil, fmt.Errorf("challenge: sandboxed prover: %d workers, %d GPUs, %d bytes of memory", cfg.Workers, cfg.GPUs, cfg.MemoryBytes)
	}
	if cfg.SpotChecks == 0 {
		cfg.SpotChecks = DefaultSpotChecks
	}
	if cfg.SpotChecks < 1 || cfg.SpotChecks > pow.MaxOpenings {
		return nil, fmt.Errorf("challenge: sandboxed prover: %d spot checks (1 to %d)", cfg.SpotChecks, pow.MaxOpenings)
	}
	if cfg.Timeout == nil {
		cfg.Timeout = func(int) time.Duration { return DefaultProverTimeout }
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &SandboxProver{cfg: cfg, log: cfg.Log.With("component", "challenge_prover")}, nil
}

// ProverMemory is the memory limit of a CPU-reference prover for an n×n
// workload: B and C (5·n² bytes), the leaves and their tree (about
// 64 bytes a chunk) and 256 MiB for the runtime (6.3 GiB at n = 32768).
func ProverMemory(n int) int64 {
	return 5*int64(n)*int64(n) + 64*int64(pow.Chunks(n)) + 256<<20
}

// ProverArgs is the prover's command line for w, after the program: the
// contract every prover image implements. The output dir is
// $EMC_OUTPUT_DIR (set by the executor).
func ProverArgs(w pow.Workload, workers int) []string {
	return []string{"pow", "prove", "--seed", hex.EncodeToString(w.Seed[:]), "--n", strconv.Itoa(w.N), "--workers", strconv.Itoa(workers)}
}

// Prove runs the prover for w and returns a Prover over its checked
// leaves. It returns ctx's error when ctx ends first (the executor kills
// the prover), and ErrProver for a prover that failed or answered wrongly.
func (s *SandboxProver) Prove(ctx context.Context, w pow.Workload) (*pow.Prover, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.cfg.Store.clear()
	s.seq++
	timeout := s.cfg.Timeout(w.N)
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout < time.Millisecond {
		return nil, fmt.Errorf("%w: no time left to run it", ErrProver)
	}
	mem := s.cfg.MemoryBytes
	if mem == 0 {
		mem = ProverMemory(w.N)
	}
	spec := &job.Spec{
		ID:             fmt.Sprintf("pow-%x-%d-%d", w.Seed[:4], w.N, s.seq),
		Image:          s.cfg.Image,
		Command:        s.cfg.Command,
		Args:           ProverArgs(w, s.cfg.Workers),
		GPUCount:       s.cfg.GPUs,
		CPUMillicores:  int64(s.cfg.Workers) * 1000,
		MemoryBytes:    mem,
		TimeoutMillis:  max(timeout.Milliseconds(), 1),
		MaxOutputBytes: pow.LeafFileSize(w.N) + 64<<10,
	}
	log := s.log.With("n", w.N, "job", spec.ID)
	started := time.Now()
	r, err := s.cfg.Run(ctx, spec)
	if spec.GPUCount > 0 && (errors.Is(err, gpu.ErrGPUsBusy) || errors.Is(err, gpu.ErrInsufficientGPUs)) {
		log.Warn("challenge prover runs without GPUs", "asked", spec.GPUCount, "err", err)
		spec.GPUCount = 0
		r, err = s.cfg.Run(ctx, spec)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("challenge: prover: %w", ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProver, err)
	}
	if r.Status != job.StatusSucceeded {
		return nil, fmt.Errorf("%w: %s, exit code %d: %s", ErrProver, r.Status, r.ExitCode, lastLine(r.StderrTail))
	}
	i := slices.IndexFunc(r.Outputs, func(o job.Output) bool { return o.Path == pow.LeafFileName })
	if i < 0 {
		return nil, fmt.Errorf("%w: no %s in its outputs", ErrProver, pow.LeafFileName)
	}
	p, err := s.read(r.Outputs[i], w)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProver, err)
	}
	idx, err := s.spotIndices(w.N)
	if err != nil {
		return nil, err
	}
	if _, err := p.Open(idx); err != nil {
		return nil, fmt.Errorf("%w: spot check of chunks %v: %w", ErrProver, idx, err)
	}
	root := p.Root()
	log.Info("challenge proven in the sandbox", "root", hex.EncodeToString(root[:]), "gpus", len(r.GPUUUIDs),
		"wall", time.Since(started).Round(time.Millisecond), "spot_checks", len(idx))
	return p, nil
}

func (s *SandboxProver) read(o job.Output, w pow.Workload) (*pow.Prover, error) {
	rc, size, err := s.cfg.Store.OpenBlob(o.SHA256)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return pow.ReadLeafFile(rc, size, w)
}

// spotIndices draws SpotChecks distinct chunks of an n×n output (fewer
// when it has fewer), sorted.
func (s *SandboxProver) spotIndices(n int) ([]int, error) {
	m := pow.Chunks(n)
	k := min(s.cfg.SpotChecks, m)
	seen := make(map[int]bool, k)
	var buf [8]byte
	for len(seen) < k {
		if _, err := io.ReadFull(s.cfg.Rand, buf[:]); err != nil {
			return nil, fmt.Errorf("challenge: spot check: %w", err)
		}
		seen[int(binary.LittleEndian.Uint64(buf[:])%uint64(m))] = true
	}
	idx := make([]int, 0, k)
	for i := range seen {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx, nil
}

// lastLine is the last non-empty line of a log tail, at most 300 bytes.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[len(s)-300:]
	}
	if s == "" {
		return "(no stderr)"
	}
	return strings.ToValidUTF8(s, "?")
}

// ProverStore is the BlobStore of the prover's executor: a private
// directory the executor moves the prover's output files into, named by
// their SHA-256. It holds the files of one run at a time; the prover
// empties it after each.
type ProverStore struct{ dir string }

// NewProverStore creates (or empties) dir and returns the store.
func NewProverStore(dir string) (*ProverStore, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("challenge: prover store: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("challenge: prover store: %w", err)
	}
	return &ProverStore{dir: dir}, nil
}

// PutFile moves the file at path into the store (a rename; a copy
// across file systems) and returns its SHA-256 and size; a file over
// limit bytes is refused.
func (s *ProverStore) PutFile(path string, limit int64) (string, int64, error) {
	tmp, err := os.CreateTemp(s.dir, ".put-*")
	if err != nil {
		return "", 0, fmt.Errorf("challenge: prover store: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := os.Rename(path, tmp.Name()); err != nil {
		if err := copyFile(path, tmp.Name(), limit); err != nil {
			return "", 0, fmt.Errorf("challenge: prover store: %w", err)
		}
	}
	f, err := os.Open(tmp.Name())
	if err != nil {
		return "", 0, fmt.Errorf("challenge: prover store: %w", err)
	}
	h := sha256.New()
	size, err := io.Copy(h, io.LimitReader(f, limit+1))
	f.Close()
	if err != nil {
		return "", 0, fmt.Errorf("challenge: prover store: %w", err)
	}
	if size > limit {
		return "", 0, fmt.Errorf("challenge: prover store: %s is over %d bytes", filepath.Base(path), limit)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, sum)); err != nil {
		return "", 0, fmt.Errorf("challenge: prover store: %w", err)
	}
	return sum, size, nil
}

// OpenBlob opens the stored file with that SHA-256.
func (s *ProverStore) OpenBlob(sum string) (io.ReadCloser, int64, error) {
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		return nil, 0, fmt.Errorf("challenge: prover store: bad blob name %q", sum)
	}
	f, err := os.Open(filepath.Join(s.dir, sum))
	if err != nil {
		return nil, 0, fmt.Errorf("challenge: prover store: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("challenge: prover store: %w", err)
	}
	return f, fi.Size(), nil
}

// clear removes every stored file.
func (s *ProverStore) clear() {
	ents, _ := os.ReadDir(s.dir)
	for _, e := range ents {
		_ = os.RemoveAll(filepath.Join(s.dir, e.Name()))
	}
}

func copyFile(src, dst string, limit int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.LimitReader(in, limit+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
