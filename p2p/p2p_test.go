package p2p

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
)

// Scoreboard tests run in rounds on a simulated clock (geth dial_test style).
func TestScoreboardBanAndDecay(t *testing.T) {
	clk := new(mclock.Simulated)
	sb := NewScoreboard(clk, 10*time.Minute, time.Hour)
	if sb.Penalize("a", PenaltyInvalid) {
		t.Fatal("banned after one invalid")
	}
	// One half-life later the score is halved: another invalid does not ban.
	clk.Run(10 * time.Minute)
	if got := sb.Score("a"); got < 24 || got > 26 {
		t.Fatalf("decayed score %v, want 25", got)
	}
	if sb.Penalize("a", PenaltyInvalid) {
		t.Fatal("banned at 75")
	}
	if !sb.Penalize("a", PenaltyMalformed) || !sb.Banned("a") {
		t.Fatal("not banned at 100")
	}
	clk.Run(59 * time.Minute)
	if !sb.Banned("a") {
		t.Fatal("ban expired early")
	}
	clk.Run(time.Minute)
	if sb.Banned("a") {
		t.Fatal("ban did not expire")
	}
	if !sb.Penalize("b", PenaltyBan) || !sb.Banned("b") || sb.Banned("c") {
		t.Fatal("PenaltyBan must ban at once, only that peer")
	}
}

func TestFrameRoundTripAndLimit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFrame(bytes.NewReader(buf.Bytes()), 5)
	if err != nil || string(got) != "hello" {
		t.Fatalf("got %q %v", got, err)
	}
	if _, err := ReadFrame(bytes.NewReader(buf.Bytes()), 4); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over-limit frame: %v", err)
	}
	// A huge declared length is refused without allocating it.
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	if _, err := ReadFrame(bytes.NewReader(huge), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge frame: %v", err)
	}
	buf.Reset()
	_ = WriteResponse(&buf, nil, errors.New("nope"))
	if _, err := ReadResponse(&buf, 10); !errors.Is(err, ErrRemote) {
		t.Fatalf("error reply: %v", err)
	}
}

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteFrame(&buf, []byte("abc"))
	f.Add(buf.Bytes())
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadFrame(bytes.NewReader(data), 1<<16)
		if err != nil {
			return
		}
		var out bytes.Buffer
		_ = WriteFrame(&out, got)
		// Canonical when the varint was minimal: the re-encoding is a prefix.
		if !bytes.Equal(out.Bytes(), data[:out.Len()]) && len(data) >= out.Len() {
			if _, err := ReadFrame(bytes.NewReader(out.Bytes()), 1<<16); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestNamesCarryChainID(t *testing.T) {
	n := Names{ChainID: 7}
	for _, s := range []string{n.TxTopic(), n.ConsensusTopic(), n.Sync(), n.Direct(), n.Handshake()} {
		if len(s) < 8 || s[:8] != "/emcd/7/" {
			t.Fatalf("%q lacks the chain id prefix", s)
		}
	}
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add(Status{ChainID: 1, HeadNumber: 9}.Encode())
	f.Add([]byte{0xc0})
	key := testKey(1)
	signed := Status{ChainID: 1, Genesis: common.Hash{1}, HeadNumber: 9}
	signed.Identity, _ = SignIdentity(keySigner{key}, 1, common.Hash{1}, "peer-a")
	f.Add(signed.Encode())
	future := signed
	future.Rest = []rlp.RawValue{{0x05}, {0xc1, 0x80}}
	f.Add(future.Encode())
	f.Add(Status{ChainID: 1, Rest: []rlp.RawValue{{0x01}}}.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeStatus(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		if !bytes.Equal(s.Encode(), data) {
			t.Fatalf("decode→encode not canonical: %x", data)
		}
		if s.Identity != nil && len(s.Identity.Signature) != 65 {
			t.Fatalf("accepted a %d-byte identity signature", len(s.Identity.Signature))
		}
		// Verification never panics, whatever the identity holds.
		_, _, _ = s.VerifyIdentity("peer-a")
	})
}

// testKey returns a fixed secp256k1 key, distinct per n > 0.
func testKey(n byte) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(common.LeftPadBytes([]byte{n}, 32))
	if err != nil {
		panic(err)
	}
	return k
}

