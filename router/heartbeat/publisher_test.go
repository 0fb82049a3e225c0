package heartbeat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// fakeClock is a settable wall clock.
type fakeClock struct{ ms int64 }

func (c *fakeClock) now() time.Time { return time.UnixMilli(c.ms) }

// TestPublisherSequence: sequences increase strictly, also across a restart
// (a new Publisher with the same key) and when the clock stalls.
func TestPublisherSequence(t *testing.T) {
	clk := &fakeClock{ms: t0}
	key := testKey(t, 1)
	newPub := func() *Publisher {
		p, err := NewPublisher(PublisherConfig{ChainID: testChain, Key: key, Topic: nopTopic{}, Source: staticStatus, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	seqOf := func(p *Publisher) uint64 {
		data, err := p.Next(Status{})
		if err != nil {
			t.Fatal(err)
		}
		h, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Verify(testChain); err != nil {
			t.Fatal(err)
		}
		return h.Seq
	}
	p := newPub()
	s1 := seqOf(p)
	s2 := seqOf(p) // clock did not move
	clk.ms += 3000
	s3 := seqOf(p)
	restarted := newPub()
	clk.ms += 10
	s4 := seqOf(restarted)
	if !(s1 < s2 && s2 < s3 && s3 < s4) {
		t.Fatalf("sequences %d %d %d %d do not increase", s1, s2, s3, s4)
	}
	// A router that saw s3 takes the restarted node's s4.
	tab := testTable(nil)
	for _, hb := range []struct{ seq, ms uint64 }{{s3, uint64(t0 + 3000)}, {s4, uint64(t0 + 6010)}} {
		if err := tab.Receive(signed(t, key, hb.seq, hb.ms), t0+6010); err != nil {
			t.Fatalf("seq %d: %v", hb.seq, err)
		}
	}
}

func TestPublisherConfig(t *testing.T) {
	_, err := NewPublisher(PublisherConfig{Key: testKey(t, 1), Topic: nopTopic{}, Source: staticStatus, Interval: time.Second})
	if err == nil {
		t.Fatal("1s interval accepted")
	}
	if _, err := NewPublisher(PublisherConfig{Topic: nopTopic{}, Source: staticStatus}); err == nil {
		t.Fatal("publisher without a key accepted")
	}
}

func TestPublishOnceSourceError(t *testing.T) {
	boom := errors.New("nvml gone")
	p, err := NewPublisher(PublisherConfig{Key: testKey(t, 1), Topic: nopTopic{}, Source: func(context.Context) (Status, error) { return Status{}, boom }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PublishOnce(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("publish: %v", err)
	}
}

func TestStatusClip(t *testing.T) {
	st := Status{FreeGPUs: MaxUnits + 5, QueueLen: MaxQueue + 1, GPUUtil: make([]uint32, MaxGPUs+3)}
	st.GPUUtil[0] = 150
	for i := range MaxImages + 10 {
		st.Images = append(st.Images, common.Hash{byte(200 - i)}, common.Hash{byte(200 - i)}) // duplicates, reverse order
	}
	c := st.Clip()
	if c.FreeGPUs != MaxUnits || c.QueueLen != MaxQueue || len(c.GPUUtil) != MaxGPUs || c.GPUUtil[0] != UtilUnknown {
		t.Fatalf("clip: free %d queue %d gpus %d util0 %d", c.FreeGPUs, c.QueueLen, len(c.GPUUtil), c.GPUUtil[0])
	}
	if len(c.Images) != MaxImages || c.Images[0] != (common.Hash{byte(200 - MaxImages - 9)}) {
		t.Fatalf("clip kept %d images starting %x", len(c.Images), c.Images[0])
	}
	for i := 1; i < len(c.Images); i++ {
		if c.Images[i-1].Cmp(c.Images[i]) >= 0 {
			t.Fatal("images not sorted and unique")
		}
	}
	if st.GPUUtil[0] != 150 {
		t.Fatal("clip changed its input")
	}
}

// countTopic counts publishes.
type countTopic struct{ n int }

func (c *countTopic) Publish(context.Context, []byte) error { c.n++; return nil }

// TestPublisherDue drives Run's schedule with a fake clock, polling every
// 250 ms for 12 s: the first heartbeat at once, then every Interval while
// nothing changes; a change of free GPUs goes out as soon as
// MinPublishInterval has passed since the last, never sooner.
func TestPublisherDue(t *testing.T) {
	clk := &fakeClock{ms: t0}
	topic := &countTopic{}
	free := uint32(2)
	p, err := NewPublisher(PublisherConfig{ChainID: testChain, Key: testKey(t, 1), Topic: topic,
		Source: func(context.Context) (Status, error) { return Status{FreeGPUs: free}, nil }, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	var at []int64 // ms after t0 of each heartbeat
	for ms := int64(0); ms <= 12_000; ms += 250 {
		clk.ms = t0 + ms
		switch ms {
		case 3_500:
			free = 0 // a job took both GPUs half a second after a heartbeat
		case 9_250:
			free = 2 // and freed them
		}
		st := Status{FreeGPUs: free}
		if p.Due(clk.now(), st) {
			if err := p.publish(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			at = append(at, ms)
		}
	}
	want := []int64{0, 3_000, 5_000, 8_000, 10_000}
	if len(at) != len(want) || topic.n != len(want) {
		t.Fatalf("heartbeats at %v ms (%d published), want %v", at, topic.n, want)
	}
	for i := range want {
		if at[i] != want[i] {
			t.Fatalf("heartbeats at %v ms, want %v", at, want)
		}
	}
}
