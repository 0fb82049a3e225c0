package job

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestOutputDigest: the digest is the documented sha256 (checked against
// a by-hand construction), ignores order, sizes and everything but paths,
// contents and the exit code, and refuses outputs it cannot digest.
func TestOutputDigest(t *testing.T) {
	outs := []Output{{Path: "b/out.txt", SHA256: sum("b"), SizeBytes: 1}, {Path: "a.bin", SHA256: sum("a"), SizeBytes: 9}}
	got, err := OutputDigest(outs, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write([]byte(OutputDigestDomain))
	for _, o := range []Output{outs[1], outs[0]} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(o.Path)))
		h.Write(n[:])
		h.Write([]byte(o.Path))
		b, _ := hex.DecodeString(o.SHA256)
		h.Write(b)
	}
	h.Write([]byte{0, 0, 0, 0})
	if want := [32]byte(h.Sum(nil)); got != want {
		t.Fatalf("digest %x, want %x", got, want)
	}
	swapped := []Output{outs[1], outs[0]}
	swapped[0].SizeBytes = 1234
	if again, _ := OutputDigest(swapped, 0); again != got {
		t.Fatal("order or size changed the digest")
	}
	for name, c := range map[string]struct {
		outs []Output
		exit int32
	}{
		"exit":    {outs, 1},
		"content": {[]Output{outs[0], {Path: "a.bin", SHA256: sum("A")}}, 0},
		"path":    {[]Output{outs[0], {Path: "a.bim", SHA256: sum("a")}}, 0},
		"fewer":   {outs[:1], 0},
	} {
		if d, err := OutputDigest(c.outs, c.exit); err != nil || d == got {
			t.Errorf("%s: digest unchanged or error %v", name, err)
		}
	}
	if empty, err := OutputDigest(nil, -1); err != nil || empty == ([32]byte{}) {
		t.Fatalf("no outputs: %x %v", empty, err)
	}
	for name, bad := range map[string][]Output{
		"twice":   {outs[0], outs[0]},
		"abs":     {{Path: "/etc/passwd", SHA256: sum("x")}},
		"dotdot":  {{Path: "../x", SHA256: sum("x")}},
		"short":   {{Path: "x", SHA256: "abcd"}},
		"upper":   {{Path: "x", SHA256: "AB" + sum("x")[2:]}},
		"not hex": {{Path: "x", SHA256: "zz" + sum("x")[2:]}},
		"empty":   {{Path: "", SHA256: sum("x")}},
	} {
		if _, err := OutputDigest(bad, 0); !errors.Is(err, ErrOutputs) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	r := Result{ExitCode: 3, Outputs: outs}
	want, _ := OutputDigest(outs, 3)
	if d, err := r.OutputDigest(); err != nil || d != want {
		t.Fatalf("Result.OutputDigest %x %v", d, err)
	}
	r.ExitCode = 1 << 40
	if _, err := r.OutputDigest(); !errors.Is(err, ErrOutputs) {
		t.Fatalf("exit out of int32: %v", err)
	}
}

// FuzzOutputDigest: any outputs give a digest or ErrOutputs, never a
// panic, and the digest does not depend on their order.
func FuzzOutputDigest(f *testing.F) {
	f.Add("a", sum("a"), "b/c", sum("b"), int32(0))
	f.Add("a", sum("a"), "a", sum("a"), int32(-1))
	f.Add("", "", "../x", "zz", int32(7))
	f.Fuzz(func(t *testing.T, p1, s1, p2, s2 string, exit int32) {
		outs := []Output{{Path: p1, SHA256: s1}, {Path: p2, SHA256: s2}}
		d1, err1 := OutputDigest(outs, exit)
		d2, err2 := OutputDigest([]Output{outs[1], outs[0]}, exit)
		if (err1 == nil) != (err2 == nil) || d1 != d2 {
			t.Fatalf("order changed the outcome: %x %v / %x %v", d1, err1, d2, err2)
		}
		if err1 != nil && !errors.Is(err1, ErrOutputs) {
			t.Fatalf("error %v", err1)
		}
	})
}
