package node

import (
	"testing"
	"time"
)

// TestBusySpan: concurrent calls are metered as the union of their spans,
// so the GPU time of a busy instance never passes its wall time.
func TestBusySpan(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var busy time.Time
	total := uint64(0)
	// Ten calls of 1 s each, all in flight over [0, 1.9 s], ending in order.
	for i := range 10 {
		var ms uint64
		ms, busy = busySpan(busy, at(i*100), at(i*100+1000))
		total += ms
	}
	if total != 1900 {
		t.Fatalf("union of ten overlapping calls: %d ms, want 1900", total)
	}
	// A call inside what was already metered adds nothing; a later one adds its span.
	if ms, b := busySpan(busy, at(500), at(1500)); ms != 0 || !b.Equal(busy) {
		t.Fatalf("covered call: %d ms, busy until %v", ms, b)
	}
	if ms, _ := busySpan(busy, at(5000), at(5250)); ms != 250 {
		t.Fatalf("a later call: %d ms, want 250", ms)
	}
}
