package ibft

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

func sampleMessage() *Message {
	return &Message{
		Signed:       Signed{Code: MsgPrePrepare, Height: 7, Round: 2, Digest: common.Hash{1}, Signature: make([]byte, 65)},
		Proposal:     []byte("block"),
		RoundChanges: []Signed{{Code: MsgRoundChange, Height: 7, Round: 2, Digest: common.Hash{1}, PreparedRound: 1}},
		Prepares:     []Signed{{Code: MsgPrepare, Height: 7, Round: 1, Digest: common.Hash{1}}},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	m := sampleMessage()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.SigningDigest() != m.SigningDigest() || string(got.Proposal) != "block" || len(got.RoundChanges) != 1 {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := DecodeMessage(append(b, 0)); !errors.Is(err, ErrDecode) {
		t.Fatalf("trailing bytes: %v", err)
	}
	if _, err := DecodeMessage(make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	// The signature covers every signed field.
	m2 := *m
	m2.Round++
	if m2.SigningDigest() == m.SigningDigest() {
		t.Fatal("round not signed")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []Record{{Message: sampleMessage()}, {Prepared: &PreparedCert{Height: 3, Round: 1, Proposal: []byte("x")}}} {
		b, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := got.Encode()
		if !bytes.Equal(b, b2) {
			t.Fatal("record round trip changed bytes")
		}
	}
	if _, err := (Record{}).Encode(); err == nil {
		t.Fatal("empty record encoded")
	}
}

// FuzzDecodeMessage: decoding never panics, and whatever decodes encodes
// back to the same bytes (the encoding is canonical).
func FuzzDecodeMessage(f *testing.F) {
	b, _ := sampleMessage().Encode()
	f.Add(b)
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			return
		}
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("decode→encode changed bytes: %x -> %x", data, b)
		}
	})
}

// FuzzDecodeRecord: the WAL record decoder never panics and is canonical.
func FuzzDecodeRecord(f *testing.F) {
	b, _ := Record{Message: sampleMessage()}.Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data)
		if err != nil {
			return
		}
		b, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("decode→encode changed bytes: %x -> %x", data, b)
		}
	})
}

func TestRecoverCache(t *testing.T) {
	tn := newTestNet(t, 3)
	c := NewRecoverCache(2)
	msgs := []*Message{tn.msg(0, MsgPrepare, 1, 0, common.Hash{1}), tn.msg(1, MsgPrepare, 1, 0, common.Hash{1}), tn.msg(2, MsgPrepare, 1, 0, common.Hash{1})}
	for range 2 {
		for i, m := range msgs {
			d := m.SigningDigest()
			a, err := c.Recover(d[:], m.Signature)
			if err != nil || a != tn.vals[i] {
				t.Fatalf("message %d: %v %v", i, a, err)
			}
		}
	}
	if len(c.m) != 2 {
		t.Fatalf("cache holds %d entries, bound 2", len(c.m))
	}
	if _, err := c.Recover(make([]byte, 32), []byte{1}); err == nil {
		t.Fatal("bad signature recovered")
	}
}
