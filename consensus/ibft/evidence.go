package ibft

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
)

// Equivocation evidence: proof that one validator signed two conflicting
// consensus messages for one view. The core reports it in Ready.Evidence;
// staking will accept it in a transaction to slash the offender, so the
// format is canonical and verifiable without any consensus state.
//
// What counts as conflicting (two messages of one Code, Height and Round,
// both signed by the same validator):
//
//   - PRE-PREPARE, PREPARE, COMMIT: different Digest (the proposal hash).
//     Only the digest is signed for a PRE-PREPARE, so two PRE-PREPAREs
//     carrying different bytes under one digest are not evidence.
//   - ROUND-CHANGE: a different prepared claim, (Digest, PreparedRound). An
//     honest validator signs one ROUND-CHANGE per round: the core re-sends
//     the one it signed and keeps it in the WAL across restarts.
//   - CERTIFICATE is unsigned and never evidence.
//
// The same vote signed twice (equal digest, other fields or signature bytes
// differing) is not evidence: it changes no one's count. Note that the
// guarantee behind "honest validators never equivocate" is the WAL: an
// operator who wipes a validator's WAL mid-height can make it equivocate.

// MaxEvidenceSize bounds an encoded Evidence: two signed headers (no
// payloads), each about 200 bytes.
const MaxEvidenceSize = 1024

// ErrBadEvidence is returned by Verify and DecodeEvidence for evidence that
// does not prove an equivocation or is not in canonical form.
var ErrBadEvidence = errors.New("ibft: invalid equivocation evidence")

// Evidence holds two conflicting signed messages of one validator for one
// view. In canonical form First's SigningDigest sorts strictly before
// Second's, so one pair of messages has exactly one encoding (NewEvidence
// orders them; DecodeEvidence and Verify reject any other order).
type Evidence struct {
	First  Signed
	Second Signed
}

// NewEvidence returns the canonical evidence for two signed messages,
// copying them. It does not check that they conflict; Verify does.
func NewEvidence(a, b Signed) Evidence {
	a, b = cloneSigned(a), cloneSigned(b)
	da, db := a.SigningDigest(), b.SigningDigest()
	if bytes.Compare(da[:], db[:]) > 0 {
		a, b = b, a
	}
	return Evidence{First: a, Second: b}
}

// View returns the code, height and round of the equivocation. With the
// offender (Verify) it is the key under which a piece of evidence counts
// once: other pairs of messages for the same key prove the same offence.
func (e *Evidence) View() (Code, uint64, uint64) {
	return e.First.Code, e.First.Height, e.First.Round
}

// Verify checks that e proves an equivocation by a member of validators
// (the validator set of e's height) and returns the offender: both messages
// have the same code (a signed one), height and round, they conflict (see
// the package comment above), e is in canonical order, and both signatures
// recover to the same address, which is in validators.
func (e *Evidence) Verify(validators []common.Address) (common.Address, error) {
	a, b := &e.First, &e.Second
	switch {
	case a.Code != b.Code || a.Height != b.Height || a.Round != b.Round:
		return common.Address{}, fmt.Errorf("%w: messages for different views", ErrBadEvidence)
	case a.Code != MsgPrePrepare && a.Code != MsgPrepare && a.Code != MsgCommit && a.Code != MsgRoundChange:
		return common.Address{}, fmt.Errorf("%w: code %s", ErrBadEvidence, a.Code)
	case !conflicting(a, b):
		return common.Address{}, fmt.Errorf("%w: messages do not conflict", ErrBadEvidence)
	}
	da, db := a.SigningDigest(), b.SigningDigest()
	if bytes.Compare(da[:], db[:]) >= 0 {
		return common.Address{}, fmt.Errorf("%w: not in canonical order", ErrBadEvidence)
	}
	who, err := e.Signer()
	if err != nil {
		return common.Address{}, err
	}
	if !slices.Contains(validators, who) {
		return common.Address{}, fmt.Errorf("%w: %s is not a validator", ErrBadEvidence, who)
	}
	return who, nil
}

// Signer returns the address both messages recover to, or an error when a
// signature does not recover or they recover to different addresses. It
// checks nothing else; Verify does.
func (e *Evidence) Signer() (common.Address, error) {
	fa, err := Ecrecover(digestBytes(&e.First), e.First.Signature)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: first: %w", ErrBadEvidence, err)
	}
	fb, err := Ecrecover(digestBytes(&e.Second), e.Second.Signature)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: second: %w", ErrBadEvidence, err)
	}
	if fa != fb {
		return common.Address{}, fmt.Errorf("%w: signed by %s and %s", ErrBadEvidence, fa, fb)
	}
	return fa, nil
}

// Encode returns the canonical RLP encoding of e.
func (e *Evidence) Encode() ([]byte, error) {
	b, err := rlp.EncodeToBytes(e)
	if err != nil {
		return nil, fmt.Errorf("ibft: encode evidence: %w", err)
	}
	return b, nil
}

// DecodeEvidence parses bytes made by Encode, rejecting inputs over
// MaxEvidenceSize, oversized signatures and non-canonical order. It does not
// check signatures or the validator set; Verify does.
func DecodeEvidence(data []byte) (*Evidence, error) {
	if len(data) > MaxEvidenceSize {
		return nil, fmt.Errorf("%w: evidence %d bytes", ErrTooLarge, len(data))
	}
	var e Evidence
	if err := rlp.DecodeBytes(data, &e); err != nil {
		return nil, fmt.Errorf("%w: evidence: %v", ErrDecode, err)
	}
	for _, s := range []*Signed{&e.First, &e.Second} {
		m := Message{Signed: *s}
		if err := m.checkShape(); err != nil {
			return nil, err
		}
	}
	da, db := e.First.SigningDigest(), e.Second.SigningDigest()
	if bytes.Compare(da[:], db[:]) >= 0 {
		return nil, fmt.Errorf("%w: evidence not in canonical order", ErrDecode)
	}
	return &e, nil
}

// conflicting reports whether two signed messages of one view are
// different votes (see the package comment above).
func conflicting(a, b *Signed) bool {
	if a.Code == MsgRoundChange {
		return a.Digest != b.Digest || a.PreparedRound != b.PreparedRound
	}
	return a.Digest != b.Digest
}

func cloneSigned(s Signed) Signed {
	s.CommitSeal = slices.Clone(s.CommitSeal)
	s.Signature = slices.Clone(s.Signature)
	return s
}
