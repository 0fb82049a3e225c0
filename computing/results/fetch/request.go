package fetch

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/job"
)

// Bounds of the protocol.
const (
	// MaxChunk bounds the data of one response: a file is pulled in chunks
	// of at most this many bytes, one request each.
	MaxChunk = 1 << 20
	// MaxRequest bounds an encoded request (job id, a path of at most
	// job.MaxInputPathBytes, offset, expiry, signature, RLP overhead).
	MaxRequest = 512
	// MaxResponse bounds an encoded response: one chunk, the record (on a
	// file's first chunk) and the header.
	MaxResponse = MaxChunk + job.MaxResultBytes + 1024
	// MaxValidity bounds how far in the future a request's expiry may be:
	// a signed request is a bearer token for one file of one job until it
	// expires, so it must not live long.
	MaxValidity = time.Hour
	// sigLen is a secp256k1 signature [R || S || V], V in {0, 1}.
	sigLen = 65
)

// RecordPath is the path that names the result record itself rather than
// an output file. No output file can have it: job.ValidPath refuses "".
const RecordPath = ""

// Errors of request decoding and checking.
var (
	// ErrMalformed is returned for bytes that are not a well-formed request.
	ErrMalformed = errors.New("fetch: malformed request")
	// ErrBadSignature is returned for a signature that does not recover.
	ErrBadSignature = errors.New("fetch: bad signature")
	// ErrExpired is returned for a request past its expiry, or whose expiry
	// is further than MaxValidity ahead.
	ErrExpired = errors.New("fetch: request expired or not fresh")
)

// Auth is the submitter's authorisation: a signature over (chain id, job
// id, path, expiry). Anyone holding it may fetch that one file (or the
// record) of that one job until Expiry; it is worthless for any other job,
// path or chain.
//
// The probe form ([SignProbe]) is a validator's instead: Probe set, Epoch
// the epoch it probes in, Sig over [ProbeDigest]. It allows the record
// (RecordPath) only, of any job, and is accepted only from a validator
// signer of the current epoch (see [Probers]).
type Auth struct {
	// Expiry is a Unix time in seconds.
	Expiry uint64
	// Sig is [R || S || V] over Digest (ProbeDigest for a probe), V in
	// {0, 1}.
	Sig []byte
	// Probe marks the probe form; Epoch is its epoch. Both are left out
	// of the encoding of a submitter's request.
	Probe bool   `rlp:"optional"`
	Epoch uint64 `rlp:"optional"`
}

// Request is one wire request: a chunk of a file (or of the record) from
// Offset on.
type Request struct {
	JobID  uint64
	Path   string // RecordPath for the record
	Offset uint64
	Auth   Auth
}

// Digest is what the submitter signs: keccak256("emcd:getResult" ‖
// chainId (32 bytes) ‖ jobId (8 bytes) ‖ expiry (8 bytes) ‖ len(path)
// (2 bytes) ‖ path). The chain id keeps a request for one chain useless on
// another; the path's length prefix keeps the encoding unambiguous.
func Digest(chainID *uint256.Int, jobID uint64, path string, expiry uint64) common.Hash {
	var buf bytes.Buffer
	buf.WriteString("emcd:getResult")
	cid := chainID.Bytes32()
	buf.Write(cid[:])
	_ = binary.Write(&buf, binary.BigEndian, jobID)
	_ = binary.Write(&buf, binary.BigEndian, expiry)
	_ = binary.Write(&buf, binary.BigEndian, uint16(len(path)))
	buf.WriteString(path)
	return crypto.Keccak256Hash(buf.Bytes())
}

// ProbeDigest is what a prober signs: keccak256("emcd:probeRecord" ‖
// chainId (32 bytes) ‖ epoch (8 bytes) ‖ jobId (8 bytes) ‖ expiry (8
// bytes)). Its own tag keeps it apart from every Digest; it names no path
// because a probe may fetch the record only.
func ProbeDigest(chainID *uint256.Int, epoch, jobID, expiry uint64) common.Hash {
	var buf bytes.Buffer
	buf.WriteString("emcd:probeRecord")
	cid := chainID.Bytes32()
	buf.Write(cid[:])
	_ = binary.Write(&buf, binary.BigEndian, epoch)
	_ = binary.Write(&buf, binary.BigEndian, jobID)
	_ = binary.Write(&buf, binary.BigEndian, expiry)
	return crypto.Keccak256Hash(buf.Bytes())
}

