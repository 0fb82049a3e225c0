package cert

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

func keys(t *testing.T, n int) ([]*ecdsa.PrivateKey, []common.Address) {
	t.Helper()
	ks := make([]*ecdsa.PrivateKey, n)
	as := make([]common.Address, n)
	for i := range ks {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		ks[i], as[i] = k, crypto.PubkeyToAddress(k.PublicKey)
	}
	return ks, as
}

func seal(t *testing.T, h common.Hash, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	return sealRound(t, h, 0, k)
}

func sealRound(t *testing.T, h common.Hash, round uint64, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	s, err := SignCommit(h, round, func(d []byte) ([]byte, error) { return crypto.Sign(d, k) })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	ks, vals := keys(t, 4)
	outsider, _ := crypto.GenerateKey()
	h := common.HexToHash("0x1234")
	other := common.HexToHash("0x9999")
	cases := []struct {
		name  string
		seals [][]byte
		want  error
	}{
		{"quorum", [][]byte{seal(t, h, ks[0]), seal(t, h, ks[1]), seal(t, h, ks[2])}, nil},
		{"all", [][]byte{seal(t, h, ks[3]), seal(t, h, ks[0]), seal(t, h, ks[1]), seal(t, h, ks[2])}, nil},
		{"short", [][]byte{seal(t, h, ks[0]), seal(t, h, ks[1])}, ErrNoQuorum},
		{"duplicate", [][]byte{seal(t, h, ks[0]), seal(t, h, ks[0]), seal(t, h, ks[1])}, ErrDuplicateSeal},
		{"outsider", [][]byte{seal(t, h, ks[0]), seal(t, h, ks[1]), seal(t, h, outsider)}, ErrNotValidator},
		// A seal over another block recovers to some unrelated address.
		{"wrong block", [][]byte{seal(t, h, ks[0]), seal(t, h, ks[1]), seal(t, other, ks[2])}, ErrNotValidator},
		{"truncated", [][]byte{seal(t, h, ks[0]), seal(t, h, ks[1]), seal(t, h, ks[2])[:64]}, ErrBadSeal},
		// Seals from another round do not count towards a round-0 certificate.
		{"mixed rounds", [][]byte{seal(t, h, ks[0]), seal(t, h, ks[1]), sealRound(t, h, 1, ks[2])}, ErrNotValidator},
		{"full with a mixed round", [][]byte{seal(t, h, ks[0]), seal(t, h, ks[1]), seal(t, h, ks[2]), sealRound(t, h, 1, ks[3])}, ErrNotValidator},
		{"full with a duplicate", [][]byte{seal(t, h, ks[0]), seal(t, h, ks[1]), seal(t, h, ks[2]), seal(t, h, ks[1])}, ErrDuplicateSeal},
		{"more seals than validators", [][]byte{seal(t, h, ks[0]), seal(t, h, ks[1]), seal(t, h, ks[2]), seal(t, h, ks[3]), seal(t, h, outsider)}, ErrTooManySeals},
		{"more seals than validators, all garbage", make([][]byte, 5), ErrTooManySeals},
	}
	for _, c := range cases {
		cert := &Certificate{Seals: c.seals}
		_, err := cert.Verify(h, vals)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestExtraRoundTrip(t *testing.T) {
	ks, vals := keys(t, 2)
	h := common.HexToHash("0xab")
	e := &Extra{Validators: vals, ParentCommit: Certificate{Round: 3, Seals: [][]byte{sealRound(t, h, 3, ks[0])}}}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeExtra(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := got.Encode()
	if !bytes.Equal(b, b2) || len(got.Validators) != 2 || got.ParentCommit.Round != 3 {
		t.Fatal("round trip mismatch")
	}
	if _, err := DecodeExtra([]byte{0xc1, 0xff, 0x00}); !errors.Is(err, ErrBadExtra) {
		t.Fatalf("garbage: %v", err)
	}
}

func FuzzDecodeExtra(f *testing.F) {
	e := &Extra{Validators: []common.Address{{1}}, ParentCommit: Certificate{Seals: [][]byte{make([]byte, 65)}}}
	b, _ := e.Encode()
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := DecodeExtra(data)
		if err != nil {
			return
		}
		b, err := x.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 0 && !bytes.Equal(b, data) {
			t.Fatalf("decode→encode changed bytes: %x -> %x", data, b)
		}
	})
}

func FuzzDecodeCertificate(f *testing.F) {
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCertificate(data)
		if err != nil {
			return
		}
		_, _ = c.Verify(common.Hash{}, []common.Address{{1}})
	})
}
