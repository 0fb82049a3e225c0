package fetch

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/computing/job"
)

// Code is a response's status. The values are on the wire: never renumber.
type Code uint8

// Response codes. Everything but CodeOK is a refusal; the node says which.
const (
	CodeOK Code = 0
	// CodeMalformed: the request did not decode or named an impossible path.
	CodeMalformed Code = 1
	// CodeBadSignature: the signature does not recover.
	CodeBadSignature Code = 2
	// CodeExpired: the request expired, or expires too far ahead.
	CodeExpired Code = 3
	// CodeUnknownJob: no such job on the node's chain.
	CodeUnknownJob Code = 4
	// CodeNotSubmitter: the signature is not the job's submitter's.
	CodeNotSubmitter Code = 5
	// CodeNotFinished: the job has no result on chain (yet).
	CodeNotFinished Code = 6
	// CodeNotOurs: this node did not run the job.
	CodeNotOurs Code = 7
	// CodeNotFound: the record, or a file of that path, is not here.
	CodeNotFound Code = 8
	// CodeBadOffset: the offset is past the end of the file.
	CodeBadOffset Code = 9
	// CodeRateLimited: too many requests from this peer; retry later.
	CodeRateLimited Code = 10
	// CodeInternal: the node failed to read its store.
	CodeInternal Code = 11
	// CodeNotProber: a probe signed by no validator of the current epoch,
	// or for another epoch, or sent where probes are not accepted.
	CodeNotProber Code = 12
	// codeEnd bounds the known codes.
	codeEnd Code = 13
)

var codeNames = [...]string{"ok", "malformed", "bad_signature", "expired", "unknown_job", "not_submitter",
	"not_finished", "not_ours", "not_found", "bad_offset", "rate_limited", "internal", "not_prober"}

// String is the code's name, as the HTTP relay reports it.
func (c Code) String() string {
	if c < codeEnd {
		return codeNames[c]
	}
	return fmt.Sprintf("code%d", uint8(c))
}

// Errors the relay and the client return for refusals, one per kind of
// outcome a user must tell apart. A *RefusedError wraps one of them.
var (
	// ErrRefused is wrapped by every refusal.
	ErrRefused = errors.New("fetch: refused")
	// ErrNotSubmitter: the request is not signed by the job's submitter.
	ErrNotSubmitter = errors.New("fetch: not signed by the job's submitter")
	// ErrNotProber: a probe not signed by a validator of the current
	// epoch, or for another epoch.
	ErrNotProber = errors.New("fetch: not a probe of a validator of the current epoch")
	// ErrNotFinished: the job has no result on chain.
	ErrNotFinished = errors.New("fetch: job has no result yet")
	// ErrUnknownJob: no such job.
	ErrUnknownJob = errors.New("fetch: no such job")
	// ErrNotFound: the record or file is not there.
	ErrNotFound = errors.New("fetch: not found")
	// ErrRateLimited: the node or relay is rate-limiting this peer.
	ErrRateLimited = errors.New("fetch: rate limited")
	// ErrUnreachable: the compute node could not be reached, or did not
	// answer in time.
	ErrUnreachable = errors.New("fetch: compute node unreachable")
	// ErrMismatch: bytes did not match the hash the chain or the record
	// names: the node served something else, and it was not passed on as
	// good.
	ErrMismatch = errors.New("fetch: hash mismatch")
	// ErrBusy: the relay has MaxDownloads in progress; retry later.
	ErrBusy = errors.New("fetch: relay busy")
	// ErrTooLarge: the file is over the cap of the interface asked
	// (emc_getResult); fetch it over HTTP.
	ErrTooLarge = errors.New("fetch: file too large for this interface")
)

// Sentinel returns the sentinel a refusal code maps to.
func (c Code) Sentinel() error {
	switch c {
	case CodeMalformed:
		return ErrMalformed
	case CodeBadSignature:
		return ErrBadSignature
	case CodeExpired:
		return ErrExpired
	case CodeUnknownJob:
		return ErrUnknownJob
	case CodeNotSubmitter:
		return ErrNotSubmitter
	case CodeNotFinished:
		return ErrNotFinished
	case CodeNotProber:
		return ErrNotProber
	case CodeNotFound, CodeNotOurs, CodeBadOffset:
		return ErrNotFound
	case CodeRateLimited:
		return ErrRateLimited
	}
	return ErrRefused
}

// RefusedError is a refusal with its code and message.
type RefusedError struct {
	Code    Code
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("fetch: refused (%s): %s", e.Code, e.Message)
}

// Is matches ErrRefused and the code's sentinel.
func (e *RefusedError) Is(target error) bool {
	return target == ErrRefused || target == e.Code.Sentinel()
}

// refuse builds a refusal, the message from err.
func refuse(c Code, err error) *RefusedError { return &RefusedError{Code: c, Message: err.Error()} }

// codeOf maps an error to the refusal code the server answers with.
func codeOf(err error) Code {
	var re *RefusedError
	switch {
	case errors.As(err, &re):
		return re.Code
	case errors.Is(err, ErrMalformed):
		return CodeMalformed
	case errors.Is(err, ErrBadSignature):
		return CodeBadSignature
	case errors.Is(err, ErrExpired):
		return CodeExpired
	}
	return CodeInternal
}

// Response is one wire response. On CodeOK, Size is the whole file's
// size, SHA256 the hash the record names for it (the record's own hash for
// the record) and Data the bytes from the request's offset, at most
// MaxChunk; empty only at the end of the file. The answer to a file
// request at offset 0 also carries the record (Record), so that whoever
// relays the file can check it against the record, and the record against
// the chain, with the one authorisation the submitter gave for the file.
type Response struct {
	Code    Code
	Message string
	Size    uint64
	SHA256  common.Hash
	Data    []byte
	Record  []byte
}

// maxMessage bounds a refusal's message.
const maxMessage = 256

// Encode returns the response's RLP encoding.
func (r *Response) Encode() ([]byte, error) {
	if len(r.Message) > maxMessage {
		r.Message = r.Message[:maxMessage]
	}
	b, err := rlp.EncodeToBytes(r)
	if err != nil {
		return nil, fmt.Errorf("fetch: encode response: %w", err)
	}
	return b, nil
}

// DecodeResponse parses a response and bounds it. A refusal comes back as
// a *RefusedError.
func DecodeResponse(data []byte) (*Response, error) {
	if len(data) > MaxResponse {
		return nil, fmt.Errorf("%w: response of %d bytes, limit %d", ErrMalformed, len(data), MaxResponse)
	}
	var r Response
	if err := rlp.DecodeBytes(data, &r); err != nil {
		return nil, fmt.Errorf("%w: response: %w", ErrMalformed, err)
	}
	if len(r.Data) > MaxChunk || len(r.Message) > maxMessage || len(r.Record) > job.MaxResultBytes {
		return nil, fmt.Errorf("%w: response over its bounds", ErrMalformed)
	}
	if r.Code != CodeOK {
		return &r, &RefusedError{Code: r.Code, Message: r.Message}
	}
	return &r, nil
}
