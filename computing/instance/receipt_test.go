package instance

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/p2p"
)

func sampleNodeReceipt(t testing.TB) *NodeReceipt {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	m := apps.NewMeter(7, 3, uint256.NewInt(5), uint256.NewInt(0))
	r, err := m.Call(apps.RequestDigest("GET", "/x?y=1", [32]byte{1}), 0)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := apps.SignReceipt(&r, apps.RoleNode, key)
	if err != nil {
		t.Fatal(err)
	}
	return &NodeReceipt{Receipt: r, NodeSig: sig}
}

func TestReceiptFrame(t *testing.T) {
	r := sampleNodeReceipt(t)
	enc := EncodeReceiptFrame(r)
	if len(enc) != ReceiptFrameLen {
		t.Fatalf("frame of %d bytes, want %d", len(enc), ReceiptFrameLen)
	}
	got, err := DecodeReceiptFrame(enc)
	if err != nil || *got != *r {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// Over a stream: after the end frame, then the stream's end.
	var buf bytes.Buffer
	if err := p2p.WriteFrame(&buf, enc); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(&buf)
	if got, err := ReadReceiptFrame(br); err != nil || *got != *r {
		t.Fatalf("read: %+v, %v", got, err)
	}
	if got, err := ReadReceiptFrame(br); got != nil || err != nil {
		t.Fatalf("at the stream's end: %+v, %v, want no receipt (unmetered)", got, err)
	}
	for name, b := range map[string][]byte{
		"short":        enc[:len(enc)-1],
		"long":         append(append([]byte{}, enc...), 0),
		"version":      append([]byte{3}, enc[1:]...),
		"v2 length":    append([]byte{2}, enc[1:]...),
		"v2 token 0":   append(append([]byte{2}, enc[1:]...), 0, 0, 0, 0, 0, 0, 0, 0),
		"body version": func() []byte { c := bytes.Clone(enc); c[1] = 9; return c }(),
		"empty":        nil,
	} {
		if _, err := DecodeReceiptFrame(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// A frame over the limit is refused before it is read.
	buf.Reset()
	_ = p2p.WriteFrame(&buf, make([]byte, ReceiptFrameSyncLen+1))
	if _, err := ReadReceiptFrame(bufio.NewReader(&buf)); err == nil {
		t.Fatal("an oversized receipt frame was read")
	}
}

func TestReceiptFrameSync(t *testing.T) {
	r := sampleNodeReceipt(t)
	r.Token = 0xfeed
	enc := EncodeReceiptFrame(r)
	if len(enc) != ReceiptFrameSyncLen || enc[0] != ReceiptFrameVersionSync {
		t.Fatalf("frame of %d bytes version %d, want %d bytes version 2", len(enc), enc[0], ReceiptFrameSyncLen)
	}
	var buf bytes.Buffer
	if err := p2p.WriteFrame(&buf, enc); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadReceiptFrame(bufio.NewReader(&buf)); err != nil || *got != *r {
		t.Fatalf("read: %+v, %v", got, err)
	}
	if _, err := DecodeReceiptFrame(enc[:ReceiptFrameLen]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a cut version 2 frame: %v", err)
	}
}

func FuzzDecodeReceiptFrame(f *testing.F) {
	f.Add(EncodeReceiptFrame(sampleNodeReceipt(f)))
	f.Add(func() []byte { r := sampleNodeReceipt(f); r.Token = 9; return EncodeReceiptFrame(r) }())
	f.Add([]byte{1})
	f.Add(make([]byte, ReceiptFrameLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeReceiptFrame(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !bytes.Equal(EncodeReceiptFrame(r), b) {
			t.Fatal("a decoded frame does not encode back to itself")
		}
	})
}
