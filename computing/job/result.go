package job

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Status says how a job ended.
type Status string

const (
	// StatusSucceeded: the job exited 0 within its limits.
	StatusSucceeded Status = "succeeded"
	// StatusFailed: the job exited non-zero (or was killed by the kernel,
	// e.g. for memory).
	StatusFailed Status = "failed"
	// StatusTimedOut: the job ran past its timeout and was killed.
	StatusTimedOut Status = "timed_out"
	// StatusOutputLimit: the job wrote more than MaxOutputBytes and was killed.
	StatusOutputLimit Status = "output_limit"
	// StatusCanceled: the node canceled the job (shutdown, lease lost).
	StatusCanceled Status = "canceled"
)

// ErrRecordHash is returned by Result.Verify when RecordSHA256 does not match
// the record's contents.
var ErrRecordHash = errors.New("job: result record hash mismatch")

// MaxResultBytes bounds an encoded result record.
const MaxResultBytes = 1 << 20

// Result is the record a node reports for one run of a job. Its numbers are
// integers with their unit in the name; its times are Unix milliseconds.
type Result struct {
	JobID      string `json:"job_id"`
	SpecSHA256 string `json:"spec_sha256"`
	// Executor is "docker" or "process"; a process run promises no isolation.
	Executor string `json:"executor"`
	Status   Status `json:"status"`
	// ExitCode is the job's exit status; 128+n when killed by signal n.
	ExitCode int `json:"exit_code"`
	// OOMKilled is set when the kernel killed the job for its memory limit.
	OOMKilled bool `json:"oom_killed,omitempty"`

	StartedAtUnixMillis  int64 `json:"started_at_unix_ms"`
	FinishedAtUnixMillis int64 `json:"finished_at_unix_ms"`
	WallMillis           int64 `json:"wall_ms"`
	// GPUUUIDs are the GPUs (or MIG instances) the job had exclusively.
	GPUUUIDs []string `json:"gpu_uuids"`
	// GPUMillis is GPU time billed: len(GPUUUIDs) × WallMillis.
	GPUMillis int64 `json:"gpu_ms"`
	// CPUMillis is CPU time used (user + system), when the executor could
	// measure it; Docker's is sampled and may miss the last second.
	CPUMillis int64 `json:"cpu_ms"`

	// Stdout and stderr: byte counts seen, and the last bytes kept.
	StdoutBytes int64  `json:"stdout_bytes"`
	StderrBytes int64  `json:"stderr_bytes"`
	StdoutTail  string `json:"stdout_tail"`
	StderrTail  string `json:"stderr_tail"`

	// Outputs are the files the job left in its output dir, by path.
	Outputs []Output `json:"outputs"`

	// RecordSHA256 is the hex sha256 of the RFC 8785 canonical JSON of this
	// record with RecordSHA256 itself left out. Seal sets it.
	RecordSHA256 string `json:"record_sha256,omitempty"`
}

// Output is one file a job produced, addressed by content.
type Output struct {
	Path      string `json:"path"`
	SHA256    string `json:"sha256"`
	SizeBytes int64  `json:"size_bytes"`
}

// SetTimes records start and finish, and the wall and GPU time they imply.
// Wall time is rounded up to the millisecond: a job that ran held its
// GPUs, so a run shorter than 1 ms still bills 1 ms (truncating made a
// fast job free, and its re-execution fee zero).
func (r *Result) SetTimes(started, finished time.Time) {
	r.StartedAtUnixMillis = started.UnixMilli()
	r.FinishedAtUnixMillis = finished.UnixMilli()
	r.WallMillis = 0
	if d := finished.Sub(started); d > 0 {
		r.WallMillis = int64((d + time.Millisecond - 1) / time.Millisecond)
	}
	r.GPUMillis = int64(len(r.GPUUUIDs)) * r.WallMillis
}

// Hash computes the record hash: sha256 of the canonical JSON of r without
// RecordSHA256.
func (r *Result) Hash() (string, error) {
	c := *r
	c.RecordSHA256 = ""
	b, err := CanonicalJSON(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Seal sets RecordSHA256. Change nothing in r afterwards.
func (r *Result) Seal() error {
	if r.GPUUUIDs == nil {
		r.GPUUUIDs = []string{}
	}
	if r.Outputs == nil {
		r.Outputs = []Output{}
	}
	h, err := r.Hash()
	if err != nil {
		return err
	}
	r.RecordSHA256 = h
	return nil
}

// Verify checks RecordSHA256 against the record.
func (r *Result) Verify() error {
	h, err := r.Hash()
	if err != nil {
		return err
	}
	if h != r.RecordSHA256 {
		return fmt.Errorf("%w: have %s, computed %s", ErrRecordHash, r.RecordSHA256, h)
	}
	return nil
}

// Encode returns the canonical JSON of the sealed record.
func (r *Result) Encode() ([]byte, error) { return CanonicalJSON(r) }

// DecodeResult parses a record and verifies its hash.
func DecodeResult(data []byte) (*Result, error) {
	if len(data) > MaxResultBytes {
		return nil, fmt.Errorf("job: result record of %d bytes, limit %d", len(data), MaxResultBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Result
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("job: decode result: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("job: decode result: trailing data")
	}
	if err := r.Verify(); err != nil {
		return nil, err
	}
	return &r, nil
}
