package challenge

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/p2p"
)

// Bounds of the protocol.
const (
	// MaxValidity bounds how far ahead a request's expiry may be.
	MaxValidity = 10 * time.Minute
	// RequestBytes is the size of every encoded request.
	RequestBytes = 1 + 8 + common.AddressLength + 8 + sigLen
	// MaxMessage bounds the reason of a refusal.
	MaxMessage = 256
	// requestVersion is the first byte of a request.
	requestVersion = 1
	// sigLen is a secp256k1 signature [R || S || V], V in {0, 1}.
	sigLen = 65
)

// Errors of requests.
var (
	// ErrMalformed is returned for bytes that are not a well-formed
	// request or response.
	ErrMalformed = errors.New("challenge: malformed message")
	// ErrBadSignature is returned for a signature that does not recover.
	ErrBadSignature = errors.New("challenge: bad signature")
	// ErrExpired is returned for a request past its expiry or expiring
	// more than MaxValidity ahead.
	ErrExpired = errors.New("challenge: request expired or not fresh")
)

// Request asks a node for the openings of its challenge of Epoch that
// the signer, a drawn verifier, is due.
type Request struct {
	Epoch uint64
	// Node is the challenged node's owner account.
	Node common.Address
	// Expiry is a Unix time in seconds.
	Expiry uint64
	// Sig is [R || S || V] over Digest, V in {0, 1}.
	Sig []byte
}

// Digest is what the verifier signs: keccak256("emcd:powOpenings" ‖
// chainId (32 bytes) ‖ u64be epoch ‖ node (20 bytes) ‖ u64be expiry).
func Digest(chainID *uint256.Int, epoch uint64, node common.Address, expiry uint64) common.Hash {
	var buf bytes.Buffer
	buf.WriteString("emcd:powOpenings")
	cid := chainID.Bytes32()
	buf.Write(cid[:])
	_ = binary.Write(&buf, binary.BigEndian, epoch)
	buf.Write(node[:])
	_ = binary.Write(&buf, binary.BigEndian, expiry)
	return crypto.Keccak256Hash(buf.Bytes())
}

// NewRequest signs a request for node's openings of epoch, valid until
// expiry.
func NewRequest(key *ecdsa.PrivateKey, chainID *uint256.Int, epoch uint64, node common.Address, expiry time.Time) (*Request, error) {
	exp := uint64(max(expiry.Unix(), 0))
	d := Digest(chainID, epoch, node, exp)
	sig, err := crypto.Sign(d[:], key)
	if err != nil {
		return nil, fmt.Errorf("challenge: sign: %w", err)
	}
	return &Request{Epoch: epoch, Node: node, Expiry: exp, Sig: sig}, nil
}

