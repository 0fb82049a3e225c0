package executor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/job"
)

// Executor runs jobs. Run returns a sealed result whenever the job started,
// whatever its exit code, timeout or cancellation; it returns an error, and
// no result, when the job could not be run at all (bad spec, GPUs refused,
// image missing, Docker daemon down).
type Executor interface {
	Run(ctx context.Context, spec *job.Spec) (*job.Result, error)
}

// Errors returned by executors.
var (
	// ErrDaemonUnavailable is returned when the Docker daemon does not
	// answer; the job failed, the node keeps running.
	ErrDaemonUnavailable = errors.New("executor: Docker daemon unavailable")
	// ErrImageNotFound is returned when the spec's image is not present
	// locally. Nothing is pulled: load it from a tarball first.
	ErrImageNotFound = errors.New("executor: image not present locally")
	// ErrNetworkNotAllowed is returned for a spec asking for network when
	// the operator did not allow it.
	ErrNetworkNotAllowed = errors.New("executor: job asks for network, not allowed on this node")
	// ErrInputMismatch is returned when an input blob is missing or its
	// size or hash differs from the spec.
	ErrInputMismatch = errors.New("executor: input does not match spec")
	// ErrWrongKind is returned when a spec cannot run on this executor
	// (no image for Docker, no command for Process).
	ErrWrongKind = errors.New("executor: spec does not fit this executor")
)

// BlobStore is where inputs come from and outputs go; results.Store
// implements it.
type BlobStore interface {
	OpenBlob(sha256 string) (io.ReadCloser, int64, error)
	PutFile(path string, limit int64) (sha256 string, size int64, err error)
}

// Config is shared by both executors.
type Config struct {
	// ScratchDir holds one directory per running job (DATADIR/compute/jobs).
	ScratchDir string
	// Store provides inputs and receives outputs.
	Store BlobStore
	// GPUs allocates GPUs; nil means the node has none.
	GPUs *gpu.Allocator
	// AllowNetwork lets specs that ask for network have it.
	AllowNetwork bool
	// LogTailBytes is how much of the end of stdout and of stderr is kept
	// (default 16 KiB).
	LogTailBytes int
	// OutputPollInterval is how often the output dir's size is checked
	// while a job runs (default 250ms).
	OutputPollInterval time.Duration
	// Now stamps results (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) fill() {
	if c.LogTailBytes <= 0 {
		c.LogTailBytes = 16 << 10
	}
	if c.OutputPollInterval <= 0 {
		c.OutputPollInterval = 250 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
