package ibft

// Tests of the Evidence type on its own: what Verify accepts and rejects
// (one table row per rule of its doc comment), the canonical encoding, and
// a fuzz target for the decoder. How the core reports evidence is tested in
// rules_test.go (TestEquivocation*).

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/consensus/cert"
)

// conflict returns validator i's two messages of code for (1, 2) that
// differ in what a vote says.
func (tn *testNet) conflict(i int, code Code) (*Message, *Message) {
	a := &Message{Signed: Signed{Code: code, Height: 1, Round: 2, Digest: common.Hash{1}}}
	b := &Message{Signed: Signed{Code: code, Height: 1, Round: 2, Digest: common.Hash{2}}}
	if code == MsgRoundChange {
		a.Digest, a.PreparedRound = common.Hash{}, 0
		b.PreparedRound = 1
	}
	return tn.sign(i, a), tn.sign(i, b)
}

func TestEvidenceVerify(t *testing.T) {
	tn := newTestNet(t, 4)
	for _, code := range []Code{MsgPrePrepare, MsgPrepare, MsgCommit, MsgRoundChange} {
		a, b := tn.conflict(1, code)
		ev := NewEvidence(a.Signed, b.Signed)
		who, err := ev.Verify(tn.vals)
		if err != nil || who != tn.vals[1] {
			t.Fatalf("%s: %v %v", code, who, err)
		}
		if back := NewEvidence(b.Signed, a.Signed); !bytes.Equal(enc(t, &back), enc(t, &ev)) {
			t.Fatalf("%s: evidence depends on the order of its messages", code)
		}
	}
	// A ROUND-CHANGE conflicts on its prepared round alone.
	rc1 := tn.sign(2, &Message{Signed: Signed{Code: MsgRoundChange, Height: 1, Round: 3, Digest: common.Hash{7}, PreparedRound: 0}})
	rc2 := tn.sign(2, &Message{Signed: Signed{Code: MsgRoundChange, Height: 1, Round: 3, Digest: common.Hash{7}, PreparedRound: 1}})
	if ev := NewEvidence(rc1.Signed, rc2.Signed); mustVerify(&ev, tn.vals) != nil {
		t.Fatal("round changes with different prepared rounds are not evidence")
	}

	a, b := tn.conflict(1, MsgPrepare)
	other := tn.msg(2, MsgPrepare, 1, 2, common.Hash{2})
	cases := []struct {
		name string
		edit func(e *Evidence)
		vals []common.Address
	}{
		{"different heights", func(e *Evidence) { *e = NewEvidence(a.Signed, tn.msg(1, MsgPrepare, 2, 2, common.Hash{2}).Signed) }, tn.vals},
		{"different rounds", func(e *Evidence) { *e = NewEvidence(a.Signed, tn.msg(1, MsgPrepare, 1, 3, common.Hash{2}).Signed) }, tn.vals},
		{"different codes", func(e *Evidence) { *e = NewEvidence(a.Signed, tn.msg(1, MsgCommit, 1, 2, common.Hash{2}).Signed) }, tn.vals},
		{"same digest", func(e *Evidence) {
			x := tn.sign(1, &Message{Signed: Signed{Code: MsgPrepare, Height: 1, Round: 2, Digest: common.Hash{1}, PreparedRound: 5}})
			*e = NewEvidence(a.Signed, x.Signed)
		}, tn.vals},
		{"unsigned code", func(e *Evidence) {
			x := tn.sign(1, &Message{Signed: Signed{Code: MsgCertificate, Height: 1, Round: 2, Digest: common.Hash{1}}})
			y := tn.sign(1, &Message{Signed: Signed{Code: MsgCertificate, Height: 1, Round: 2, Digest: common.Hash{2}}})
			*e = NewEvidence(x.Signed, y.Signed)
		}, tn.vals},
		{"two signers", func(e *Evidence) { *e = NewEvidence(a.Signed, other.Signed) }, tn.vals},
		{"not a validator", func(*Evidence) {}, tn.vals[2:]},
		{"swapped order", func(e *Evidence) { e.First, e.Second = e.Second, e.First }, tn.vals},
		{"missing signature", func(e *Evidence) { e.Second.Signature = nil }, tn.vals},
		{"flipped signature bit", func(e *Evidence) {
			e.First.Signature = bytes.Clone(e.First.Signature)
			e.First.Signature[3] ^= 1
		}, tn.vals},
	}
	for _, tc := range cases {
		ev := NewEvidence(a.Signed, b.Signed)
		tc.edit(&ev)
		if _, err := ev.Verify(tc.vals); !errors.Is(err, ErrBadEvidence) {
			t.Errorf("%s: %v, want ErrBadEvidence", tc.name, err)
		}
	}
}

func mustVerify(e *Evidence, vals []common.Address) error {
	_, err := e.Verify(vals)
	return err
}

func enc(t *testing.T, e *Evidence) []byte {
	t.Helper()
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sampleEvidence is validator key k's two conflicting COMMITs for (1, 2),
// built without a testing.T so the fuzz target can seed with it.
func sampleEvidence() (Evidence, common.Address) {
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("evidence-sample")))
	if err != nil {
		panic(err)
	}
	s := NewKeySigner(key)
	sign := func(d common.Hash) Signed {
		m := Signed{Code: MsgCommit, Height: 1, Round: 2, Digest: d}
		m.CommitSeal, _ = cert.SignCommit(d, 2, s.Sign)
		m.Signature, _ = s.Sign(digestBytes(&m))
		return m
	}
	return NewEvidence(sign(common.Hash{1}), sign(common.Hash{2})), s.Address()
}

func TestEvidenceRoundTrip(t *testing.T) {
	ev, who := sampleEvidence()
	b := enc(t, &ev)
	if len(b) > MaxEvidenceSize/2 {
		t.Fatalf("evidence of %d bytes: MaxEvidenceSize %d leaves too little room", len(b), MaxEvidenceSize)
	}
	back, err := DecodeEvidence(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc(t, back), b) {
		t.Fatal("decode→encode changed bytes")
	}
	if got, err := back.Verify([]common.Address{who}); err != nil || got != who {
		t.Fatal(got, err)
	}
	swapped := Evidence{First: ev.Second, Second: ev.First}
	if _, err := DecodeEvidence(enc(t, &swapped)); !errors.Is(err, ErrDecode) {
		t.Fatalf("non-canonical order: %v", err)
	}
	if _, err := DecodeEvidence(append(b, 0)); !errors.Is(err, ErrDecode) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := DecodeEvidence(make([]byte, MaxEvidenceSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	big := ev
	big.First.Signature = make([]byte, 2*SignatureLength)
	if _, err := DecodeEvidence(enc(t, &big)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized signature: %v", err)
	}
}

// FuzzDecodeEvidence: the evidence decoder (staking will run it on
// transaction payloads) never panics, is canonical (decode→encode gives the
// input back), and Verify never panics on what it accepts.
func FuzzDecodeEvidence(f *testing.F) {
	ev, who := sampleEvidence()
	b, _ := ev.Encode()
	f.Add(b)
	f.Add([]byte{0xc2, 0xc0, 0xc0})
	vals := []common.Address{who}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEvidence(data)
		if err != nil {
			return
		}
		out, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("decode→encode changed bytes: %x -> %x", data, out)
		}
		_, _ = e.Verify(vals)
	})
}