// Signer recovers the address that signed r on chainID. It does not
// check freshness: see Fresh.
func (r *Request) Signer(chainID *uint256.Int) (common.Address, error) {
	if len(r.Sig) != sigLen || r.Sig[64] > 1 {
		return common.Address{}, fmt.Errorf("%w: want %d bytes with V in {0, 1}", ErrBadSignature, sigLen)
	}
	d := Digest(chainID, r.Epoch, r.Node, r.Expiry)
	pub, err := crypto.SigToPub(d[:], r.Sig)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// Fresh checks that r has not expired at now and expires within
// MaxValidity of it.
func (r *Request) Fresh(now time.Time) error {
	sec := now.Unix()
	if sec < 0 || r.Expiry <= uint64(sec) {
		return fmt.Errorf("%w: expired at %d, now %d", ErrExpired, r.Expiry, sec)
	}
	if r.Expiry > uint64(sec)+uint64(MaxValidity/time.Second) {
		return fmt.Errorf("%w: expiry %d is more than %s ahead", ErrExpired, r.Expiry, MaxValidity)
	}
	return nil
}

// Encode returns the request's fixed-size encoding.
func (r *Request) Encode() ([]byte, error) {
	if len(r.Sig) != sigLen {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(r.Sig))
	}
	b := make([]byte, 0, RequestBytes)
	b = append(b, requestVersion)
	b = binary.BigEndian.AppendUint64(b, r.Epoch)
	b = append(b, r.Node[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Expiry)
	return append(b, r.Sig...), nil
}

// DecodeRequest parses a request: exactly RequestBytes, version 1. It
// checks no signature.
func DecodeRequest(b []byte) (*Request, error) {
	if len(b) != RequestBytes {
		return nil, fmt.Errorf("%w: request of %d bytes, want %d", ErrMalformed, len(b), RequestBytes)
	}
	if b[0] != requestVersion {
		return nil, fmt.Errorf("%w: request version %d", ErrMalformed, b[0])
	}
	r := &Request{Epoch: binary.BigEndian.Uint64(b[1:])}
	copy(r.Node[:], b[9:29])
	r.Expiry = binary.BigEndian.Uint64(b[29:])
	r.Sig = append([]byte(nil), b[37:]...)
	return r, nil
}

// Code is a response's outcome.
type Code uint8

// Response codes.
const (
	CodeOK Code = iota
	// CodeMalformed: the request did not decode or its signature did not
	// recover.
	CodeMalformed
	// CodeExpired: the request is not fresh.
	CodeExpired
	// CodeRateLimited: too many requests from this peer.
	CodeRateLimited
	// CodeNotOurs: the request names another node.
	CodeNotOurs
	// CodeNoChallenge: no committed challenge of that epoch on chain.
	CodeNoChallenge
	// CodeNotVerifier: the signer is not a drawn verifier of the challenge.
	CodeNotVerifier
	// CodeNotReady: the sample seed is not on chain yet (the commit
	// deadline block has no successor).
	CodeNotReady
	// CodeNoProver: this node no longer (or never) holds the output.
	CodeNoProver
	// CodeInternal: the node failed to answer.
	CodeInternal
	codeEnd
)

var codeNames = [...]string{"ok", "malformed", "expired", "rate_limited", "not_ours", "no_challenge", "not_verifier", "not_ready", "no_prover", "internal"}

func (c Code) String() string {
	if c < codeEnd {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Response is a node's answer: Openings (the pow encoding) with CodeOK,
// otherwise Message.
type Response struct {
	Code     Code
	Openings []byte
	Message  string
}

// Encode returns u8 code ‖ payload; a longer message is cut to MaxMessage
// bytes.
func (r *Response) Encode() []byte {
	if r.Code == CodeOK {
		return append([]byte{byte(CodeOK)}, r.Openings...)
	}
	m := r.Message
	if len(m) > MaxMessage {
		m = m[:MaxMessage]
	}
	return append([]byte{byte(r.Code)}, m...)
}

// DecodeResponse parses a response: a known code, an OK payload no larger
// than pow.MaxEncodedBytes (its openings are decoded by the caller), a
// message no longer than MaxMessage.
func DecodeResponse(b []byte, maxOpenings int) (*Response, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty response", ErrMalformed)
	}
	c := Code(b[0])
	switch {
	case c >= codeEnd:
		return nil, fmt.Errorf("%w: response code %d", ErrMalformed, b[0])
	case c == CodeOK:
		if len(b)-1 > maxOpenings {
			return nil, fmt.Errorf("%w: %d bytes of openings, at most %d", ErrMalformed, len(b)-1, maxOpenings)
		}
		return &Response{Code: c, Openings: append([]byte(nil), b[1:]...)}, nil
	default:
		if len(b)-1 > MaxMessage {
			return nil, fmt.Errorf("%w: message of %d bytes", ErrMalformed, len(b)-1)
		}
		return &Response{Code: c, Message: string(b[1:])}, nil
	}
}

// DefaultTimeout bounds one request's round trip.
const DefaultTimeout = 10 * time.Second

// Spec is the protocol's p2p spec: /emcd/<chain>/pow-openings/1.
func Spec(names p2p.Names, timeout time.Duration) p2p.Spec {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return p2p.Spec{ID: names.Prefix() + "/pow-openings/1", MaxRequest: RequestBytes, MaxResponse: 1 + pow.MaxEncodedBytes, Timeout: timeout}
}
