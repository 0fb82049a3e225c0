package node

import (
	"fmt"
	"testing"

	"github.com/emc-network/emcd/p2p"
)

func TestPeerLimiterBoundsEachPeer(t *testing.T) {
	l := newPeerLimiter(0, 3) // no refill: exactly the burst
	for i := 0; i < 3; i++ {
		if !l.allow("a") {
			t.Fatalf("message %d of the burst refused", i)
		}
	}
	if l.allow("a") {
		t.Fatal("peer a exceeded its burst")
	}
	if !l.allow("b") {
		t.Fatal("peer b suffers for peer a")
	}
	for i := 0; i < maxLimitedPeers+10; i++ {
		l.allow(p2p.PeerID(fmt.Sprint(i)))
	}
	if len(l.peers) > maxLimitedPeers {
		t.Fatalf("limiter table grew to %d", len(l.peers))
	}
}

func TestTxGossipDecodeBounds(t *testing.T) {
	if _, err := decodeTxBatch([]byte{0xc0}); err == nil {
		t.Fatal("empty batch accepted")
	}
	if _, err := decodeTxBatch([]byte{0xff, 0x01}); err == nil {
		t.Fatal("garbage accepted")
	}
}

func FuzzDecodeTxBatch(f *testing.F) {
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		txs, err := decodeTxBatch(data)
		if err == nil && (len(txs) == 0 || len(txs) > maxTxsPerGossip) {
			t.Fatalf("accepted a batch of %d", len(txs))
		}
	})
}
