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
