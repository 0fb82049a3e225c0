package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestFileAppendReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal")
	w, recs, err := Open(path)
	if err != nil || len(recs) != 0 {
		t.Fatalf("open empty: %v %d", err, len(recs))
	}
	for i := range 5 {
		if err := w.Append([]byte(fmt.Sprintf("record-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, recs, err = Open(path)
	if err != nil || len(recs) != 5 || string(recs[4]) != "record-4" {
		t.Fatalf("reopen: %v %q", err, recs)
	}
	if err := w.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := w.Append([]byte("after")); err != nil {
		t.Fatal(err)
	}
	w.Sync()
	w.Close()
	_, recs, _ = Open(path)
	if len(recs) != 1 || string(recs[0]) != "after" {
		t.Fatalf("after reset: %q", recs)
	}
}

// A crash mid-append leaves a partial frame; every prefix of the file must
// replay to the records wholly inside it, and appends after reopening must
// land after them.
func TestTornTail(t *testing.T) {
	var full []byte
	for i := range 3 {
		full = AppendFrame(full, bytes.Repeat([]byte{byte(i)}, 10+i))
	}
	bounds := []int{0, 18, 37, 57}
	for cut := 0; cut <= len(full); cut++ {
		want := 0
		for want+1 < len(bounds) && bounds[want+1] <= cut {
			want++
		}
		path := filepath.Join(t.TempDir(), "wal")
		if err := os.WriteFile(path, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		w, recs, err := Open(path)
		if err != nil || len(recs) != want {
			t.Fatalf("cut %d: %v, %d records, want %d", cut, err, len(recs), want)
		}
		w.Append([]byte("next"))
		w.Sync()
		w.Close()
		_, recs, _ = Open(path)
		if len(recs) != want+1 || string(recs[want]) != "next" {
			t.Fatalf("cut %d: append after torn tail lost", cut)
		}
	}
}

func TestCorruptRecordStopsReplay(t *testing.T) {
	var data []byte
	data = AppendFrame(data, []byte("a"))
	data = AppendFrame(data, []byte("b"))
	data = AppendFrame(data, []byte("c"))
	data[headerSize+1+headerSize] ^= 0xff // flip the payload of "b"
	recs, valid := DecodeFrames(data)
	if len(recs) != 1 || valid != headerSize+1 {
		t.Fatalf("got %d records, valid %d", len(recs), valid)
	}
}

func TestTooLarge(t *testing.T) {
	var m Memory
	if err := m.Append(make([]byte, MaxRecordSize+1)); err == nil {
		t.Fatal("oversized record accepted")
	}
}

func TestMemoryCrash(t *testing.T) {
	var m Memory
	m.Append([]byte("kept"))
	m.Sync()
	m.Append([]byte("lost"))
	m.Crash(5) // a torn write of 5 bytes of the unsynced frame
	recs := m.Records()
	if len(recs) != 1 || string(recs[0]) != "kept" {
		t.Fatalf("got %q", recs)
	}
}

// FuzzDecodeFrames: decoding never panics, and re-framing the records gives
// back exactly the intact prefix.
func FuzzDecodeFrames(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, []byte("x")), []byte("yz")))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, valid := DecodeFrames(data)
		if valid > len(data) {
			t.Fatal("valid beyond input")
		}
		var again []byte
		for _, r := range recs {
			again = AppendFrame(again, r)
		}
		if !bytes.Equal(again, data[:valid]) {
			t.Fatal("re-encoding differs from the intact prefix")
		}
	})
}

func TestCrashing(t *testing.T) {
	var m Memory
	c := &Crashing{Log: &m, CrashIn: 3, Torn: 9}
	c.Append([]byte("one"))
	c.Sync()
	c.Append([]byte("two")) // unsynced: 11 bytes framed
	if err := c.Append([]byte("three")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("third append: %v", err)
	}
	if err := c.Sync(); !errors.Is(err, ErrCrashed) || !c.Crashed() {
		t.Fatal("still running after the crash")
	}
	// 9 of the unsynced bytes survive: "two" is torn, "three" lost.
	if recs := m.Records(); len(recs) != 1 || string(recs[0]) != "one" {
		t.Fatalf("after crash: %q", recs)
	}
}
