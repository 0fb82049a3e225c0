package job

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrOutputs is returned by OutputDigest for outputs it cannot digest.
var ErrOutputs = errors.New("job: outputs cannot be digested")

// OutputDigestDomain opens every output digest.
const OutputDigestDomain = "emc:output-digest:v1"

// OutputDigest is what re-executions of a deterministic job compare (the
// jobs module's submitResultDigest and submitReexec carry it): sha256 over
// OutputDigestDomain, then the outputs sorted by path, each as its path's
// length (4 bytes, big-endian), its path and its 32-byte sha256, then the
// exit code (4 bytes, big-endian, two's complement). Times, sizes, logs
// and the executor are left out: two honest runs of a deterministic job
// give the same digest. Paths must be valid (ValidPath) and distinct, and
// each sha256 64 lowercase hex digits.
func OutputDigest(outputs []Output, exitCode int32) ([32]byte, error) {
	sorted := slices.Clone(outputs)
	slices.SortFunc(sorted, func(a, b Output) int { return strings.Compare(a.Path, b.Path) })
	h := sha256.New()
	h.Write([]byte(OutputDigestDomain))
	var buf [4]byte
	for i, o := range sorted {
		if err := ValidPath(o.Path); err != nil {
			return [32]byte{}, fmt.Errorf("%w: %w", ErrOutputs, err)
		}
		if i > 0 && sorted[i-1].Path == o.Path {
			return [32]byte{}, fmt.Errorf("%w: path %q twice", ErrOutputs, o.Path)
		}
		sum, err := hex.DecodeString(o.SHA256)
		if err != nil || len(sum) != sha256.Size || strings.ToLower(o.SHA256) != o.SHA256 {
			return [32]byte{}, fmt.Errorf("%w: %q: sha256 %q is not 64 lowercase hex digits", ErrOutputs, o.Path, o.SHA256)
		}
		binary.BigEndian.PutUint32(buf[:], uint32(len(o.Path)))
		h.Write(buf[:])
		h.Write([]byte(o.Path))
		h.Write(sum)
	}
	binary.BigEndian.PutUint32(buf[:], uint32(exitCode))
	h.Write(buf[:])
	return [32]byte(h.Sum(nil)), nil
}

// OutputDigest is the record's output digest (see the function
// OutputDigest) from its outputs and exit code.
func (r *Result) OutputDigest() ([32]byte, error) {
	if int64(r.ExitCode) != int64(int32(r.ExitCode)) {
		return [32]byte{}, fmt.Errorf("%w: exit code %d out of int32", ErrOutputs, r.ExitCode)
	}
	return OutputDigest(r.Outputs, int32(r.ExitCode))
}
