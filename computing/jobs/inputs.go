package jobs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
)

// Bounds of an input bundle.
const (
	// MaxInputsBytes bounds an encoded input bundle. With the spec (at
	// most MaxSpecBytes) and the ABI words it fits in one module call
	// (native.MaxInputBytes, 64 KiB) and one pool transaction (128 KiB).
	MaxInputsBytes = 48 << 10
	// MaxInputFiles bounds the files in a bundle.
	MaxInputFiles = 64
	// MaxInputNameBytes bounds one file name.
	MaxInputNameBytes = 255
)

// ErrBadInputs is returned (wrapped, with the reason) for an input bundle
// that does not decode, is not canonical, breaks a bound or a naming
// rule, or does not match the spec's InputsSHA256.
var ErrBadInputs = errors.New("jobs: bad input bundle")

// InputFile is one file of an input bundle: the job reads Data as
// /job/in/Name (Docker) or $EMC_INPUT_DIR/Name (process executor).
type InputFile struct {
	Name string
	Data []byte
}

// Inputs is a job's input bundle. Its encoding is the RLP list of its
// files, each the list [name, data]; [DecodeInputs] accepts only the
// canonical encoding: at least one file, names plain file names (not
// empty, at most MaxInputNameBytes, no '/', '\\' or NUL, not "." or "..")
// strictly ascending by bytes (so unique), at most MaxInputFiles files and
// MaxInputsBytes encoded.
type Inputs []InputFile

// Encode returns the bundle's canonical encoding. It checks the bundle
// first.
func (in Inputs) Encode() ([]byte, error) {
	if err := in.Check(); err != nil {
		return nil, err
	}
	data, err := rlp.EncodeToBytes(in)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInputs, err)
	}
	if len(data) > MaxInputsBytes {
		return nil, fmt.Errorf("%w: %d bytes encoded (at most %d)", ErrBadInputs, len(data), MaxInputsBytes)
	}
	return data, nil
}

// DecodeInputs decodes and checks a canonical bundle encoding.
func DecodeInputs(data []byte) (Inputs, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadInputs)
	}
	if len(data) > MaxInputsBytes {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadInputs, len(data), MaxInputsBytes)
	}
	var in Inputs
	if err := rlp.DecodeBytes(data, &in); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInputs, err)
	}
	if err := in.Check(); err != nil {
		return nil, err
	}
	again, err := rlp.EncodeToBytes(in)
	if err != nil || !bytes.Equal(again, data) {
		return nil, fmt.Errorf("%w: not the canonical encoding", ErrBadInputs)
	}
	return in, nil
}

// DecodeInputsFor decodes data as the bundle spec names: its sha256 must
// be the spec's InputsSHA256 (not zero).
func DecodeInputsFor(s *Spec, data []byte) (Inputs, error) {
	if s.InputsSHA256 == (common.Hash{}) {
		return nil, fmt.Errorf("%w: the spec names no inputs", ErrBadInputs)
	}
	if got := InputsHash(data); got != s.InputsSHA256 {
		return nil, fmt.Errorf("%w: sha256 %s, the spec says %s", ErrBadInputs, got.Hex(), s.InputsSHA256.Hex())
	}
	return DecodeInputs(data)
}

// InputsHash is the sha256 of an encoded bundle, as Spec.InputsSHA256
// names it.
func InputsHash(data []byte) common.Hash { return sha256.Sum256(data) }

// Check applies the bounds and naming rules to the bundle.
func (in Inputs) Check() error {
	if len(in) == 0 {
		return fmt.Errorf("%w: no files", ErrBadInputs)
	}
	if len(in) > MaxInputFiles {
		return fmt.Errorf("%w: %d files (at most %d)", ErrBadInputs, len(in), MaxInputFiles)
	}
	for i, f := range in {
		if err := CheckInputName(f.Name); err != nil {
			return fmt.Errorf("%w (file %d)", err, i)
		}
		if i > 0 && in[i-1].Name >= f.Name {
			return fmt.Errorf("%w: names not unique and ascending (%q after %q)", ErrBadInputs, f.Name, in[i-1].Name)
		}
	}
	return nil
}

// CheckInputName checks that name is a plain file name a job may be given.
func CheckInputName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty file name", ErrBadInputs)
	case len(name) > MaxInputNameBytes:
		return fmt.Errorf("%w: file name of %d bytes (at most %d)", ErrBadInputs, len(name), MaxInputNameBytes)
	case name == "." || name == "..":
		return fmt.Errorf("%w: file name %q", ErrBadInputs, name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("%w: file name %q holds '/', '\\' or NUL", ErrBadInputs, name)
	}
	return nil
}
