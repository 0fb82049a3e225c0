package pow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func encodedSample(t testing.TB, n int, rows []int) []byte {
	t.Helper()
	p := prove(t, [32]byte{42}, n)
	ops, err := p.Open(rows)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeOpenings(n, ops)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodingLayout(t *testing.T) {
	b := encodedSample(t, 64, []int{1, 4})
	// header 6, then per chunk 4 + 256 + 6·32 (64 leaves).
	if len(b) != 6+2*(4+256+192) {
		t.Fatalf("%d bytes", len(b))
	}
	if b[0] != 2 || binary.BigEndian.Uint32(b[1:]) != 64 || b[5] != 2 || binary.BigEndian.Uint32(b[6:]) != 1 {
		t.Fatalf("header %x", b[:10])
	}
	if MaxEncodedBytes != 6+16*(4+256+32*26) {
		t.Fatalf("MaxEncodedBytes %d", MaxEncodedBytes)
	}
}

func TestDecodeRefusals(t *testing.T) {
	good := encodedSample(t, 64, []int{1, 4})
	set := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:5]},
		{"version 0", set(0, 0)},
		{"version 1 (rows)", set(0, 1)},
		{"version 3", set(0, 3)},
		{"n 0", set(1, 0, 0, 0, 0)},
		{"n above MaxN", set(1, 0, 1, 0, 1)},
		{"n 100", set(1, 0, 0, 0, 100)},
		{"n 2^32-64", set(1, 0xff, 0xff, 0xff, 0xc0)},
		{"count 0", set(5, 0)},
		{"count 17", set(5, 17)},
		{"count 3", set(5, 3)},
		{"count 1", set(5, 1)},
		{"index 64", set(6, 0, 0, 0, 64)},
		{"indices not increasing", set(6+452, 0, 0, 0, 1)},
		{"n 128 (layout shifts)", set(1, 0, 0, 0, 128)},
		{"truncated row", good[:6+4+10]},
		{"truncated proof", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"oversize", make([]byte, MaxEncodedBytes+1)},
	} {
		if _, _, err := DecodeOpenings(tc.b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestEncodeRefusals(t *testing.T) {
	p := prove(t, [32]byte{1}, 64)
	ops, _ := p.Open([]int{2, 8})
	if _, err := EncodeOpenings(0, ops); !errors.Is(err, ErrBadWorkload) {
		t.Errorf("n 0: %v", err)
	}
	if _, err := EncodeOpenings(64, nil); !errors.Is(err, ErrOpenings) {
		t.Errorf("none: %v", err)
	}
	if _, err := EncodeOpenings(64, []Opening{ops[1], ops[0]}); !errors.Is(err, ErrOpenings) {
		t.Errorf("unsorted: %v", err)
	}
	short := []Opening{ops[0], {Index: 8, Chunk: ops[1].Chunk[:8], Proof: ops[1].Proof}}
	if _, err := EncodeOpenings(64, short); !errors.Is(err, ErrRowSize) {
		t.Errorf("short chunk: %v", err)
	}
	noProof := []Opening{ops[0], {Index: 8, Chunk: ops[1].Chunk}}
	if _, err := EncodeOpenings(64, noProof); !errors.Is(err, ErrProofLength) {
		t.Errorf("no proof: %v", err)
	}
	if _, err := EncodeOpenings(128, ops); !errors.Is(err, ErrProofLength) {
		t.Errorf("other n: %v", err)
	}
	if _, err := EncodeOpenings(100, ops); !errors.Is(err, ErrBadWorkload) {
		t.Errorf("n 100: %v", err)
	}
}

// FuzzDecodeOpenings: decoding never panics, and whatever decodes encodes
// back to the same bytes (the encoding is canonical).
func FuzzDecodeOpenings(f *testing.F) {
	f.Add(encodedSample(f, 64, []int{1, 4}))
	f.Add(encodedSample(f, 64, []int{0}))
	f.Add(encodedSample(f, 128, []int{0, 1, 255}))
	f.Add([]byte{1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ops, err := DecodeOpenings(b)
		if err != nil {
			return
		}
		again, err := EncodeOpenings(n, ops)
		if err != nil {
			t.Fatalf("decoded response does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("decode/encode changed the bytes")
		}
	})
}
