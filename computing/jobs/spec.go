package jobs

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/computing/registry"
)

// Bounds of a job spec. A spec at these bounds still encodes to at most
// MaxSpecBytes only if its strings are short: the encoded size is checked
// on its own.
const (
	// MaxSpecBytes bounds the encoded spec (the submitJob argument).
	MaxSpecBytes = 8_192
	// MaxArgs and MaxEnv bound the argument and environment lists.
	MaxArgs = 64
	MaxEnv  = 64
	// MaxStringBytes bounds one argument or one KEY=VALUE entry.
	MaxStringBytes = 1_024
	// MaxTimeoutSeconds bounds a job's run time (7 days).
	MaxTimeoutSeconds = 7 * 24 * 3600
	// MaxOutputBytes bounds a job's output cap (64 GiB).
	MaxOutputBytes = 64 << 30
)

// ErrBadSpec is returned (wrapped, with the reason) for a job spec that
// does not decode, is not canonical, or breaks a bound or rule.
var ErrBadSpec = errors.New("jobs: bad job spec")

// Spec is what a job asks for. Its encoding is the RLP list of the fields
// in this order; [DecodeSpec] accepts only the canonical encoding (decoding
// and encoding again gives the same bytes), so one job has one spec hash.
type Spec struct {
	// Image is the digest of the container image (sha256, as `docker
	// images --digests` shows it), which the node must hold.
	Image common.Hash
	// Args are the container's arguments.
	Args []string
	// Env are the container's environment entries, each KEY=VALUE.
	Env []string
	// GPUs is the number of GPUs the job needs; 0 is a CPU-only job,
	// which fits any node with a CPU-only price and is priced per second
	// by it (GPUModel and MinMemoryMiB must then be empty).
	GPUs uint32
	// GPUModel, when not empty, is the GPU model the node must have
	// (exactly as the registry lists it).
	GPUModel string
	// MinMemoryMiB is the least memory per GPU the node must have (0: any).
	MinMemoryMiB uint64
	// TimeoutSeconds is the longest the job may run; usage is capped at
	// TimeoutSeconds × GPUs GPU-seconds (TimeoutSeconds seconds CPU-only).
	TimeoutSeconds uint64
	// OutputCapBytes bounds the job's outputs.
	OutputCapBytes uint64
	// InputsSHA256, when not zero, is the sha256 of the job's input
	// bundle (inputs.go), which travels in the calldata of the submit
	// transaction (submitJobInputs, submitJobCreditsInputs). It is an
	// optional RLP tail: a spec without inputs encodes, and hashes, as it
	// did before the field existed, and a zero hash written out is not
	// canonical.
	InputsSHA256 common.Hash `rlp:"optional"`
	// Deterministic declares that two honest runs give the same outputs
	// and exit code: the result then carries an output digest
	// (submitResultDigest), and the job may be re-executed by other nodes
	// (sampled, or disputed by the submitter; reexec.go). An optional RLP
	// tail like InputsSHA256: a spec without it encodes and hashes as
	// before, and a false written out is not canonical.
	Deterministic bool `rlp:"optional"`
}

// Encode returns the spec's canonical encoding. It checks the spec first.
func (s *Spec) Encode() ([]byte, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	data, err := rlp.EncodeToBytes(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSpec, err)
	}
	if len(data) > MaxSpecBytes {
		return nil, fmt.Errorf("%w: %d bytes encoded (at most %d)", ErrBadSpec, len(data), MaxSpecBytes)
	}
	return data, nil
}

// Hash is keccak256 of the spec's canonical encoding.
func (s *Spec) Hash() (common.Hash, error) {
	data, err := s.Encode()
	if err != nil {
		return common.Hash{}, err
	}
	return crypto.Keccak256Hash(data), nil
}

// DecodeSpec decodes and checks a canonical spec encoding.
func DecodeSpec(data []byte) (Spec, error) {
	if len(data) == 0 {
		return Spec{}, fmt.Errorf("%w: empty", ErrBadSpec)
	}
	if len(data) > MaxSpecBytes {
		return Spec{}, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadSpec, len(data), MaxSpecBytes)
	}
	var s Spec
	if err := rlp.DecodeBytes(data, &s); err != nil {
		return Spec{}, fmt.Errorf("%w: %w", ErrBadSpec, err)
	}
	if err := s.Check(); err != nil {
		return Spec{}, err
	}
	again, err := rlp.EncodeToBytes(&s)
	if err != nil || !bytes.Equal(again, data) {
		return Spec{}, fmt.Errorf("%w: not the canonical encoding", ErrBadSpec)
	}
	return s, nil
}

// Check applies the bounds and rules to s.
func (s *Spec) Check() error {
	switch {
	case s.Image == (common.Hash{}):
		return fmt.Errorf("%w: zero image digest", ErrBadSpec)
	case len(s.Args) > MaxArgs:
		return fmt.Errorf("%w: %d args (at most %d)", ErrBadSpec, len(s.Args), MaxArgs)
	case len(s.Env) > MaxEnv:
		return fmt.Errorf("%w: %d env entries (at most %d)", ErrBadSpec, len(s.Env), MaxEnv)
	case s.GPUs == 0 && (s.GPUModel != "" || s.MinMemoryMiB != 0):
		return fmt.Errorf("%w: a CPU-only job (0 GPUs) names no GPU model or GPU memory", ErrBadSpec)
	case s.GPUs > registry.MaxGPUs:
		return fmt.Errorf("%w: %d GPUs (at most %d)", ErrBadSpec, s.GPUs, registry.MaxGPUs)
	case len(s.GPUModel) > registry.MaxModelBytes:
		return fmt.Errorf("%w: GPU model of %d bytes (at most %d)", ErrBadSpec, len(s.GPUModel), registry.MaxModelBytes)
	case s.TimeoutSeconds == 0 || s.TimeoutSeconds > MaxTimeoutSeconds:
		return fmt.Errorf("%w: timeout %d s (1 to %d)", ErrBadSpec, s.TimeoutSeconds, MaxTimeoutSeconds)
	case s.OutputCapBytes > MaxOutputBytes:
		return fmt.Errorf("%w: output cap %d bytes (at most %d)", ErrBadSpec, s.OutputCapBytes, uint64(MaxOutputBytes))
	}
	for i, a := range s.Args {
		if len(a) > MaxStringBytes {
			return fmt.Errorf("%w: arg %d of %d bytes (at most %d)", ErrBadSpec, i, len(a), MaxStringBytes)
		}
	}
	for i, e := range s.Env {
		if len(e) > MaxStringBytes {
			return fmt.Errorf("%w: env entry %d of %d bytes (at most %d)", ErrBadSpec, i, len(e), MaxStringBytes)
		}
		k, _, ok := bytes.Cut([]byte(e), []byte("="))
		if !ok || len(k) == 0 {
			return fmt.Errorf("%w: env entry %d is not KEY=VALUE", ErrBadSpec, i)
		}
	}
	for i := 0; i < len(s.GPUModel); i++ {
		if c := s.GPUModel[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: GPU model byte %d is not printable ASCII", ErrBadSpec, i)
		}
	}
	return nil
}

// MaxGPUMillis is the most usage a result may report: TimeoutSeconds × GPUs
// GPU-seconds, in GPU-milliseconds (at most 6.05e5 × 1024 × 1000: no
// overflow); for a CPU-only job TimeoutSeconds × 1000 milliseconds.
func (s *Spec) MaxGPUMillis() uint64 {
	return s.TimeoutSeconds * max(uint64(s.GPUs), 1) * 1000
}
