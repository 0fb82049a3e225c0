package challenge_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/challenge"
	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/p2p"
)

var (
	chainID = uint256.NewInt(77)
	t0      = time.Unix(1_700_000_000, 0)
	owner   = common.Address{0x11}
)

func key(t testing.TB, b byte) (*ecdsa.PrivateKey, common.Address) {
	t.Helper()
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte{b}))
	if err != nil {
		t.Fatal(err)
	}
	return k, crypto.PubkeyToAddress(k.PublicKey)
}

func signed(t testing.TB, k *ecdsa.PrivateKey, epoch uint64, node common.Address, exp time.Time) []byte {
	t.Helper()
	r, err := challenge.NewRequest(k, chainID, epoch, node, exp)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRequestRoundTrip(t *testing.T) {
	k, addr := key(t, 1)
	b := signed(t, k, 3, owner, t0.Add(time.Minute))
	if len(b) != challenge.RequestBytes {
		t.Fatalf("%d bytes", len(b))
	}
	r, err := challenge.DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Epoch != 3 || r.Node != owner || r.Expiry != uint64(t0.Unix()+60) {
		t.Fatalf("decoded %+v", r)
	}
	if s, err := r.Signer(chainID); err != nil || s != addr {
		t.Fatalf("signer %s %v, want %s", s, err, addr)
	}
	if s, err := r.Signer(uint256.NewInt(78)); err == nil && s == addr {
		t.Fatal("a request for one chain recovers the same signer on another")
	}
	r.Epoch = 4 // a replay for another epoch recovers someone else
	if s, _ := r.Signer(chainID); s == addr {
		t.Fatal("epoch not bound by the signature")
	}
	if err := (&challenge.Request{Expiry: uint64(t0.Unix())}).Fresh(t0); !errors.Is(err, challenge.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	far := uint64(t0.Add(challenge.MaxValidity).Unix()) + 1
	if err := (&challenge.Request{Expiry: far}).Fresh(t0); !errors.Is(err, challenge.ErrExpired) {
		t.Fatalf("too far ahead: %v", err)
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(append([]byte{}, b...), 0), append([]byte{2}, b[1:]...)} {
		if _, err := challenge.DecodeRequest(bad); !errors.Is(err, challenge.ErrMalformed) {
			t.Fatalf("decoded %x: %v", bad, err)
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	ok := &challenge.Response{Code: challenge.CodeOK, Openings: []byte{2, 0, 0, 1, 0, 1}}
	got, err := challenge.DecodeResponse(ok.Encode(), pow.MaxEncodedBytes)
	if err != nil || got.Code != challenge.CodeOK || !bytes.Equal(got.Openings, ok.Openings) {
		t.Fatalf("%+v %v", got, err)
	}
	long := &challenge.Response{Code: challenge.CodeNotVerifier, Message: strings.Repeat("x", 1000)}
	got, err = challenge.DecodeResponse(long.Encode(), pow.MaxEncodedBytes)
	if err != nil || got.Code != challenge.CodeNotVerifier || len(got.Message) != challenge.MaxMessage {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {200}, append([]byte{byte(challenge.CodeInternal)}, make([]byte, challenge.MaxMessage+1)...),
		append([]byte{0}, make([]byte, pow.MaxEncodedBytes+1)...)} {
		if _, err := challenge.DecodeResponse(bad, pow.MaxEncodedBytes); !errors.Is(err, challenge.ErrMalformed) {
			t.Fatalf("decoded %d bytes: %v", len(bad), err)
		}
	}
}

// fakeChain is a fixed head state.
type fakeChain struct {
	ch     verify.Challenge
	sample common.Hash
	ready  bool
}

func (f *fakeChain) Challenge(epoch uint64, node common.Address) (verify.Challenge, error) {
	if epoch != 1 || node != owner {
		return verify.Challenge{}, nil
	}
	return f.ch, nil
}
func (f *fakeChain) EpochSeed(uint64) (common.Hash, bool)  { return common.Hash{9}, true }
func (f *fakeChain) SampleSeed(uint64) (common.Hash, bool) { return f.sample, f.ready }

func TestServerRefusals(t *testing.T) {
	kv, v := key(t, 1)
	kx, _ := key(t, 2)
	w := pow.Workload{Seed: pow.ChallengeSeed(common.Hash{9}, owner), N: 64}
	p, err := pow.Prove(context.Background(), w, 1)
	if err != nil {
		t.Fatal(err)
	}
	fc := &fakeChain{ch: verify.Challenge{Status: verify.StatusCommitted, Root: p.Root(), N: 64, DeadlineBlock: 46, WindowEnd: 56,
		Verifiers: []common.Address{{0xaa}, v}, Slots: []uint8{0, 0}}, sample: common.Hash{5}, ready: true}
	srv, err := challenge.NewServer(challenge.ServerConfig{ChainID: chainID, Owner: owner, Chain: fc, Chunks: 4,
		Now: func() time.Time { return t0 }, Rate: 1, Burst: 100})
	if err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(time.Minute)
	ask := func(req []byte) *challenge.Response {
		t.Helper()
		raw, err := srv.Handle(context.Background(), p2p.PeerID("peer"), req)
		if err != nil {
			t.Fatal(err)
		}
		r, err := challenge.DecodeResponse(raw, pow.MaxEncodedBytes)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ask(signed(t, kv, 1, owner, exp)); r.Code != challenge.CodeNoProver {
		t.Fatalf("before Keep: %s %s", r.Code, r.Message)
	}
	srv.Keep(1, p)
	r := ask(signed(t, kv, 1, owner, exp))
	if r.Code != challenge.CodeOK {
		t.Fatalf("verifier refused: %s %s", r.Code, r.Message)
	}
	if err := challenge.CheckOpenings(common.Hash{9}, owner, &fc.ch, fc.sample, v, 4, r.Openings); err != nil {
		t.Fatalf("honest openings fail the check: %v", err)
	}
	// The openings are exactly v's: another verifier's check refuses them.
	other := fc.ch
	other.Verifiers = []common.Address{{0xaa}, v, {0xbb}}
	if err := challenge.CheckOpenings(common.Hash{9}, owner, &other, fc.sample, common.Address{0xbb}, 4, r.Openings); err == nil {
		t.Fatal("v's openings pass for another verifier")
	}
	for _, tc := range []struct {
		name string
		req  []byte
		want challenge.Code
	}{
		{"not a verifier", signed(t, kx, 1, owner, exp), challenge.CodeNotVerifier},
		{"another node", signed(t, kv, 1, common.Address{0x12}, exp), challenge.CodeNotOurs},
		{"no challenge", signed(t, kv, 2, owner, exp), challenge.CodeNoChallenge},
		{"expired", signed(t, kv, 1, owner, t0), challenge.CodeExpired},
		{"malformed", []byte{1, 2, 3}, challenge.CodeMalformed},
	} {
		if r := ask(tc.req); r.Code != tc.want {
			t.Errorf("%s: %s %s, want %s", tc.name, r.Code, r.Message, tc.want)
		}
	}
	fc.ready = false
	if r := ask(signed(t, kv, 1, owner, exp)); r.Code != challenge.CodeNotReady {
		t.Errorf("before the sample seed: %s", r.Code)
	}
	fc.ready = true
	srv.DropBefore(2)
	if r := ask(signed(t, kv, 1, owner, exp)); r.Code != challenge.CodeNoProver {
		t.Errorf("after DropBefore: %s", r.Code)
	}
}

func TestServerRateLimit(t *testing.T) {
	kv, v := key(t, 1)
	fc := &fakeChain{ch: verify.Challenge{Status: verify.StatusCommitted, Root: common.Hash{1}, N: 64, Verifiers: []common.Address{v}, Slots: []uint8{0}}}
	srv, err := challenge.NewServer(challenge.ServerConfig{ChainID: chainID, Owner: owner, Chain: fc, Chunks: 4,
		Now: func() time.Time { return t0 }, Rate: 1, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	req := signed(t, kv, 1, owner, t0.Add(time.Minute))
	var codes []challenge.Code
	for range 3 {
		codes = append(codes, srv.Answer("p", req).Code)
	}
	if codes[2] != challenge.CodeRateLimited || codes[0] == challenge.CodeRateLimited {
		t.Fatalf("codes %v", codes)
	}
	if c := srv.Answer("q", req).Code; c == challenge.CodeRateLimited {
		t.Fatal("another peer is limited")
	}
}

func FuzzDecodeRequest(f *testing.F) {
	k, _ := key(f, 1)
	f.Add(signed(f, k, 1, owner, t0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := challenge.DecodeRequest(b)
		if err != nil {
			return
		}
		_, _ = r.Signer(chainID)
		again, err := r.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encode: %x, %v", again, err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add((&challenge.Response{Code: challenge.CodeOK, Openings: []byte{2, 0, 0, 0, 64, 1}}).Encode())
	f.Add((&challenge.Response{Code: challenge.CodeExpired, Message: "late"}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := challenge.DecodeResponse(b, pow.MaxEncodedBytes)
		if err != nil {
			return
		}
		if again := r.Encode(); !bytes.Equal(again, b) {
			t.Fatalf("re-encode: %x", again)
		}
	})
}
