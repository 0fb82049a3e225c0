package ibft

import (
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/consensus/cert"
)

// Code is the type of a consensus message.
type Code uint8

const (
	// MsgPrePrepare carries the proposer's block for (height, round), and for
	// round > 0 the round-change justification (paper §4, Algorithm 2/4).
	MsgPrePrepare Code = iota
	// MsgPrepare votes for the digest of the accepted PRE-PREPARE.
	MsgPrepare
	// MsgCommit carries a commit seal over the prepared digest.
	MsgCommit
	// MsgRoundChange asks to move to Round, carrying the sender's latest
	// prepared certificate (if any).
	MsgRoundChange
	// MsgCertificate is an unsigned catch-up reply: a block and the quorum of
	// signed COMMITs of one round that decided it. The COMMITs are the proof;
	// the envelope carries no signature of its own.
	MsgCertificate

	numCodes
)

func (c Code) String() string {
	switch c {
	case MsgPrePrepare:
		return "PRE-PREPARE"
	case MsgPrepare:
		return "PREPARE"
	case MsgCommit:
		return "COMMIT"
	case MsgRoundChange:
		return "ROUND-CHANGE"
	case MsgCertificate:
		return "CERTIFICATE"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Limits on what a message may carry. Decoding and Step reject anything
// larger, so a peer cannot make a validator allocate or verify without bound.
const (
	// MaxProposalSize bounds a proposal's raw bytes.
	MaxProposalSize = 8 << 20
	// MaxMessageSize bounds an encoded message: a proposal plus justification.
	MaxMessageSize = MaxProposalSize + 1<<20
	// MaxJustification bounds the signed messages a justification carries
	// (round changes or prepares); a justification needs at most one per
	// validator.
	MaxJustification = cert.MaxValidators
	// SignatureLength is the length of a message signature.
	SignatureLength = crypto.SignatureLength
)

var (
	// ErrTooLarge is returned for a message, proposal or justification over
	// its limit.
	ErrTooLarge = errors.New("ibft: message too large")
	// ErrDecode is returned when bytes are not a valid encoded message or record.
	ErrDecode = errors.New("ibft: malformed encoding")
	// ErrBadSignature is returned when a signature is malformed or does not recover.
	ErrBadSignature = errors.New("ibft: invalid signature")
)

// msgDomain separates consensus-message signatures from commit seals and
// transactions made with the same key.
var msgDomain = []byte("emcd/ibft/msg")

// Proposal is an opaque block: the core never looks inside Raw. The
// application computes Hash from Raw when it validates (ProposalValidated).
type Proposal struct {
	Height uint64
	Hash   common.Hash
	Raw    []byte
}

// Signed is the signed part of a consensus message. It is also the form in
// which messages travel inside a justification, without their payloads.
type Signed struct {
	Code   Code
	Height uint64
	Round  uint64
	// Digest is the proposal hash for PRE-PREPARE, PREPARE, COMMIT and
	// CERTIFICATE. For ROUND-CHANGE it is the digest of the sender's latest
	// prepared proposal, or the zero hash when the sender never prepared.
	Digest common.Hash
	// PreparedRound is the round of the prepared certificate a ROUND-CHANGE
	// carries (zero, and meaningless, when Digest is zero).
	PreparedRound uint64
	// CommitSeal is the cert.SignCommit seal over Digest (COMMIT only).
	CommitSeal []byte
	// Signature is the sender's signature over SigningDigest.
	Signature []byte
}

// body is what a signature covers: everything in Signed but the signature.
type body struct {
	Code          Code
	Height        uint64
	Round         uint64
	Digest        common.Hash
	PreparedRound uint64
	CommitSeal    []byte
}

// SigningDigest is the 32-byte digest a sender signs.
func (s *Signed) SigningDigest() common.Hash {
	b, err := rlp.EncodeToBytes(&body{s.Code, s.Height, s.Round, s.Digest, s.PreparedRound, s.CommitSeal})
	if err != nil {
		// Encoding fixed-shape structs of ints and byte strings cannot fail.
		panic(fmt.Sprintf("ibft: encode body: %v", err))
	}
	return crypto.Keccak256Hash(msgDomain, b)
}

// Message is the unit the core steps and emits. The payload fields are
// used by some codes only:
//
//	PRE-PREPARE:  Proposal (raw block); for round > 0 RoundChanges (a quorum of
//	              ROUND-CHANGE for this round) and Prepares (the certificate of
//	              the highest prepared round among them, if any).
//	ROUND-CHANGE: Proposal and Prepares: the sender's prepared block and its
//	              certificate (empty if never prepared).
//	CERTIFICATE:  Proposal and Commits: a quorum of signed COMMITs for Digest
//	              from one round (their seals form the block's certificate).
type Message struct {
	Signed
	Proposal     []byte
	RoundChanges []Signed
	Prepares     []Signed
	Commits      []Signed
}

// Encode returns the canonical RLP encoding of m.
func (m *Message) Encode() ([]byte, error) {
	b, err := rlp.EncodeToBytes(m)
	if err != nil {
		return nil, fmt.Errorf("ibft: encode message: %w", err)
	}
	return b, nil
}

// DecodeMessage parses an encoded message, rejecting inputs over
// MaxMessageSize and messages whose fields exceed their limits. It does not
// check signatures; Step does.
func DecodeMessage(data []byte) (*Message, error) {
	if len(data) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	var m Message
	if err := rlp.DecodeBytes(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if err := m.checkShape(); err != nil {
		return nil, err
	}
	return &m, nil
}

// checkShape enforces the size limits that do not need any state.
func (m *Message) checkShape() error {
	switch {
	case m.Code >= numCodes:
		return fmt.Errorf("%w: unknown code %d", ErrDecode, m.Code)
	case len(m.Proposal) > MaxProposalSize:
		return fmt.Errorf("%w: proposal %d bytes", ErrTooLarge, len(m.Proposal))
	case len(m.RoundChanges) > MaxJustification, len(m.Prepares) > MaxJustification,
		len(m.Commits) > MaxJustification:
		return fmt.Errorf("%w: justification", ErrTooLarge)
	case len(m.Signature) > SignatureLength, len(m.CommitSeal) > cert.SealLength:
		return fmt.Errorf("%w: signature", ErrTooLarge)
	}
	return nil
}

// Signer signs consensus messages and commit seals with a validator key.
type Signer interface {
	// Address is the validator address the signatures recover to.
	Address() common.Address
	// Sign signs a 32-byte digest, returning a [R || S || V] signature.
	Sign(digest []byte) ([]byte, error)
}

// KeySigner is a Signer over an in-memory secp256k1 key.
type KeySigner struct {
	key  *ecdsa.PrivateKey
	addr common.Address
}

var _ Signer = (*KeySigner)(nil)

// NewKeySigner returns a Signer for key.
func NewKeySigner(key *ecdsa.PrivateKey) *KeySigner {
	return &KeySigner{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
}

// Address implements Signer.
func (s *KeySigner) Address() common.Address { return s.addr }

// Sign implements Signer.
func (s *KeySigner) Sign(digest []byte) ([]byte, error) { return crypto.Sign(digest, s.key) }

// Ecrecover returns the address that made sig over digest. It is the
// default Config.Recover.
func Ecrecover(digest, sig []byte) (common.Address, error) {
	if len(sig) != SignatureLength {
		return common.Address{}, fmt.Errorf("%w: length %d", ErrBadSignature, len(sig))
	}
	pub, err := crypto.SigToPub(digest, sig)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// Record is one entry the core asks the driver to persist in its WAL before
// sending anything of the same Ready batch. Exactly one field is set.
type Record struct {
	// Message is a message this validator signed.
	Message *Message
	// Prepared is this validator's latest prepared certificate.
	Prepared *PreparedCert
}

// PreparedCert is a quorum of PREPAREs for one proposal in one round: what
// a ROUND-CHANGE must carry so the next proposer re-proposes the value.
type PreparedCert struct {
	Height   uint64
	Round    uint64
	Digest   common.Hash
	Proposal []byte
	Prepares []Signed
}

const (
	recordMessage  = 1
	recordPrepared = 2
)

type recordWire struct {
	Kind uint8
	Data []byte
}

// Encode returns the bytes to append to the WAL for r.
func (r Record) Encode() ([]byte, error) {
	var w recordWire
	var err error
	switch {
	case r.Message != nil:
		w.Kind = recordMessage
		w.Data, err = rlp.EncodeToBytes(r.Message)
	case r.Prepared != nil:
		w.Kind = recordPrepared
		w.Data, err = rlp.EncodeToBytes(r.Prepared)
	default:
		return nil, fmt.Errorf("%w: empty record", ErrDecode)
	}
	if err != nil {
		return nil, fmt.Errorf("ibft: encode record: %w", err)
	}
	return rlp.EncodeToBytes(&w)
}

// DecodeRecord parses bytes made by Record.Encode.
func DecodeRecord(data []byte) (Record, error) {
	if len(data) > MaxMessageSize {
		return Record{}, fmt.Errorf("%w: record %d bytes", ErrTooLarge, len(data))
	}
	var w recordWire
	if err := rlp.DecodeBytes(data, &w); err != nil {
		return Record{}, fmt.Errorf("%w: record: %v", ErrDecode, err)
	}
	switch w.Kind {
	case recordMessage:
		m, err := DecodeMessage(w.Data)
		if err != nil {
			return Record{}, err
		}
		return Record{Message: m}, nil
	case recordPrepared:
		var p PreparedCert
		if err := rlp.DecodeBytes(w.Data, &p); err != nil {
			return Record{}, fmt.Errorf("%w: prepared: %v", ErrDecode, err)
		}
		if len(p.Prepares) > MaxJustification || len(p.Proposal) > MaxProposalSize {
			return Record{}, fmt.Errorf("%w: prepared", ErrTooLarge)
		}
		return Record{Prepared: &p}, nil
	}
	return Record{}, fmt.Errorf("%w: record kind %d", ErrDecode, w.Kind)
}
