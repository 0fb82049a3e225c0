package jobs_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/computing/jobs"
)

func TestSpecRoundTrip(t *testing.T) {
	s := goodSpec()
	data := encode(t, s)
	back, err := jobs.DecodeSpec(data)
	if err != nil {
		t.Fatal(err)
	}
	again := encode(t, back)
	if !bytes.Equal(again, data) {
		t.Fatal("spec does not round-trip")
	}
	if h, _ := s.Hash(); h != crypto.Keccak256Hash(data) {
		t.Fatal("Hash is not keccak256 of the encoding")
	}
	if s.MaxGPUMillis() != 100_000 {
		t.Fatalf("MaxGPUMillis %d", s.MaxGPUMillis())
	}
}

// TestSpecDeterministic: the optional Deterministic flag round-trips and
// changes the hash; a spec without it encodes as before it existed (no
// trailing field), and a false written out is not canonical.
func TestSpecDeterministic(t *testing.T) {
	plain := goodSpec()
	old := struct { // the spec's fields before the optional tail
		Image          common.Hash
		Args, Env      []string
		GPUs           uint32
		GPUModel       string
		MinMemoryMiB   uint64
		TimeoutSeconds uint64
		OutputCapBytes uint64
	}{plain.Image, plain.Args, plain.Env, plain.GPUs, plain.GPUModel, plain.MinMemoryMiB, plain.TimeoutSeconds, plain.OutputCapBytes}
	want, err := rlp.EncodeToBytes(&old)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encode(t, plain), want) {
		t.Fatal("a spec without the flag does not encode as before")
	}
	det := goodSpec()
	det.Deterministic = true
	data := encode(t, det)
	back, err := jobs.DecodeSpec(data)
	if err != nil || !back.Deterministic {
		t.Fatalf("deterministic spec: %+v %v", back, err)
	}
	if h1, _ := det.Hash(); h1 == crypto.Keccak256Hash(want) {
		t.Fatal("the flag does not change the hash")
	}
	if data[len(data)-1] != 0x01 {
		t.Fatalf("encoding ends %x, want the flag 0x01", data[len(data)-1])
	}
	falseOut := append(append([]byte{}, data[:len(data)-1]...), 0x80) // the flag written out as false
	if _, err := jobs.DecodeSpec(falseOut); !errors.Is(err, jobs.ErrBadSpec) {
		t.Fatalf("false written out: err %v", err)
	}
}

// TestSpecRefusals: every bound and rule has its error.
func TestSpecRefusals(t *testing.T) {
	long := strings.Repeat("x", jobs.MaxStringBytes+1)
	cases := []struct {
		name string
		mod  func(*jobs.Spec)
	}{
		{"zero image", func(s *jobs.Spec) { s.Image = common.Hash{} }},
		{"too many args", func(s *jobs.Spec) { s.Args = make([]string, jobs.MaxArgs+1) }},
		{"long arg", func(s *jobs.Spec) { s.Args = []string{long} }},
		{"too many env", func(s *jobs.Spec) { s.Env = make([]string, jobs.MaxEnv+1) }},
		{"env without =", func(s *jobs.Spec) { s.Env = []string{"FOO"} }},
		{"env without key", func(s *jobs.Spec) { s.Env = []string{"=1"} }},
		{"long env", func(s *jobs.Spec) { s.Env = []string{"A=" + long} }},
		{"no GPUs", func(s *jobs.Spec) { s.GPUs = 0 }},
		{"too many GPUs", func(s *jobs.Spec) { s.GPUs = 1025 }},
		{"long model", func(s *jobs.Spec) { s.GPUModel = strings.Repeat("m", 65) }},
		{"unprintable model", func(s *jobs.Spec) { s.GPUModel = "H\x00" }},
		{"no timeout", func(s *jobs.Spec) { s.TimeoutSeconds = 0 }},
		{"long timeout", func(s *jobs.Spec) { s.TimeoutSeconds = jobs.MaxTimeoutSeconds + 1 }},
		{"huge output", func(s *jobs.Spec) { s.OutputCapBytes = jobs.MaxOutputBytes + 1 }},
		{"too large", func(s *jobs.Spec) {
			s.Args = make([]string, jobs.MaxArgs)
			for i := range s.Args {
				s.Args[i] = long[:jobs.MaxStringBytes]
			}
		}},
	}
	for _, c := range cases {
		s := goodSpec()
		c.mod(&s)
		if _, err := s.Encode(); !errors.Is(err, jobs.ErrBadSpec) {
			t.Errorf("%s: Encode err %v", c.name, err)
		}
		raw, err := rlp.EncodeToBytes(&s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jobs.DecodeSpec(raw); !errors.Is(err, jobs.ErrBadSpec) {
			t.Errorf("%s: DecodeSpec err %v", c.name, err)
		}
	}
	// Not canonical: a non-minimal integer, trailing bytes, empty input.
	good := encode(t, goodSpec())
	for name, raw := range map[string][]byte{
		"trailing": append(append([]byte{}, good...), 0x80),
		"empty":    nil,
		"not rlp":  {0xff},
	} {
		if _, err := jobs.DecodeSpec(raw); !errors.Is(err, jobs.ErrBadSpec) {
			t.Errorf("%s: DecodeSpec err %v", name, err)
		}
	}
}

// FuzzDecodeSpec: DecodeSpec never panics, and whatever it accepts is
// canonical (encodes back to the input) and within the bounds.
func FuzzDecodeSpec(f *testing.F) {
	f.Add(encode(f, goodSpec()))
	det := goodSpec()
	det.Deterministic = true
	f.Add(encode(f, det))
	f.Add([]byte{0xc0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := jobs.DecodeSpec(data)
		if err != nil {
			if !errors.Is(err, jobs.ErrBadSpec) {
				t.Fatalf("error %v does not wrap ErrBadSpec", err)
			}
			return
		}
		again, err := s.Encode()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted spec re-encodes to %x (%v), input %x", again, err, data)
		}
		if len(data) > jobs.MaxSpecBytes || s.GPUs == 0 || s.TimeoutSeconds == 0 {
			t.Fatalf("accepted out-of-bounds spec %+v", s)
		}
	})
}
