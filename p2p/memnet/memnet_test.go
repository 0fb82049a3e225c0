package memnet

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/p2ptest"
)

func harness(hub *Hub) p2ptest.Harness {
	var seq atomic.Int64
	return p2ptest.Harness{
		NewNode: func(t *testing.T, st p2p.Status, signer p2p.Signer) p2p.Network {
			n := hub.NewSignedNode(p2p.PeerID(fmt.Sprintf("node-%d", seq.Add(1))), func() p2p.Status { return st }, nil, signer)
			t.Cleanup(func() { n.Close() })
			return n
		},
		Connect: func(t *testing.T, a, b p2p.Network) error { return hub.Connect(a.Self(), b.Self()) },
		Wait:    5 * time.Second,
	}
}

func TestConformance(t *testing.T) {
	p2ptest.Run(t, harness(NewHub(1, nil)))
}

func TestConformanceWithDelay(t *testing.T) {
	hub := NewHub(2, nil)
	hub.SetFault(Fault{MaxDelay: 5 * time.Millisecond})
	p2ptest.Run(t, harness(hub))
}

func TestPartitionAndDrop(t *testing.T) {
	hub := NewHub(3, nil)
	st := func() p2p.Status { return p2ptest.Status(1) }
	a, b := hub.NewNode("a", st, nil), hub.NewNode("b", st, nil)
	if err := hub.Connect("a", "b"); err != nil {
		t.Fatal(err)
	}
	ta, _ := a.Join("t", p2p.TopicOptions{})
	tb, _ := b.Join("t", p2p.TopicOptions{})
	hub.Partition([]p2p.PeerID{"a"}, []p2p.PeerID{"b"})
	_ = ta.Publish(t.Context(), []byte("lost"))
	hub.Heal()
	hub.SetFilter(func(from, to p2p.PeerID, kind Kind, data []byte) Verdict {
		return Verdict{Drop: string(data) == "drop me"}
	})
	_ = ta.Publish(t.Context(), []byte("drop me"))
	_ = ta.Publish(t.Context(), []byte("kept"))
	select {
	case m := <-tb.Messages():
		if string(m.Data) != "kept" {
			t.Fatalf("got %q, want only the message sent after healing", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message after heal not delivered")
	}
}

// The same seed gives the same drop decisions.
func TestSeedDeterminism(t *testing.T) {
	run := func(seed uint64) []bool {
		hub := NewHub(seed, nil)
		hub.SetFault(Fault{DropRate: 0.5})
		st := func() p2p.Status { return p2ptest.Status(1) }
		hub.NewNode("a", st, nil)
		hub.NewNode("b", st, nil)
		_ = hub.Connect("a", "b")
		out := make([]bool, 64)
		for i := range out {
			_, _, out[i] = hub.route("a", "b", KindGossip, nil)
		}
		return out
	}
	x, y, z := run(9), run(9), run(10)
	if fmt.Sprint(x) != fmt.Sprint(y) {
		t.Fatal("same seed, different decisions")
	}
	if fmt.Sprint(x) == fmt.Sprint(z) {
		t.Fatal("different seeds, same 64 decisions")
	}
}
