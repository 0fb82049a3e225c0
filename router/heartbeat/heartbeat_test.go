package heartbeat

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/p2p"
)

const testChain = 1337

// testKey returns a deterministic Ed25519 node key for seed.
func testKey(t testing.TB, seed byte) crypto.PrivKey {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func peerOf(t testing.TB, key crypto.PrivKey) p2p.PeerID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p2p.PeerID(id.String())
}

// signed returns a heartbeat of key's node with seq and time, signed.
func signed(t testing.TB, key crypto.PrivKey, seq, timeMs uint64) *Heartbeat {
	t.Helper()
	h := &Heartbeat{
		Owner: common.Address{0xaa}, Seq: seq, TimeMs: timeMs, FreeGPUs: 2,
		GPUUtil: []uint32{10, UtilUnknown}, QueueLen: 1, Images: []common.Hash{{1}, {2}},
	}
	if err := h.Sign(key, testChain); err != nil {
		t.Fatal(err)
	}
	return h
}

func encode(t testing.TB, h *Heartbeat) []byte {
	t.Helper()
	data, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key := testKey(t, 1)
	h := signed(t, key, 7, 1_000_000)
	if got := h.PeerID(); got != peerOf(t, key) {
		t.Fatalf("peer id %s, want %s", got, peerOf(t, key))
	}
	data := encode(t, h)
	back, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(testChain); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if again := encode(t, back); !bytes.Equal(again, data) {
		t.Fatal("decode→encode changed the bytes")
	}
}

// TestForgeries: every way of claiming a heartbeat someone else did not
// sign fails Verify with ErrForged (penalised as p2p.ErrInvalid).
func TestForgeries(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 2)
	cases := map[string]func() *Heartbeat{
		"field altered after signing": func() *Heartbeat {
			h := signed(t, a, 7, 1_000_000)
			h.FreeGPUs = 8
			return h
		},
		"other key signs for a's peer id": func() *Heartbeat {
			h := signed(t, b, 7, 1_000_000)
			h.Peer = signed(t, a, 7, 1_000_000).Peer
			return h
		},
		"a's signature moved onto b's peer id": func() *Heartbeat {
			h := signed(t, a, 7, 1_000_000)
			h.Peer = signed(t, b, 7, 1_000_000).Peer
			return h
		},
		"signed for another chain": func() *Heartbeat {
			h := signed(t, a, 7, 1_000_000)
			if err := h.Sign(a, testChain+1); err != nil {
				t.Fatal(err)
			}
			return h
		},
		"signature garbage": func() *Heartbeat {
			h := signed(t, a, 7, 1_000_000)
			h.Sig = bytes.Repeat([]byte{7}, 64)
			return h
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			h, err := Decode(encode(t, mk()))
			if err != nil {
				t.Fatal(err)
			}
			err = h.Verify(testChain)
			if !errors.Is(err, ErrForged) || !errors.Is(err, p2p.ErrInvalid) {
				t.Fatalf("verify: %v, want ErrForged", err)
			}
			if p2p.GossipPenalty(err) != p2p.PenaltyInvalid {
				t.Fatalf("penalty %d", p2p.GossipPenalty(err))
			}
		})
	}
}

