package job

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"
)

// Limits on a spec. They bound what an outside party can make a node parse,
// allocate and write.
const (
	MaxSpecBytes      = 64 << 10 // encoded spec
	MaxArgs           = 256
	MaxArgBytes       = 4096
	MaxEnv            = 128
	MaxEnvValueBytes  = 4096
	MaxInputs         = 64
	MaxInputPathBytes = 255
	MaxGPUs           = 64
	MaxTimeout        = 7 * 24 * time.Hour
	MaxOutputLimit    = 64 << 30 // 64 GiB
)

// Defaults filled in by Spec.Validate.
const (
	DefaultTimeout        = 10 * time.Minute
	DefaultMaxOutputBytes = 64 << 20 // 64 MiB
	DefaultPidsLimit      = 256
)

// Errors returned when a spec is decoded or validated.
var (
	// ErrInvalidSpec is returned (wrapped, with the reason) by DecodeSpec and
	// Spec.Validate for a spec that breaks a rule or a limit.
	ErrInvalidSpec = errors.New("job: invalid spec")
)

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	envKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Spec is one job as a requester asks for it. All numbers are integers with
// their unit in the name, so the canonical JSON (and so SpecSHA256) is the
// same on every machine. Zero means "default" for the limits that have one.
type Spec struct {
	// ID names the job; it also names its scratch dir and container.
	ID string `json:"id"`
	// Image is the container image (Docker executor). It must already be
	// present on the node, or be loaded from a tarball first: nothing is
	// pulled.
	Image string `json:"image,omitempty"`
	// Command is the program to run: the entrypoint inside Image, or the
	// path of an executable for the process executor.
	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`

	// GPUCount GPUs are allocated exclusively, each with at least
	// MinGPUMemoryBytes of memory.
	GPUCount          int   `json:"gpu_count,omitempty"`
	MinGPUMemoryBytes int64 `json:"min_gpu_memory_bytes,omitempty"`
	// CPUMillicores limits CPU time: 1500 is one and a half CPUs (0: no limit).
	CPUMillicores int64 `json:"cpu_millicores,omitempty"`
	// MemoryBytes limits memory, swap included (0: no limit).
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// PidsLimit bounds processes and threads in the container.
	PidsLimit int64 `json:"pids_limit,omitempty"`
	// TimeoutMillis is the wall-clock limit; the job is killed after it.
	TimeoutMillis int64 `json:"timeout_ms,omitempty"`
	// MaxOutputBytes bounds the total size of the files the job leaves in
	// its output dir; a job that writes more is killed.
	MaxOutputBytes int64 `json:"max_output_bytes,omitempty"`
	// Network asks for network access. Executors refuse it unless the node
	// operator allowed it.
	Network bool `json:"network,omitempty"`

	// Inputs are placed read-only in the job's input dir before it starts.
	Inputs []Input `json:"inputs,omitempty"`
}

// Input is one file the job reads, addressed by content.
type Input struct {
	// Path is relative to the input dir, slash-separated, without "..".
	Path      string `json:"path"`
	SHA256    string `json:"sha256"`
	SizeBytes int64  `json:"size_bytes"`
}

// DecodeSpec parses and validates a spec. Unknown fields are an error so
// that a requester never believes a limit applies when it was ignored.
func DecodeSpec(data []byte) (*Spec, error) {
	if len(data) > MaxSpecBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidSpec, len(data), MaxSpecBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalidSpec)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Encode returns the canonical JSON of the spec.
func (s *Spec) Encode() ([]byte, error) { return CanonicalJSON(s) }

// SHA256 is the hex sha256 of the spec's canonical JSON.
func (s *Spec) SHA256() (string, error) {
	b, err := s.Encode()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Timeout is the wall-clock limit as a duration.
func (s *Spec) Timeout() time.Duration { return time.Duration(s.TimeoutMillis) * time.Millisecond }

// Validate checks every rule and limit and fills in defaults (timeout,
// output limit, pids limit). It never reads the clock or the host.
func (s *Spec) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, a...))
	}
	if !idPattern.MatchString(s.ID) {
		return bad("id %q: want 1-64 of [A-Za-z0-9._-], starting alphanumeric", s.ID)
	}
	if s.Image == "" && s.Command == "" {
		return bad("neither image nor command given")
	}
	if len(s.Image) > 255 || strings.ContainsAny(s.Image, " \t\r\n\x00") {
		return bad("image %q", s.Image)
	}
	if len(s.Command) > MaxArgBytes || strings.ContainsRune(s.Command, 0) {
		return bad("command too long or holds NUL")
	}
	if len(s.Args) > MaxArgs {
		return bad("%d args, limit %d", len(s.Args), MaxArgs)
	}
	for i, a := range s.Args {
		if len(a) > MaxArgBytes || strings.ContainsRune(a, 0) {
			return bad("arg %d too long or holds NUL", i)
		}
	}
	if len(s.Env) > MaxEnv {
		return bad("%d env vars, limit %d", len(s.Env), MaxEnv)
	}
	for k, v := range s.Env {
		if !envKeyPattern.MatchString(k) {
			return bad("env name %q", k)
		}
		if len(v) > MaxEnvValueBytes || strings.ContainsRune(v, 0) {
			return bad("env %s too long or holds NUL", k)
		}
	}
	switch {
	case s.GPUCount < 0 || s.GPUCount > MaxGPUs:
		return bad("gpu_count %d: want 0..%d", s.GPUCount, MaxGPUs)
	case s.MinGPUMemoryBytes < 0 || s.MinGPUMemoryBytes > maxSafeInteger:
		return bad("min_gpu_memory_bytes %d", s.MinGPUMemoryBytes)
	case s.MinGPUMemoryBytes > 0 && s.GPUCount == 0:
		return bad("min_gpu_memory_bytes without gpu_count")
	case s.CPUMillicores < 0 || s.CPUMillicores > 1<<20:
		return bad("cpu_millicores %d", s.CPUMillicores)
	case s.MemoryBytes != 0 && (s.MemoryBytes < 6<<20 || s.MemoryBytes > maxSafeInteger):
		// Docker refuses limits under 6 MiB.
		return bad("memory_bytes %d: want 0 or 6 MiB..2^53", s.MemoryBytes)
	case s.PidsLimit < 0 || s.PidsLimit > 1<<22:
		return bad("pids_limit %d", s.PidsLimit)
	case s.TimeoutMillis < 0 || s.TimeoutMillis > MaxTimeout.Milliseconds():
		return bad("timeout_ms %d: want 0..%d", s.TimeoutMillis, MaxTimeout.Milliseconds())
	case s.MaxOutputBytes < 0 || s.MaxOutputBytes > MaxOutputLimit:
		return bad("max_output_bytes %d: want 0..%d", s.MaxOutputBytes, int64(MaxOutputLimit))
	}
	if len(s.Inputs) > MaxInputs {
		return bad("%d inputs, limit %d", len(s.Inputs), MaxInputs)
	}
	seen := make(map[string]bool, len(s.Inputs))
	for i, in := range s.Inputs {
		if err := ValidPath(in.Path); err != nil {
			return bad("input %d: %v", i, err)
		}
		if seen[in.Path] {
			return bad("input %d: duplicate path %q", i, in.Path)
		}
		seen[in.Path] = true
		if !sha256Pattern.MatchString(in.SHA256) {
			return bad("input %d: sha256 %q: want 64 lower-case hex digits", i, in.SHA256)
		}
		if in.SizeBytes < 0 || in.SizeBytes > MaxOutputLimit {
			return bad("input %d: size_bytes %d", i, in.SizeBytes)
		}
	}
	if s.TimeoutMillis == 0 {
		s.TimeoutMillis = DefaultTimeout.Milliseconds()
	}
	if s.MaxOutputBytes == 0 {
		s.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if s.PidsLimit == 0 {
		s.PidsLimit = DefaultPidsLimit
	}
	return nil
}

// ValidPath reports whether p is a clean, relative, slash-separated path
// that stays inside its directory: what input and output file names must be.
func ValidPath(p string) error {
	switch {
	case p == "" || len(p) > MaxInputPathBytes:
		return fmt.Errorf("path %q: want 1..%d bytes", p, MaxInputPathBytes)
	case strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("path %q holds a backslash or NUL", p)
	case path.IsAbs(p) || path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("path %q: want a clean relative path", p)
	}
	return nil
}
