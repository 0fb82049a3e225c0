package executor

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/job"
)

// scratch is one job's working area on the host:
//
//	root/in   inputs, read-only to the job
//	root/out  outputs, the only place the job may write
type scratch struct{ root, in, out string }

func newScratch(base, jobID string) (*scratch, error) {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, fmt.Errorf("executor: scratch: %w", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	root, err := os.MkdirTemp(base, jobID+"-"+hex.EncodeToString(b[:])+"-")
	if err != nil {
		return nil, fmt.Errorf("executor: scratch: %w", err)
	}
	s := &scratch{root: root, in: filepath.Join(root, "in"), out: filepath.Join(root, "out")}
	for _, d := range []string{s.in, s.out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			os.RemoveAll(root)
			return nil, fmt.Errorf("executor: scratch: %w", err)
		}
	}
	// The root must be traversable by the job's unprivileged user (the
	// process executor runs as the node's user, Docker bind-mounts in/out).
	if err := os.Chmod(root, 0o755); err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("executor: scratch: %w", err)
	}
	return s, nil
}

func (s *scratch) remove() error { return os.RemoveAll(s.root) }

// stageInputs copies each input blob into the input dir, checking its size
// and hash against the spec.
func stageInputs(store BlobStore, dir string, inputs []job.Input) error {
	for _, in := range inputs {
		if store == nil {
			return fmt.Errorf("%w: %s: no store configured", ErrInputMismatch, in.Path)
		}
		if err := stageInput(store, dir, in); err != nil {
			return err
		}
	}
	return nil
}

func stageInput(store BlobStore, dir string, in job.Input) error {
	rc, size, err := store.OpenBlob(in.SHA256)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInputMismatch, in.Path, err)
	}
	defer rc.Close()
	if size != in.SizeBytes {
		return fmt.Errorf("%w: %s: %d bytes, spec says %d", ErrInputMismatch, in.Path, size, in.SizeBytes)
	}
	dst := filepath.Join(dir, filepath.FromSlash(in.Path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("executor: stage %s: %w", in.Path, err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("executor: stage %s: %w", in.Path, err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(rc, size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("executor: stage %s: %w", in.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != in.SHA256 {
		return fmt.Errorf("%w: %s hashes to %s", ErrInputMismatch, in.Path, got)
	}
	return nil
}

// errOutputLimit is internal: the output dir grew past the spec's limit.
var errOutputLimit = errors.New("executor: output limit exceeded")

// dirSize sums the sizes of everything under dir without following links.
// Directory entries count too, so a job cannot hide in millions of empty
// files.
func dirSize(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			total += max(fi.Size(), 0)
		}
		return nil
	})
	return total
}

// watchOutputs calls kill once when dir grows past limit; it stops when ctx
// is done.
func watchOutputs(ctx context.Context, dir string, limit int64, every time.Duration, kill func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if dirSize(dir) > limit {
				kill()
				return
			}
		}
	}
}

// collectOutputs stores every regular file under dir and returns them by
// path. Symlinks and other non-regular files are skipped: following them
// would let a job read host files.
func collectOutputs(store BlobStore, dir string, limit int64) ([]job.Output, error) {
	var outs []job.Output
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if job.ValidPath(rel) != nil {
			return nil
		}
		if store == nil {
			return fmt.Errorf("executor: output %s: no store configured", rel)
		}
		if len(outs) >= maxOutputFiles {
			return fmt.Errorf("%w: more than %d files", errOutputLimit, maxOutputFiles)
		}
		sum, size, err := store.PutFile(path, limit-total)
		if err != nil {
			return fmt.Errorf("output %s: %w", rel, err)
		}
		total += size
		outs = append(outs, job.Output{Path: rel, SHA256: sum, SizeBytes: size})
		return nil
	})
	sort.Slice(outs, func(i, j int) bool { return outs[i].Path < outs[j].Path })
	return outs, err
}

// maxOutputFiles bounds the files of one result record.
const maxOutputFiles = 1024

// tail keeps the last n bytes written to it and counts all of them.
type tail struct {
	mu    sync.Mutex
	n     int
	buf   []byte
	total int64
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total += int64(len(p))
	if len(p) >= t.n {
		t.buf = append(t.buf[:0], p[len(p)-t.n:]...)
		return len(p), nil
	}
	if over := len(t.buf) + len(p) - t.n; over > 0 {
		t.buf = t.buf[over:]
	}
	t.buf = append(t.buf, p...)
	return len(p), nil
}

// String is the kept tail as valid UTF-8 (a cut rune becomes U+FFFD).
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.buf), "\uFFFD")
}

func (t *tail) Total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// prepare validates the spec and allocates GPUs; release must be called.
func prepare(cfg *Config, spec *job.Spec) (specHash string, alloc *gpu.Allocation, release func(), err error) {
	if err := spec.Validate(); err != nil {
		return "", nil, nil, err
	}
	if spec.Network && !cfg.AllowNetwork {
		return "", nil, nil, ErrNetworkNotAllowed
	}
	specHash, err = spec.SHA256()
	if err != nil {
		return "", nil, nil, err
	}
	alloc = &gpu.Allocation{JobID: spec.ID}
	release = func() {}
	if spec.GPUCount > 0 {
		if cfg.GPUs == nil {
			return "", nil, nil, fmt.Errorf("%w: asks for %d, node has none", gpu.ErrInsufficientGPUs, spec.GPUCount)
		}
		alloc, err = cfg.GPUs.Allocate(spec.ID, spec.GPUCount, spec.MinGPUMemoryBytes)
		if err != nil {
			return "", nil, nil, err
		}
		release = func() { cfg.GPUs.Release(spec.ID) }
	}
	return specHash, alloc, release, nil
}

// gpuEnv tells the job which GPUs it has. CUDA_VISIBLE_DEVICES and
// NVIDIA_VISIBLE_DEVICES accept UUIDs.
func gpuEnv(alloc *gpu.Allocation) []string {
	if len(alloc.Units) == 0 {
		return []string{"EMC_GPU_UUIDS="}
	}
	ids := strings.Join(alloc.UUIDs(), ",")
	env := []string{"EMC_GPU_UUIDS=" + ids}
	if !alloc.Simulated() {
		env = append(env, "CUDA_VISIBLE_DEVICES="+ids, "NVIDIA_VISIBLE_DEVICES="+ids)
	}
	return env
}

// specEnv is the spec's environment, sorted so runs are reproducible.
func specEnv(spec *job.Spec) []string {
	env := make([]string, 0, len(spec.Env))
	for k, v := range spec.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}