// SignProbe authorises a validator's probe of a router's relay: fetching
// the record of job jobID on chainID, in epoch, until expiry. key is the
// validator's signer key.
func SignProbe(key *ecdsa.PrivateKey, chainID *uint256.Int, epoch, jobID uint64, expiry time.Time) (Auth, error) {
	exp := uint64(max(expiry.Unix(), 0))
	d := ProbeDigest(chainID, epoch, jobID, exp)
	sig, err := crypto.Sign(d[:], key)
	if err != nil {
		return Auth{}, fmt.Errorf("fetch: sign probe: %w", err)
	}
	return Auth{Expiry: exp, Sig: sig, Probe: true, Epoch: epoch}, nil
}

// Sign authorises fetching path of job jobID on chainID until expiry.
func Sign(key *ecdsa.PrivateKey, chainID *uint256.Int, jobID uint64, path string, expiry time.Time) (Auth, error) {
	exp := uint64(max(expiry.Unix(), 0))
	d := Digest(chainID, jobID, path, exp)
	sig, err := crypto.Sign(d[:], key)
	if err != nil {
		return Auth{}, fmt.Errorf("fetch: sign: %w", err)
	}
	return Auth{Expiry: exp, Sig: sig}, nil
}

// Signer returns the address that signed a over (chainID, jobID, path),
// or for a probe over (chainID, epoch, jobID); a probe for another path
// than RecordPath is ErrMalformed.
// It does not look at the expiry's freshness: see Fresh.
func (a Auth) Signer(chainID *uint256.Int, jobID uint64, path string) (common.Address, error) {
	if len(a.Sig) != sigLen || a.Sig[64] > 1 {
		return common.Address{}, fmt.Errorf("%w: want %d bytes with V in {0, 1}", ErrBadSignature, sigLen)
	}
	d := Digest(chainID, jobID, path, a.Expiry)
	if a.Probe {
		if path != RecordPath {
			return common.Address{}, fmt.Errorf("%w: a probe may fetch the record only, not %q", ErrMalformed, path)
		}
		d = ProbeDigest(chainID, a.Epoch, jobID, a.Expiry)
	}
	pub, err := crypto.SigToPub(d[:], a.Sig)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// Fresh checks that a has not expired at now and expires within
// MaxValidity of it.
func (a Auth) Fresh(now time.Time) error {
	sec := now.Unix()
	if sec < 0 || a.Expiry <= uint64(sec) {
		return fmt.Errorf("%w: expired at %d, now %d", ErrExpired, a.Expiry, sec)
	}
	if a.Expiry > uint64(sec)+uint64(MaxValidity/time.Second) {
		return fmt.Errorf("%w: expiry %d is more than %s ahead", ErrExpired, a.Expiry, MaxValidity)
	}
	return nil
}

// CheckPath accepts RecordPath and any path an output may have.
func CheckPath(p string) error {
	if p == RecordPath {
		return nil
	}
	if err := job.ValidPath(p); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// Encode returns the request's RLP encoding.
func (r *Request) Encode() ([]byte, error) {
	b, err := rlp.EncodeToBytes(r)
	if err != nil {
		return nil, fmt.Errorf("fetch: encode request: %w", err)
	}
	return b, nil
}

// DecodeRequest parses and bounds a request: at most MaxRequest bytes, a
// valid path, a signature of the right length, the probe form for the
// record only. It checks no signature.
func DecodeRequest(data []byte) (*Request, error) {
	if len(data) > MaxRequest {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(data), MaxRequest)
	}
	var r Request
	if err := rlp.DecodeBytes(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := CheckPath(r.Path); err != nil {
		return nil, err
	}
	if len(r.Auth.Sig) != sigLen {
		return nil, fmt.Errorf("%w: signature of %d bytes, want %d", ErrMalformed, len(r.Auth.Sig), sigLen)
	}
	if !r.Auth.Probe && r.Auth.Epoch != 0 {
		return nil, fmt.Errorf("%w: an epoch without the probe flag", ErrMalformed)
	}
	if r.Auth.Probe && r.Path != RecordPath {
		return nil, fmt.Errorf("%w: a probe may fetch the record only, not %q", ErrMalformed, r.Path)
	}
	// The optional probe fields decode from more than one encoding (a
	// trailing zero may be present or not): accept the canonical one only.
	if out, err := r.Encode(); err != nil || !bytes.Equal(out, data) {
		return nil, fmt.Errorf("%w: not the canonical encoding", ErrMalformed)
	}
	return &r, nil
}
