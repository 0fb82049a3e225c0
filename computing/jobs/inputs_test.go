package jobs_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// TestSpecGoldenWithoutInputs pins the encoding of specs without inputs to
// the bytes the code wrote before InputsSHA256 existed: their hashes, on
// chain, do not change.
func TestSpecGoldenWithoutInputs(t *testing.T) {
	for _, c := range []struct {
		s    jobs.Spec
		want string
	}{
		{goodSpec(), "f852a0aa00000000000000000000000000000000000000000000000000000000000000d086707974686f6e88747261696e2e7079c98845504f4348533d33018b4e56494449412048323030830138806483100000"},
		{jobs.Spec{Image: imageA, GPUs: 0, TimeoutSeconds: 10}, "e8a0aa00000000000000000000000000000000000000000000000000000000000000c0c08080800a80"},
	} {
		if got := hex.EncodeToString(encode(t, c.s)); got != c.want {
			t.Errorf("spec %+v encodes to %s, want %s", c.s, got, c.want)
		}
	}
	// A zero InputsSHA256 written out is not canonical.
	s := goodSpec()
	type withTail struct {
		jobs.Spec
	}
	raw := encode(t, s)
	var list []rlp.RawValue
	if err := rlp.DecodeBytes(raw, &list); err != nil {
		t.Fatal(err)
	}
	zero, _ := rlp.EncodeToBytes(common.Hash{})
	list = append(list, zero)
	explicit, _ := rlp.EncodeToBytes(list)
	if _, err := jobs.DecodeSpec(explicit); !errors.Is(err, jobs.ErrBadSpec) {
		t.Fatalf("explicit zero inputs hash accepted: %v", err)
	}
	// With inputs the tail is there and round-trips.
	s.InputsSHA256 = common.Hash{1}
	raw = encode(t, s)
	back, err := jobs.DecodeSpec(raw)
	if err != nil || back.InputsSHA256 != s.InputsSHA256 {
		t.Fatalf("spec with inputs: %+v %v", back, err)
	}
}