type keySigner struct{ key *ecdsa.PrivateKey }

func (s keySigner) Address() common.Address       { return crypto.PubkeyToAddress(s.key.PublicKey) }
func (s keySigner) Sign(d []byte) ([]byte, error) { return crypto.Sign(d, s.key) }

// Handshake identities: what a receiver concludes from each kind of status
// it may be sent over a connection from peer "peer-a".
func TestStatusIdentity(t *testing.T) {
	genesis := common.Hash{7}
	base := Status{ChainID: 5, Genesis: genesis, HeadNumber: 3, HeadHash: common.Hash{3}}
	a, b := keySigner{testKey(1)}, keySigner{testKey(2)}
	withID := func(signer Signer, chainID uint64, g common.Hash, self PeerID) Status {
		id, err := SignIdentity(signer, chainID, g, self)
		if err != nil {
			t.Fatal(err)
		}
		s := base
		s.Identity = id
		return s
	}
	forged := withID(b, 5, genesis, "peer-a")
	forged.Identity.Address = a.Address() // b's key claims a's address
	for _, tc := range []struct {
		name    string
		st      Status
		want    common.Address
		wantOK  bool
		wantErr error
	}{
		{"valid", withID(a, 5, genesis, "peer-a"), a.Address(), true, nil},
		{"absent", base, common.Address{}, false, nil},
		{"forged signature", forged, common.Address{}, false, ErrBadIdentity},
		{"replayed from peer-b", withID(a, 5, genesis, "peer-b"), common.Address{}, false, ErrBadIdentity},
		{"signed for another chain", withID(a, 6, genesis, "peer-a"), common.Address{}, false, ErrBadIdentity},
		{"signed for another genesis", withID(a, 5, common.Hash{8}, "peer-a"), common.Address{}, false, ErrBadIdentity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every case survives the wire unchanged.
			st, err := DecodeStatus(tc.st.Encode())
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			addr, ok, err := st.VerifyIdentity("peer-a")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if ok != tc.wantOK || addr != tc.want {
				t.Fatalf("got %s %v, want %s %v", addr, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// Old (four-field) statuses, statuses of a later version, and malformed
// identities decode to well-defined results.
func TestDecodeStatusShapes(t *testing.T) {
	type oldStatus struct {
		ChainID    uint64
		Genesis    common.Hash
		HeadNumber uint64
		HeadHash   common.Hash
	}
	old, _ := rlp.EncodeToBytes(oldStatus{ChainID: 5, Genesis: common.Hash{7}, HeadNumber: 3})
	st, err := DecodeStatus(old)
	if err != nil || st.Identity != nil || st.ChainID != 5 || st.HeadNumber != 3 {
		t.Fatalf("old status: %+v %v", st, err)
	}
	if !bytes.Equal(st.Encode(), old) {
		t.Fatal("a status without identity encodes differently from the old format")
	}
	signed := Status{ChainID: 5}
	signed.Identity, _ = SignIdentity(keySigner{testKey(1)}, 5, common.Hash{}, "p")
	future := signed
	future.Rest = []rlp.RawValue{{0x2a}}
	st, err = DecodeStatus(future.Encode())
	if err != nil || st.Identity == nil || len(st.Rest) != 1 {
		t.Fatalf("status with a later field: %+v %v", st, err)
	}
	if _, ok, err := st.VerifyIdentity("p"); !ok || err != nil {
		t.Fatalf("identity next to a later field: %v %v", ok, err)
	}
	type rawStatus struct {
		ChainID    uint64
		Genesis    common.Hash
		HeadNumber uint64
		HeadHash   common.Hash
		Identity   []any
	}
	for name, id := range map[string][]any{
		"empty identity":      {},
		"short signature":     {common.Address{1}, make([]byte, 64)},
		"long signature":      {common.Address{1}, make([]byte, 66)},
		"zero identity":       {common.Address{}, []byte{}},
		"identity of 3 items": {common.Address{1}, make([]byte, 65), uint64(1)},
	} {
		b, err := rlp.EncodeToBytes(rawStatus{ChainID: 5, Identity: id})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeStatus(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := DecodeStatus(make([]byte, MaxHandshake+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized status: %v", err)
	}
}
