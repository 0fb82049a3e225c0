package job

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func validSpec() Spec {
	return Spec{ID: "job-1", Image: "emc/test:1", Args: []string{"a"}}
}

func TestSpecValidate(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		mod  func(*Spec)
		ok   bool
	}{
		{"minimal image", func(*Spec) {}, true},
		{"minimal command", func(s *Spec) { s.Image = ""; s.Command = "/bin/true" }, true},
		{"neither image nor command", func(s *Spec) { s.Image = "" }, false},
		{"bad id", func(s *Spec) { s.ID = "../x" }, false},
		{"empty id", func(s *Spec) { s.ID = "" }, false},
		{"long id", func(s *Spec) { s.ID = strings.Repeat("a", 65) }, false},
		{"image with space", func(s *Spec) { s.Image = "a b" }, false},
		{"arg with NUL", func(s *Spec) { s.Args = []string{"a\x00"} }, false},
		{"too many args", func(s *Spec) { s.Args = make([]string, MaxArgs+1) }, false},
		{"env ok", func(s *Spec) { s.Env = map[string]string{"A_1": "x"} }, true},
		{"env bad name", func(s *Spec) { s.Env = map[string]string{"A=B": "x"} }, false},
		{"negative gpus", func(s *Spec) { s.GPUCount = -1 }, false},
		{"too many gpus", func(s *Spec) { s.GPUCount = MaxGPUs + 1 }, false},
		{"gpu memory without gpus", func(s *Spec) { s.MinGPUMemoryBytes = 1 }, false},
		{"gpu memory", func(s *Spec) { s.GPUCount = 1; s.MinGPUMemoryBytes = 80 << 30 }, true},
		{"memory under docker minimum", func(s *Spec) { s.MemoryBytes = 1 << 20 }, false},
		{"memory", func(s *Spec) { s.MemoryBytes = 64 << 20 }, true},
		{"negative cpu", func(s *Spec) { s.CPUMillicores = -1 }, false},
		{"timeout too long", func(s *Spec) { s.TimeoutMillis = MaxTimeout.Milliseconds() + 1 }, false},
		{"output too large", func(s *Spec) { s.MaxOutputBytes = MaxOutputLimit + 1 }, false},
		{"input ok", func(s *Spec) { s.Inputs = []Input{{Path: "d/x.bin", SHA256: sha, SizeBytes: 3}} }, true},
		{"input escapes", func(s *Spec) { s.Inputs = []Input{{Path: "../x", SHA256: sha}} }, false},
		{"input absolute", func(s *Spec) { s.Inputs = []Input{{Path: "/etc/passwd", SHA256: sha}} }, false},
		{"input unclean", func(s *Spec) { s.Inputs = []Input{{Path: "a//b", SHA256: sha}} }, false},
		{"input dot", func(s *Spec) { s.Inputs = []Input{{Path: ".", SHA256: sha}} }, false},
		{"input duplicate", func(s *Spec) { s.Inputs = []Input{{Path: "a", SHA256: sha}, {Path: "a", SHA256: sha}} }, false},
		{"input bad hash", func(s *Spec) { s.Inputs = []Input{{Path: "a", SHA256: strings.ToUpper(sha)}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.mod(&s)
			err := s.Validate()
			if tt.ok && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("got %v, want ErrInvalidSpec", err)
			}
		})
	}
}

func TestSpecDefaults(t *testing.T) {
	s := validSpec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Timeout() != DefaultTimeout || s.MaxOutputBytes != DefaultMaxOutputBytes || s.PidsLimit != DefaultPidsLimit {
		t.Fatalf("defaults not filled: %+v", s)
	}
}

func TestDecodeSpec(t *testing.T) {
	in := `{"id":"j","image":"img","gpu_count":2,"env":{"B":"1","A":"2"},"timeout_ms":1000}`
	s, err := DecodeSpec([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"env":{"A":"2","B":"1"},"gpu_count":2,"id":"j","image":"img","max_output_bytes":67108864,"pids_limit":256,"timeout_ms":1000}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{
		`{"id":"j","image":"img","gpus":2}`,        // unknown field
		`{"id":"j","image":"img"} {}`,              // trailing
		`{"id":"j","image":"img","gpu_count":1.5}`, // fraction
		`{"id":"j","image":"img","timeout_ms":-1}`, // negative
		`[]`,
	} {
		if _, err := DecodeSpec([]byte(bad)); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("DecodeSpec(%s) = %v, want ErrInvalidSpec", bad, err)
		}
	}
	if _, err := DecodeSpec(bytes.Repeat([]byte(" "), MaxSpecBytes+1)); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("oversized spec: %v", err)
	}
}

// FuzzDecodeSpec: whatever decodes must validate, encode canonically, and
// decode back to the same canonical bytes (decode→encode is a fixed point).
func FuzzDecodeSpec(f *testing.F) {
	f.Add([]byte(`{"id":"j","image":"img","gpu_count":2,"env":{"B":"1"},"inputs":[{"path":"a/b","sha256":"` + strings.Repeat("0", 64) + `","size_bytes":1}]}`))
	f.Add([]byte(`{"id":"x","command":"/bin/sh","args":["-c","echo \u2028"],"memory_bytes":6291456}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSpec(data)
		if err != nil {
			return
		}
		enc, err := s.Encode()
		if err != nil {
			t.Fatalf("valid spec does not encode: %v", err)
		}
		s2, err := DecodeSpec(enc)
		if err != nil {
			t.Fatalf("canonical spec does not decode: %v\n%s", err, enc)
		}
		enc2, err := s2.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed bytes:\n%s\n%s", enc, enc2)
		}
	})
}
