package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultEvery is a Coalescer's default write interval.
const DefaultEvery = 200 * time.Millisecond

// Coalescer batches replacements of small files: Put keeps only the newest
// content of each path, and Run writes what is pending (with Write) every
// Every and once more when it stops. A caller that replaces a file on
// every request (a usage meter) pays one synced write per interval instead
// of one per request, and many callers do not queue behind each other's
// fsyncs. The price is stated: a crash loses at most the contents Put in
// the last interval; the file then holds an older content, whole.
//
// After Run has returned, Put writes at once (nothing is left pending by a
// late caller). The zero value is not usable: use NewCoalescer.
type Coalescer struct {
	every time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	pending map[string][]byte
	stopped bool

	// io is held while pending contents are written or a file is removed,
	// so a Remove never races a write of the same path (the file is not
	// brought back by a write that started before it).
	io sync.Mutex
}

// NewCoalescer returns a Coalescer writing every every (DefaultEvery when
// zero or negative); log may be nil.
func NewCoalescer(every time.Duration, log *slog.Logger) *Coalescer {
	if every <= 0 {
		every = DefaultEvery
	}
	if log == nil {
		log = slog.Default()
	}
	return &Coalescer{every: every, log: log, pending: make(map[string][]byte)}
}

// Put makes data path's next content. data is kept, not copied: the
// caller must not change it afterwards.
func (c *Coalescer) Put(path string, data []byte) error {
	c.mu.Lock()
	if !c.stopped {
		c.pending[path] = data
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	c.io.Lock()
	defer c.io.Unlock()
	return Write(path, data)
}

// Remove drops path's pending content and deletes the file (a missing
// file is not an error).
func (c *Coalescer) Remove(path string) error {
	c.io.Lock()
	defer c.io.Unlock()
	c.mu.Lock()
	delete(c.pending, path)
	c.mu.Unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return nil
}

// Pending reports how many paths wait to be written.
func (c *Coalescer) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Flush writes every pending content now. A path whose write failed stays
// pending (unless a newer content was Put meanwhile) and is tried again at
// the next Flush; the errors are joined.
func (c *Coalescer) Flush() error {
	c.io.Lock()
	defer c.io.Unlock()
	c.mu.Lock()
	batch := c.pending
	c.pending = make(map[string][]byte, len(batch))
	c.mu.Unlock()
	var errs []error
	for path, data := range batch {
		if err := Write(path, data); err != nil {
			errs = append(errs, err)
			c.mu.Lock()
			if _, newer := c.pending[path]; !newer {
				c.pending[path] = data
			}
			c.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// Run writes what is pending every interval until ctx ends, then flushes
// a last time, marks c stopped (Put writes at once from then on) and
// returns nil. Failed writes are logged and retried.
func (c *Coalescer) Run(ctx context.Context) error {
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.stopped = true
			c.mu.Unlock()
			if err := c.Flush(); err != nil {
				c.log.Error("files not written at stop", "err", err)
			}
			return nil
		case <-t.C:
			if err := c.Flush(); err != nil {
				c.log.Warn("files not written, retrying", "err", err)
			}
		}
	}
}
