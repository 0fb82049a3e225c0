package results

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emc-network/emcd/computing/job"
)

// Errors returned by Store.
var (
	// ErrNotFound is returned when no blob or record has the hash asked for.
	ErrNotFound = errors.New("results: not found")
	// ErrTooLarge is returned when a blob exceeds its size limit.
	ErrTooLarge = errors.New("results: blob too large")
	// ErrCorrupt is returned when stored bytes no longer match their hash.
	ErrCorrupt = errors.New("results: stored data does not match its hash")
	// ErrStoreFull is returned when a write would take the store past
	// Config.MaxTotalBytes.
	ErrStoreFull = errors.New("results: store full")
	// ErrNotRegular is returned by PutFile for a symlink, directory or
	// device: a job must not make the node read outside its output dir.
	ErrNotRegular = errors.New("results: not a regular file")
	// ErrBadHash is returned for a name that is not 64 lower-case hex digits.
	ErrBadHash = errors.New("results: malformed hash")
)

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Config bounds a store.
type Config struct {
	// MaxBlobBytes bounds one blob (default 1 GiB).
	MaxBlobBytes int64
	// MaxTotalBytes bounds blobs and records together (default 16 GiB).
	MaxTotalBytes int64
	// Retention is how long records are kept (default 7 days).
	Retention time.Duration
	// GCGrace keeps unreferenced blobs this long after they were written,
	// so a job's inputs staged before it runs are not collected (default 1h).
	GCGrace time.Duration
}

func (c *Config) fill() {
	if c.MaxBlobBytes <= 0 {
		c.MaxBlobBytes = 1 << 30
	}
	if c.MaxTotalBytes <= 0 {
		c.MaxTotalBytes = 16 << 30
	}
	if c.Retention <= 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.GCGrace <= 0 {
		c.GCGrace = time.Hour
	}
}

// Store is safe for concurrent use within one process (the data dir lock
// keeps other processes out).
type Store struct {
	dir string
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	total int64 // bytes in blobs and records
}

// Open opens (creating) the store at dir.
func Open(dir string, cfg Config, log *slog.Logger) (*Store, error) {
	cfg.fill()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{"blobs", "records", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
	}
	// Partial writes of a crashed process are garbage.
	if ents, err := os.ReadDir(filepath.Join(dir, "tmp")); err == nil {
		for _, e := range ents {
			_ = os.RemoveAll(filepath.Join(dir, "tmp", e.Name()))
		}
	}
	s := &Store{dir: dir, cfg: cfg, log: log.With("component", "results")}
	total, err := s.du()
	if err != nil {
		return nil, err
	}
	s.total = total
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// PutBlob stores r's bytes, at most limit of them (0: MaxBlobBytes), and
// returns their sha256 and size. Storing the same bytes twice keeps one copy.
func (s *Store) PutBlob(r io.Reader, limit int64) (sum string, size int64, err error) {
	if limit <= 0 || limit > s.cfg.MaxBlobBytes {
		limit = s.cfg.MaxBlobBytes
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "blob-")
	if err != nil {
		return "", 0, fmt.Errorf("results: %w", err)
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, limit+1))
	if err != nil {
		return "", 0, fmt.Errorf("results: write blob: %w", err)
	}
	if size > limit {
		return "", 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("results: %w", err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	dst := s.blobPath(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(dst); err == nil {
		os.Remove(tmp.Name())
		return sum, size, nil
	}
	if s.total+size > s.cfg.MaxTotalBytes {
		return "", 0, fmt.Errorf("%w: %d + %d bytes > %d", ErrStoreFull, s.total, size, s.cfg.MaxTotalBytes)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", 0, fmt.Errorf("results: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, fmt.Errorf("results: %w", err)
	}
	s.total += size
	return sum, size, nil
}

// PutFile stores the regular file at path without following symlinks.
func (s *Store) PutFile(path string, limit int64) (sum string, size int64, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return "", 0, fmt.Errorf("%w: %s is a symlink", ErrNotRegular, path)
		}
		return "", 0, fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("results: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", 0, fmt.Errorf("%w: %s is %s", ErrNotRegular, path, fi.Mode().Type())
	}
	return s.PutBlob(f, limit)
}

// OpenBlob opens the blob with the given hash for reading.
func (s *Store) OpenBlob(sum string) (io.ReadCloser, int64, error) {
	if !hashPattern.MatchString(sum) {
		return nil, 0, fmt.Errorf("%w: %q", ErrBadHash, sum)
	}
	f, err := os.Open(s.blobPath(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: blob %s", ErrNotFound, sum)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("results: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("results: %w", err)
	}
	return f, fi.Size(), nil
}

// VerifyBlob rehashes a blob.
func (s *Store) VerifyBlob(sum string) error {
	rc, _, err := s.OpenBlob(sum)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return fmt.Errorf("results: read blob %s: %w", sum, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("%w: blob %s hashes to %s", ErrCorrupt, sum, got)
	}
	return nil
}

// SaveResult stores a sealed record whose outputs are all in the store.
func (s *Store) SaveResult(r *job.Result) error {
	if err := r.Verify(); err != nil {
		return err
	}
	for _, o := range r.Outputs {
		if _, err := os.Stat(s.blobPath(o.SHA256)); err != nil {
			return fmt.Errorf("%w: output %s blob %s", ErrNotFound, o.Path, o.SHA256)
		}
	}
	data, err := r.Encode()
	if err != nil {
		return err
	}
	dst := s.recordPath(r.RecordSHA256)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if s.total+int64(len(data)) > s.cfg.MaxTotalBytes {
		return fmt.Errorf("%w: record of %d bytes", ErrStoreFull, len(data))
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "record-")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("results: save record: %w", err)
	}
	s.total += int64(len(data))
	return nil
}

// LoadResult reads a record back by its hash and checks the hash.
func (s *Store) LoadResult(hash string) (*job.Result, error) {
	if !hashPattern.MatchString(hash) {
		return nil, fmt.Errorf("%w: %q", ErrBadHash, hash)
	}
	f, err := os.Open(s.recordPath(hash))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: record %s", ErrNotFound, hash)
	}
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, job.MaxResultBytes+1))
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	r, err := job.DecodeResult(data)
	if err != nil {
		return nil, fmt.Errorf("%w: record %s: %w", ErrCorrupt, hash, err)
	}
	if r.RecordSHA256 != hash {
		return nil, fmt.Errorf("%w: record %s holds %s", ErrCorrupt, hash, r.RecordSHA256)
	}
	return r, nil
}

