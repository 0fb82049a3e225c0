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
// content of each path, and the pending contents are written together
// (each with Write) every interval while Run runs, once more when it
// stops, and at once when somebody Waits for one.
//
// Two ways to use it:
//   - Batched: Put and go on. A caller that replaces a file on every
//     request pays one synced write per interval instead of one per
//     request; a crash loses at most the contents Put in the last
//     interval (the file then holds an older content, whole).
//   - Group commit: Put, release your locks, then Wait for the Ticket.
//     Wait returns once the content (or a newer one of the same path) is
//     on disk: durable like Write, but concurrent callers share the
//     fsyncs of one flush instead of queueing for one each.
//
// After Run has returned, Put writes at once. The zero value is not
// usable: use NewCoalescer.
type Coalescer struct {
	every time.Duration
	log   *slog.Logger
	kick  chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond // on mu: a flush ended
	pending  map[string][]byte
	gen      uint64 // Puts so far
	flushed  uint64 // every Put up to here is written (or failed)
	flushErr error  // the last flush's
	running  bool   // Run is running
	stopped  bool   // Run has returned

	// io is held while pending contents are written or a file is removed,
	// so a Remove never races a write of the same path (the file is not
	// brought back by a write that started before it).
	io sync.Mutex
}

// Ticket is a Put's claim to wait on (Wait).
type Ticket struct {
	gen  uint64
	done bool // written already (after Run returned)
	err  error
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
	c := &Coalescer{every: every, log: log, kick: make(chan struct{}, 1), pending: make(map[string][]byte)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Put makes data path's next content. data is kept, not copied: the
// caller must not change it afterwards.
func (c *Coalescer) Put(path string, data []byte) Ticket {
	c.mu.Lock()
	if !c.stopped {
		c.gen++
		c.pending[path] = data
		t := Ticket{gen: c.gen}
		c.mu.Unlock()
		return t
	}
	c.mu.Unlock()
	c.io.Lock()
	defer c.io.Unlock()
	err := Write(path, data)
	if err != nil {
		c.log.Error("file not written", "path", path, "err", err)
	}
	return Ticket{done: true, err: err}
}

// Wait returns once t's content, or a newer one of its path, is written,
// with the error of the flush that wrote it (joined over the files of
// that flush). It starts the flush itself when Run does not run.
func (c *Coalescer) Wait(t Ticket) error {
	if t.done {
		return t.err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.flushed < t.gen {
		if !c.running {
			c.mu.Unlock()
			_ = c.Flush()
			c.mu.Lock()
			continue
		}
		select {
		case c.kick <- struct{}{}:
		default:
		}
		c.cond.Wait()
	}
	return c.flushErr
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
	batch, gen := c.pending, c.gen
	c.pending = make(map[string][]byte, len(batch))
	c.mu.Unlock()
	var errs []error
	var failed map[string][]byte
	for path, data := range batch {
		if err := Write(path, data); err != nil {
			errs = append(errs, err)
			if failed == nil {
				failed = make(map[string][]byte)
			}
			failed[path] = data
		}
	}
	err := errors.Join(errs...)
	c.mu.Lock()
	for path, data := range failed {
		if _, newer := c.pending[path]; !newer {
			c.pending[path] = data
		}
	}
	if gen > c.flushed {
		c.flushed = gen
	}
	c.flushErr = err
	c.cond.Broadcast()
	c.mu.Unlock()
	return err
}

// Run writes what is pending every interval, and at once when a Wait asks,
// until ctx ends; then it flushes a last time, marks c stopped (Put writes
// at once from then on) and returns nil. Failed writes are logged and
// retried.
func (c *Coalescer) Run(ctx context.Context) error {
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.running, c.stopped = false, true
			c.mu.Unlock()
			if err := c.Flush(); err != nil {
				c.log.Error("files not written at stop", "err", err)
			}
			return nil
		case <-t.C:
		case <-c.kick:
		}
		if err := c.Flush(); err != nil {
			c.log.Warn("files not written, retrying", "err", err)
		}
	}
}
