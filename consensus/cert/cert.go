// Package cert defines what makes a block final in emcd: the commit
// certificate (a quorum of validators' commit seals over the block hash) and
// the header extra-data that carries it.
//
// Block format. Headers are standard Ethereum headers and the block hash is
// the keccak of the RLP header. Header.Extra is the RLP of Extra: the
// validator set (only in genesis and epoch-boundary blocks) and the commit
// certificate of the parent block. The certificate of block h therefore
// travels in block h+1, and the newest block's certificate is stored beside
// it. Nothing that differs between honest nodes or rounds is hashed: the
// certificate a proposer puts into h+1 is part of the proposal everybody
// agrees on. A commit seal signs the block hash together with the round in
// which the validator committed, and a certificate names that round: without
// IBFT 1.0's locks an honest validator may commit different blocks in
// different rounds of one height, so seals of different rounds must never add
// up to a certificate. The round lives in the certificate (which travels in
// the next block), never in the certified block's own header.
package cert

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/consensus/quorum"
)

// SealLength is the length of one commit seal: a secp256k1 [R || S || V]
// signature as produced by go-ethereum's crypto.Sign.
const SealLength = crypto.SignatureLength

// MaxSeals bounds the seals a certificate may carry, so a malicious block
// cannot make a verifier recover an unbounded number of signatures.
const MaxSeals = 1024

var (
	// ErrNoQuorum is returned when a certificate holds fewer valid seals than
	// the quorum of the validator set.
	ErrNoQuorum = errors.New("cert: not enough commit seals for a quorum")
	// ErrBadSeal is returned for a seal that is malformed or does not recover.
	ErrBadSeal = errors.New("cert: invalid commit seal")
	// ErrNotValidator is returned for a seal by an address outside the set.
	ErrNotValidator = errors.New("cert: seal by a non-validator")
	// ErrDuplicateSeal is returned when one validator sealed twice.
	ErrDuplicateSeal = errors.New("cert: duplicate seal")
	// ErrTooManySeals is returned when a certificate exceeds MaxSeals, or
	// holds more seals than the validator set has members.
	ErrTooManySeals = errors.New("cert: too many seals")
)

// commitDomain separates commit seals from every other signature a
// validator key makes (transactions, consensus messages).
var commitDomain = []byte("emcd/ibft/commit")

// CommitDigest is the digest a validator signs to commit the block with hash
// blockHash in round: keccak256("emcd/ibft/commit" ‖ blockHash ‖ round as 8
// bytes big-endian).
func CommitDigest(blockHash common.Hash, round uint64) common.Hash {
	var r [8]byte
	binary.BigEndian.PutUint64(r[:], round)
	return crypto.Keccak256Hash(commitDomain, blockHash[:], r[:])
}

// Certificate is a quorum's commit seals over one block hash, all made in
// the same round.
type Certificate struct {
	Round uint64
	Seals [][]byte
}

// SignCommit produces a commit seal over (blockHash, round) with signer.
func SignCommit(blockHash common.Hash, round uint64, sign func(digest []byte) ([]byte, error)) ([]byte, error) {
	d := CommitDigest(blockHash, round)
	sig, err := sign(d[:])
	if err != nil {
		return nil, fmt.Errorf("cert: sign commit: %w", err)
	}
	return sig, nil
}

// RecoverSealer returns the address that made seal over (blockHash, round).
func RecoverSealer(blockHash common.Hash, round uint64, seal []byte) (common.Address, error) {
	if len(seal) != SealLength {
		return common.Address{}, fmt.Errorf("%w: length %d", ErrBadSeal, len(seal))
	}
	d := CommitDigest(blockHash, round)
	pub, err := crypto.SigToPub(d[:], seal)
	if err != nil {
		return common.Address{}, fmt.Errorf("%w: %v", ErrBadSeal, err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// Verify checks that c proves blockHash final under validators: every seal
// is valid for (blockHash, c.Round), by a distinct member of the set, and
// there are at least quorum.Size(len(validators)) of them. More than a
// quorum is fine (a full certificate carries the seals of late committers
// too), more than one per validator is not: a certificate with more seals
// than validators is rejected before any signature is recovered. It returns
// the sealers in seal order.
func (c *Certificate) Verify(blockHash common.Hash, validators []common.Address) ([]common.Address, error) {
	if len(c.Seals) > MaxSeals || len(c.Seals) > len(validators) {
		return nil, fmt.Errorf("%w: %d seals for %d validators", ErrTooManySeals, len(c.Seals), len(validators))
	}
	members := make(map[common.Address]bool, len(validators))
	for _, v := range validators {
		members[v] = true
	}
	seen := make(map[common.Address]bool, len(c.Seals))
	signers := make([]common.Address, 0, len(c.Seals))
	for i, s := range c.Seals {
		addr, err := RecoverSealer(blockHash, c.Round, s)
		if err != nil {
			return nil, fmt.Errorf("seal %d: %w", i, err)
		}
		if !members[addr] {
			return nil, fmt.Errorf("seal %d: %w: %s", i, ErrNotValidator, addr)
		}
		if seen[addr] {
			return nil, fmt.Errorf("seal %d: %w by %s", i, ErrDuplicateSeal, addr)
		}
		seen[addr] = true
		signers = append(signers, addr)
	}
	if q := quorum.Size(len(validators)); len(signers) < q {
		return nil, fmt.Errorf("%w: %d of %d needed", ErrNoQuorum, len(signers), q)
	}
	return signers, nil
}

// Encode returns the RLP encoding of c, the form stored beside the newest block.
func (c *Certificate) Encode() ([]byte, error) { return rlp.EncodeToBytes(c) }

// DecodeCertificate parses bytes produced by Encode.
func DecodeCertificate(data []byte) (*Certificate, error) {
	var c Certificate
	if err := rlp.DecodeBytes(data, &c); err != nil {
		return nil, fmt.Errorf("cert: decode certificate: %w", err)
	}
	if len(c.Seals) > MaxSeals {
		return nil, fmt.Errorf("%w: %d", ErrTooManySeals, len(c.Seals))
	}
	return &c, nil
}