// Verify loads a record and rehashes every output blob it names.
func (s *Store) Verify(hash string) (*job.Result, error) {
	r, err := s.LoadResult(hash)
	if err != nil {
		return nil, err
	}
	for _, o := range r.Outputs {
		if err := s.VerifyBlob(o.SHA256); err != nil {
			return r, fmt.Errorf("output %s: %w", o.Path, err)
		}
	}
	return r, nil
}

// Results lists stored record hashes, sorted.
func (s *Store) Results() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "records"))
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	var out []string
	for _, e := range ents {
		if h, ok := strings.CutSuffix(e.Name(), ".json"); ok && hashPattern.MatchString(h) {
			out = append(out, h)
		}
	}
	return out, nil
}

// Cleanup removes records finished before now-Retention, then the oldest
// records while the store is over MaxTotalBytes, then blobs no remaining
// record names and older than GCGrace. It returns how many records and
// blobs it removed.
func (s *Store) Cleanup(now time.Time) (records, blobs int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hashes, err := s.Results()
	if err != nil {
		return 0, 0, err
	}
	type rec struct {
		hash     string
		finished int64
		outputs  []job.Output
	}
	var recs []rec
	for _, h := range hashes {
		r, err := s.LoadResult(h)
		if err != nil {
			s.log.Warn("removing unreadable record", "record", h, "err", err)
			os.Remove(s.recordPath(h))
			records++
			continue
		}
		recs = append(recs, rec{h, r.FinishedAtUnixMillis, r.Outputs})
	}
	slices.SortFunc(recs, func(a, b rec) int { return cmp.Compare(a.finished, b.finished) })
	cutoff := now.Add(-s.cfg.Retention).UnixMilli()
	keep := recs[:0]
	for _, r := range recs {
		if r.finished < cutoff {
			os.Remove(s.recordPath(r.hash))
			records++
			continue
		}
		keep = append(keep, r)
	}
	recs = keep
	// Over the size limit: drop the oldest records until the blobs and
	// records that remain fit.
	live := func() map[string]bool {
		m := map[string]bool{}
		for _, r := range recs {
			for _, o := range r.outputs {
				m[o.SHA256] = true
			}
		}
		return m
	}
	total, err := s.du()
	if err != nil {
		return records, 0, err
	}
	for total > s.cfg.MaxTotalBytes && len(recs) > 0 {
		os.Remove(s.recordPath(recs[0].hash))
		recs = recs[1:]
		records++
		total, _ = s.duLive(live())
	}
	referenced := live()
	graceCutoff := now.Add(-s.cfg.GCGrace)
	// Over the limit even so: unreferenced blobs go regardless of grace.
	full, err := s.du()
	if err != nil {
		return records, 0, err
	}
	over := full > s.cfg.MaxTotalBytes
	err = filepath.WalkDir(filepath.Join(s.dir, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if referenced[d.Name()] {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if fi.ModTime().After(graceCutoff) && !over {
			return nil
		}
		if os.Remove(path) == nil {
			blobs++
		}
		return nil
	})
	if err != nil {
		return records, blobs, fmt.Errorf("results: cleanup: %w", err)
	}
	s.total, err = s.du()
	return records, blobs, err
}

// du sums the sizes of all blobs and records.
func (s *Store) du() (int64, error) { return s.duLive(nil) }

// duLive sums records and, when live is non-nil, only the blobs in it.
func (s *Store) duLive(live map[string]bool) (int64, error) {
	var total int64
	for _, sub := range []string{"blobs", "records"} {
		err := filepath.WalkDir(filepath.Join(s.dir, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if live != nil && sub == "blobs" && !live[d.Name()] {
				return nil
			}
			fi, err := d.Info()
			if err == nil {
				total += fi.Size()
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("results: %w", err)
		}
	}
	return total, nil
}

func (s *Store) blobPath(sum string) string {
	return filepath.Join(s.dir, "blobs", sum[:2], sum)
}

func (s *Store) recordPath(hash string) string {
	return filepath.Join(s.dir, "records", hash+".json")
}