func bundle(t testing.TB, files ...string) []byte {
	t.Helper()
	var in jobs.Inputs
	for i := 0; i+1 < len(files); i += 2 {
		in = append(in, jobs.InputFile{Name: files[i], Data: []byte(files[i+1])})
	}
	data, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestInputsRoundTrip(t *testing.T) {
	data := bundle(t, "a.txt", "hello", "b.bin", "\x00\x01")
	in, err := jobs.DecodeInputs(data)
	if err != nil || len(in) != 2 || in[0].Name != "a.txt" || string(in[1].Data) != "\x00\x01" {
		t.Fatalf("decoded %+v %v", in, err)
	}
	s := goodSpec()
	s.InputsSHA256 = jobs.InputsHash(data)
	if _, err := jobs.DecodeInputsFor(&s, data); err != nil {
		t.Fatal(err)
	}
	s.InputsSHA256[0] ^= 1
	if _, err := jobs.DecodeInputsFor(&s, data); !errors.Is(err, jobs.ErrBadInputs) {
		t.Fatalf("hash mismatch: %v", err)
	}
}

// TestInputsRefusals: every naming rule and bound has its error, both in
// Encode and in DecodeInputs of the raw RLP.
func TestInputsRefusals(t *testing.T) {
	f := func(name string) jobs.InputFile { return jobs.InputFile{Name: name, Data: []byte("x")} }
	cases := map[string]jobs.Inputs{
		"none":       {},
		"empty name": {f("")},
		"slash":      {f("a/b")},
		"backslash":  {f(`a\b`)},
		"NUL":        {f("a\x00")},
		"dot":        {f(".")},
		"dotdot":     {f("..")},
		"long name":  {f(strings.Repeat("n", jobs.MaxInputNameBytes+1))},
		"duplicate":  {f("a"), f("a")},
		"unsorted":   {f("b"), f("a")},
		"too many":   make(jobs.Inputs, jobs.MaxInputFiles+1),
		"too large":  {{Name: "big", Data: make([]byte, jobs.MaxInputsBytes)}},
	}
	for i := range cases["too many"] {
		cases["too many"][i] = f(string(rune('A' + i)))
	}
	for name, in := range cases {
		if _, err := in.Encode(); !errors.Is(err, jobs.ErrBadInputs) {
			t.Errorf("%s: Encode err %v", name, err)
		}
		raw, err := rlp.EncodeToBytes(in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jobs.DecodeInputs(raw); !errors.Is(err, jobs.ErrBadInputs) {
			t.Errorf("%s: DecodeInputs err %v", name, err)
		}
	}
	good := bundle(t, "a", "1")
	for name, raw := range map[string][]byte{
		"trailing":      append(append([]byte{}, good...), 0x80),
		"empty":         nil,
		"not rlp":       {0xff},
		"not canonical": {0xc5, 0xc4, 0x81, 'a', 0x81, '1'}, // "1" as a long string
		"extra field":   {0xc5, 0xc4, 'a', '1', 0x80},
	} {
		if _, err := jobs.DecodeInputs(raw); !errors.Is(err, jobs.ErrBadInputs) {
			t.Errorf("%s: DecodeInputs err %v", name, err)
		}
	}
	if _, err := jobs.DecodeInputs(good); err != nil {
		t.Fatal(err)
	}
	// Names that are fine: dots inside, spaces, UTF-8.
	if _, err := (jobs.Inputs{f("..a"), f("a b.tar.gz"), f("é")}).Encode(); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecodeInputs: DecodeInputs never panics; whatever it accepts is
// canonical (encodes back to the input), within the bounds, its names
// plain, unique and ascending.
func FuzzDecodeInputs(f *testing.F) {
	f.Add(bundle(f, "a", "1", "b", "22"))
	f.Add([]byte{0xc0})
	f.Add([]byte{0xc5, 0xc4, 0x81, 'a', 0x81, '1'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := jobs.DecodeInputs(data)
		if err != nil {
			if !errors.Is(err, jobs.ErrBadInputs) {
				t.Fatalf("error %v does not wrap ErrBadInputs", err)
			}
			return
		}
		again, err := in.Encode()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted bundle re-encodes to %x (%v), input %x", again, err, data)
		}
		if len(in) == 0 || len(in) > jobs.MaxInputFiles || len(data) > jobs.MaxInputsBytes {
			t.Fatalf("accepted out-of-bounds bundle of %d files", len(in))
		}
		for i, fl := range in {
			if fl.Name == "" || fl.Name == "." || fl.Name == ".." || strings.ContainsAny(fl.Name, "/\\\x00") ||
				(i > 0 && in[i-1].Name >= fl.Name) {
				t.Fatalf("accepted name %q", fl.Name)
			}
		}
	})
}

// inputsSpec is goodSpec naming the bundle data.
func inputsSpec(data []byte) jobs.Spec {
	s := goodSpec()
	s.InputsSHA256 = jobs.InputsHash(data)
	return s
}

// TestSubmitInputs: a job with inputs is submitted through submitJobInputs
// and submitJobCreditsInputs; the record keeps the spec hash (covering the
// inputs hash), the log the spec; the bundle is in the calldata only.
func TestSubmitInputs(t *testing.T) {
	f := newFixture(t)
	data := bundle(t, "in.txt", "hello")
	s := inputsSpec(data)
	raw := encode(t, s)
	r := f.mustSend(sub, emc(1), "submitJobInputs", raw, big.NewInt(priceH200), data)
	out, err := f.abi.Unpack("submitJobInputs", r.ret)
	if err != nil {
		t.Fatal(err)
	}
	id := out[0].(*big.Int).Uint64()
	j := f.job(id)
	if h, _ := s.Hash(); j.SpecHash != h || !j.EscrowWei.Eq(emc(1)) {
		t.Fatalf("job %+v", j)
	}
	if len(r.logs) != 1 || bytes.Contains(r.logs[0].Data, data) {
		t.Fatalf("%d logs; the bundle must not be logged", len(r.logs))
	}
	f.buyCredits(sub, 10)
	r = f.mustSend(sub, nil, "submitJobCreditsInputs", raw, big.NewInt(priceH200), big.NewInt(3), data)
	out, _ = f.abi.Unpack("submitJobCreditsInputs", r.ret)
	if j := f.job(out[0].(*big.Int).Uint64()); !j.InCredits() || j.EscrowCredits.Uint64() != 3 {
		t.Fatalf("credits job %+v", j)
	}
	// The job runs and settles like any other.
	f.runToResult(id, n1, 1_000)
}

// TestSubmitInputsRefusals: each input rule reverts, with nothing changed
// and the fee paid.
func TestSubmitInputsRefusals(t *testing.T) {
	f := newFixture(t)
	f.buyCredits(sub, 10)
	data := bundle(t, "in.txt", "hello")
	withInputs := encode(t, inputsSpec(data))
	plain := encode(t, goodSpec())
	price := big.NewInt(priceH200)
	// Inputs on the old methods: a spec naming inputs is refused there
	// (and they have no argument to carry a bundle).
	f.mustRevert(sub, emc(1), jobs.ErrBadInputs, "submitJob", withInputs, price)
	f.mustRevert(sub, nil, jobs.ErrBadInputs, "submitJobCredits", withInputs, price, big.NewInt(1))
	// A bundle with a spec that names none, empty or not.
	f.mustRevert(sub, emc(1), jobs.ErrBadInputs, "submitJobInputs", plain, price, data)
	f.mustRevert(sub, emc(1), jobs.ErrBadInputs, "submitJobInputs", plain, price, []byte{})
	// Hash mismatch.
	other := bundle(t, "in.txt", "hellO")
	f.mustRevert(sub, emc(1), jobs.ErrBadInputs, "submitJobInputs", withInputs, price, other)
	f.mustRevert(sub, nil, jobs.ErrBadInputs, "submitJobCreditsInputs", withInputs, price, big.NewInt(1), other)
	// A bundle that hashes right but breaks a rule: bad name, oversize.
	bad, _ := rlp.EncodeToBytes(jobs.Inputs{{Name: "../x", Data: []byte("1")}})
	f.mustRevert(sub, emc(1), jobs.ErrBadInputs, "submitJobInputs", encode(t, inputsSpec(bad)), price, bad)
	big1, _ := rlp.EncodeToBytes(jobs.Inputs{{Name: "big", Data: bytes.Repeat([]byte{7}, jobs.MaxInputsBytes)}})
	f.mustRevert(sub, emc(1), jobs.ErrBadInputs, "submitJobInputs", encode(t, inputsSpec(big1)), price, big1)
	// The other submit rules still apply.
	f.mustRevert(sub, nil, jobs.ErrNoEscrow, "submitJobInputs", withInputs, price, data)
	f.mustRevert(sub, nil, jobs.ErrNoEscrow, "submitJobCreditsInputs", withInputs, price, big.NewInt(0), data)
	if jobs.JobCount(f.State) != 0 {
		t.Fatal("a refused submission made a job")
	}
}

// TestSubmitInputsGas: submitJobInputs charges intrinsic (calldata) gas,
// SubmitGas, the word gas, 8 per spec byte and the bundle's hashing; a
// full bundle fits a block many times over.
func TestSubmitInputsGas(t *testing.T) {
	f := newFixture(t)
	full := jobs.Inputs{{Name: "big", Data: bytes.Repeat([]byte{0xa5}, jobs.MaxInputsBytes-16)}}
	data, err := full.Encode()
	if err != nil {
		t.Fatal(err)
	}
	raw := encode(t, inputsSpec(data))
	call, _ := f.abi.Pack("submitJobInputs", raw, big.NewInt(priceH200), data)
	if len(call) > native.MaxInputBytes {
		t.Fatalf("a full bundle's call is %d bytes, over the module's %d", len(call), native.MaxInputBytes)
	}
	r := f.mustSend(sub, emc(1), "submitJobInputs", raw, big.NewInt(priceH200), data)
	words := (uint64(len(data)) + 31) / 32
	want := nativetest.IntrinsicGas(call) + jobs.SubmitGas + (uint64(len(call))+31)/32*native.GasPerInputWord +
		8*uint64(len(raw)) + jobs.InputsGasBase + jobs.InputsGasPerWord*words
	if r.gasUsed != want {
		t.Fatalf("submitJobInputs gas %d, want %d", r.gasUsed, want)
	}
	if r.gasUsed > 2_500_000 {
		t.Fatalf("a full bundle costs %d gas", r.gasUsed)
	}
	t.Logf("full bundle (%d bytes): %d gas", len(data), r.gasUsed)
}
