package atomicfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func readOr(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "<none>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCoalescerKeepsNewest: only the newest content of a path is written,
// nothing is written before a flush, and Remove drops what is pending.
func TestCoalescerKeepsNewest(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "sub", "b")
	c := NewCoalescer(time.Hour, nil)
	for i := range 100 {
		c.Put(a, []byte(fmt.Sprint("a", i)))
	}
	_ = c.Put(b, []byte("b0"))
	if got := readOr(t, a); got != "<none>" || c.Pending() != 2 {
		t.Fatalf("before a flush: %q on disk, %d pending", got, c.Pending())
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if readOr(t, a) != "a99" || readOr(t, b) != "b0" || c.Pending() != 0 {
		t.Fatalf("after a flush: %q %q, %d pending", readOr(t, a), readOr(t, b), c.Pending())
	}
	_ = c.Put(b, []byte("b1"))
	if err := c.Remove(b); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := readOr(t, b); got != "<none>" {
		t.Fatalf("removed file holds %q", got)
	}
	if err := c.Remove(filepath.Join(dir, "never")); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
}

// TestCoalescerRetriesFailures: a write that fails stays pending and is
// written once it can be; a newer Put meanwhile wins.
func TestCoalescerRetriesFailures(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(blocker, "f") // its directory is a file: Write fails
	c := NewCoalescer(time.Hour, nil)
	_ = c.Put(p, []byte("one"))
	if err := c.Flush(); err == nil || c.Pending() != 1 {
		t.Fatalf("flush over a file: err %v, %d pending", err, c.Pending())
	}
	_ = c.Put(p, []byte("two"))
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil || readOr(t, p) != "two" {
		t.Fatalf("retry: %v, %q", err, readOr(t, p))
	}
}

// TestCoalescerRun: Run writes within its interval, flushes at the end,
// and after it returned Put writes at once.
func TestCoalescerRun(t *testing.T) {
	dir := t.TempDir()
	p, q := filepath.Join(dir, "p"), filepath.Join(dir, "q")
	c := NewCoalescer(10*time.Millisecond, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	_ = c.Put(p, []byte("tick"))
	deadline := time.Now().Add(10 * time.Second)
	for readOr(t, p) != "tick" {
		if time.Now().After(deadline) {
			t.Fatal("Run did not write within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = c.Put(p, []byte("last"))
	cancel()
	<-done
	if readOr(t, p) != "last" {
		t.Fatalf("after stop: %q", readOr(t, p))
	}
	if tk := c.Put(q, []byte("late")); c.Wait(tk) != nil || readOr(t, q) != "late" {
		t.Fatalf("Put after stop: %v, %q", c.Wait(tk), readOr(t, q))
	}
}

// TestCoalescerConcurrent: Puts, Removes and Flushes from many goroutines
// (run with -race); at the end every path holds its newest content or is
// gone when its last operation was a Remove.
func TestCoalescerConcurrent(t *testing.T) {
	dir := t.TempDir()
	c := NewCoalescer(time.Hour, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := filepath.Join(dir, fmt.Sprint(g))
			for i := range 200 {
				_ = c.Put(p, []byte(fmt.Sprint(i)))
				if i%50 == 0 {
					if err := c.Flush(); err != nil {
						t.Error(err)
					}
				}
			}
			if g%2 == 1 {
				if err := c.Remove(p); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for g := range 8 {
		want := "199"
		if g%2 == 1 {
			want = "<none>"
		}
		if got := readOr(t, filepath.Join(dir, fmt.Sprint(g))); got != want {
			t.Errorf("file %d: %q, want %q", g, got, want)
		}
	}
}

// TestCoalescerWait: Wait returns once the content is on disk, with Run
// (group commit: many waiters, few flushes) and without it (Wait flushes).
func TestCoalescerWait(t *testing.T) {
	dir := t.TempDir()
	c := NewCoalescer(time.Hour, nil)
	p := filepath.Join(dir, "solo")
	if err := c.Wait(c.Put(p, []byte("x"))); err != nil || readOr(t, p) != "x" {
		t.Fatalf("Wait without Run: %v, %q", err, readOr(t, p))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := filepath.Join(dir, fmt.Sprint("w", g%4))
			for i := range 20 {
				want := fmt.Sprint(g, "-", i)
				if err := c.Wait(c.Put(path, []byte(want))); err != nil {
					t.Error(err)
					return
				}
				// On disk now: this content or a newer one of the path.
				if got := readOr(t, path); got == "<none>" {
					t.Errorf("%s: nothing on disk after Wait", path)
					return
				}
			}
		}()
	}
	wg.Wait()
	if c.Pending() != 0 {
		t.Fatalf("%d pending after every Wait returned", c.Pending())
	}
}