// TestPeerIDWithoutInlineKey: an RSA-style peer id (a sha256 multihash,
// no key inside) cannot name its signer.
func TestPeerIDWithoutInlineKey(t *testing.T) {
	h := signed(t, testKey(t, 1), 7, 1_000_000)
	id, err := peer.Decode("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
	if err != nil {
		t.Fatal(err)
	}
	h.Peer = []byte(id)
	if err := h.Verify(testChain); !errors.Is(err, ErrMalformed) {
		t.Fatalf("verify: %v, want ErrMalformed", err)
	}
}

func TestDecodeRefusals(t *testing.T) {
	key := testKey(t, 1)
	good := signed(t, key, 7, 1_000_000)
	mutate := func(f func(h *Heartbeat)) []byte {
		h := cloneHeartbeat(good)
		f(&h)
		data, err := rlp.EncodeToBytes(&h) // bypass Encode's own checks
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	cases := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"oversized", make([]byte, MaxSize+1), ErrTooLarge, "limit 4096"},
		{"not rlp", []byte{0xc5, 1}, ErrMalformed, ""},
		{"trailing bytes", append(encode(t, good), 0), ErrMalformed, ""},
		{"seq zero", mutate(func(h *Heartbeat) { h.Seq = 0 }), ErrMalformed, "sequence 0"},
		{"time zero", mutate(func(h *Heartbeat) { h.TimeMs = 0 }), ErrMalformed, "time 0"},
		{"no peer", mutate(func(h *Heartbeat) { h.Peer = nil }), ErrMalformed, "peer id of 0 bytes"},
		{"bad peer", mutate(func(h *Heartbeat) { h.Peer = []byte{1, 2, 3} }), ErrMalformed, "peer id"},
		{"too many gpus", mutate(func(h *Heartbeat) { h.GPUUtil = make([]uint32, MaxGPUs+1) }), ErrMalformed, "65 GPU utilisations"},
		{"util over 100", mutate(func(h *Heartbeat) { h.GPUUtil = []uint32{101} }), ErrMalformed, "utilisation 101%"},
		{"free over cap", mutate(func(h *Heartbeat) { h.FreeGPUs = MaxUnits + 1 }), ErrMalformed, "free GPUs"},
		{"queue over cap", mutate(func(h *Heartbeat) { h.QueueLen = MaxQueue + 1 }), ErrMalformed, "queue of"},
		{"too many images", mutate(func(h *Heartbeat) { h.Images = make([]common.Hash, MaxImages+1) }), ErrMalformed, "65 images"},
		{"no signature", mutate(func(h *Heartbeat) { h.Sig = nil }), ErrMalformed, "signature of 0 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data)
			if !errors.Is(err, c.want) {
				t.Fatalf("decode: %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
		})
	}
}

// TestEncodeRefusesWhatDecodeRefuses: a node never publishes a heartbeat
// its peers would drop as malformed.
func TestEncodeRefusesWhatDecodeRefuses(t *testing.T) {
	h := signed(t, testKey(t, 1), 7, 1_000_000)
	h.GPUUtil = make([]uint32, MaxGPUs+1)
	if _, err := h.Encode(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("encode: %v", err)
	}
}

// TestFullHeartbeatFits: the largest heartbeat the bounds allow fits MaxSize.
func TestFullHeartbeatFits(t *testing.T) {
	st := Status{FreeGPUs: MaxUnits, QueueLen: MaxQueue, GPUUtil: make([]uint32, MaxGPUs), Images: make([]common.Hash, MaxImages)}
	for i := range st.GPUUtil {
		st.GPUUtil[i] = UtilUnknown
	}
	for i := range st.Images {
		st.Images[i] = common.Hash{byte(i), 0xff}
		st.Images[i][31] = 0xff
	}
	p, err := NewPublisher(PublisherConfig{ChainID: testChain, Key: testKey(t, 1), Topic: nopTopic{}, Source: func(context.Context) (Status, error) { return st, nil }})
	if err != nil {
		t.Fatal(err)
	}
	data, err := p.Next(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > MaxSize {
		t.Fatalf("full heartbeat is %d bytes, limit %d", len(data), MaxSize)
	}
	t.Logf("full heartbeat: %d bytes", len(data))
}

// nopTopic publishes nowhere.
type nopTopic struct{}

func (nopTopic) Publish(context.Context, []byte) error { return nil }

func FuzzDecode(f *testing.F) {
	f.Add(encode(f, signed(f, testKey(f, 1), 7, 1_000_000)))
	f.Add([]byte{0xc0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("decode error without a sentinel: %v", err)
			}
			return
		}
		again, err := h.Encode()
		if err != nil {
			t.Fatalf("decoded heartbeat does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("not canonical:\n in  %x\n out %x", data, again)
		}
		_ = h.Verify(testChain) // must not panic
	})
}
