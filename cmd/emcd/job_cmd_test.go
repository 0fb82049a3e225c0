package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/jobs"
)

// FuzzJobSpecFile: any bytes as a --spec file must not panic; a file that
// is accepted gives a spec that encodes canonically (DecodeSpec takes the
// encoding back to the same spec bytes).
func FuzzJobSpecFile(f *testing.F) {
	f.Add([]byte(`{"image":"0x` + strings.Repeat("ab", 32) + `","args":["run"],"env":["A=1"],"gpus":1,"timeoutSeconds":60}`))
	f.Add([]byte(`{"image":"0x01","gpus":0}`))
	f.Add([]byte(`{"Image":"0x` + strings.Repeat("ab", 32) + `","GPUs":4294967295,"TimeoutSeconds":1,"gpuModel":"\u0001"}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "spec.json")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		sf := jobSpecFlags{specFile: p}
		s, err := sf.build(&cobra.Command{}, nil)
		if err != nil {
			return
		}
		raw, err := s.Encode()
		if err != nil {
			return // over MaxSpecBytes: the module would refuse it too
		}
		back, err := jobs.DecodeSpec(raw)
		if err != nil {
			t.Fatalf("accepted spec %+v does not decode: %v", s, err)
		}
		again, _ := back.Encode()
		if !bytes.Equal(again, raw) {
			t.Fatalf("spec %+v re-encodes differently", s)
		}
	})
}

// FuzzParseDigest: any string must not panic; an accepted digest is
// non-zero and spelled back as sha256:HEX it parses to the same hash.
func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{"sha256:" + strings.Repeat("ab", 32), "0x" + strings.Repeat("00", 32), "sha256:", "zz", strings.Repeat("1", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDigest(s)
		if err != nil {
			return
		}
		if d == ([32]byte{}) {
			t.Fatalf("%q: zero digest accepted", s)
		}
		d2, err := parseDigest("sha256:" + strings.TrimPrefix(d.Hex(), "0x"))
		if err != nil || d2 != d {
			t.Fatalf("%q: %s does not parse back: %v", s, d.Hex(), err)
		}
	})
}

// TestBuildInputs: --input files become one canonical bundle sorted by
// name; duplicates, oversize, bad names and non-files are refused before
// anything is sent, and a --spec file's inputs hash must match.
func TestBuildInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	z, a := write("z.txt", []byte("zz")), write("sub/a.txt", []byte("aa"))
	bundle, err := buildInputs([]string{z, a})
	if err != nil {
		t.Fatal(err)
	}
	in, err := jobs.DecodeInputs(bundle)
	if err != nil || len(in) != 2 || in[0].Name != "a.txt" || string(in[1].Data) != "zz" {
		t.Fatalf("bundle %+v %v", in, err)
	}
	if b, err := buildInputs(nil); b != nil || err != nil {
		t.Fatalf("no inputs: %x %v", b, err)
	}
	big := write("big", make([]byte, jobs.MaxInputsBytes+1))
	nearly := write("nearly", make([]byte, jobs.MaxInputsBytes-4)) // fits raw, not encoded
	for name, paths := range map[string][]string{
		"duplicate": {z, write("other/z.txt", []byte("x"))},
		"oversize":  {big},
		"encoded":   {nearly},
		"directory": {dir},
		"missing":   {filepath.Join(dir, "nope")},
		"root":      {"/"},
		"dotdot":    {dir + "/.."},
	} {
		if _, err := buildInputs(paths); err == nil || !strings.Contains(err.Error(), "--input") {
			t.Errorf("%s: err %v", name, err)
		}
	}
	s := jobs.Spec{Image: [32]byte{1}, GPUs: 1, TimeoutSeconds: 1}
	if err := setInputsHash(&s, bundle); err != nil || s.InputsSHA256 != jobs.InputsHash(bundle) {
		t.Fatalf("hash %x %v", s.InputsSHA256, err)
	}
	if err := setInputsHash(&s, bundle); err != nil {
		t.Fatalf("the same hash again: %v", err)
	}
	if err := setInputsHash(&s, nil); err == nil {
		t.Fatal("a spec naming inputs without --input accepted")
	}
	other, _ := buildInputs([]string{z})
	if err := setInputsHash(&s, other); err == nil {
		t.Fatal("a spec naming other inputs accepted")
	}
}
