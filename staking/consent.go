package staking

import (
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Signer consent. setSigner(signer, signature) claims signer as the
// caller's consensus key only with that key's consent: signature is the
// signer key's secp256k1 signature, 65 bytes [R ‖ S ‖ V] with V 0/1 (or
// 27/28) and S in the lower half of the curve order, over
//
//	keccak256("emcd:setSigner" ‖ chainId ‖ module ‖ owner ‖ signer ‖ nonce)
//
// chainId the chain's EIP-155 id as 32 bytes big-endian, module the
// staking module's address (20 bytes), owner the position's owner (the
// transaction's sender) and signer the claimed key (20 bytes each), nonce
// the signer's consent nonce ([SignerNonce]) as 8 bytes big-endian. The
// nonce counts the consents of that signer used so far and each successful
// claim raises it, so a consent is good for one claim only: it cannot be
// replayed on another chain (chainId), by another owner (owner), nor again
// after the signer was released, claimed elsewhere or reclaimed (nonce).
// An unused consent lapses when another consent of the signer is used.
// The hash has no EIP-191 prefix; the domain string keeps it apart from
// what else the key signs: consensus messages and commit seals hash
// "emcd/ibft/msg" and "emcd/ibft/commit" first (consensus/ibft,
// consensus/cert), transactions an RLP list or a type byte below 0x65.

// SignerConsentDomain opens every signer-consent preimage.
const SignerConsentDomain = "emcd:setSigner"

// SignatureLength is the length of a consent signature.
const SignatureLength = crypto.SignatureLength

// Revert reasons of setSigner's consent check.
var (
	// ErrBadSignature is returned for a consent signature that is not 65
	// bytes, has V other than 0, 1, 27 or 28, R or S zero or not below the
	// curve order, or S in the upper half (malleable); and for a non-empty
	// signature with setSigner(own address), which needs none.
	ErrBadSignature = errors.New("staking: malformed signer signature")
	// ErrNoConsent is returned when the signature does not recover to the
	// claimed signer over this chain, owner and the signer's current nonce:
	// signed by another key, for another owner or chain, or already used.
	ErrNoConsent = errors.New("staking: signature is not the signer's consent to this owner at its current nonce")
)

// slotSignerNonce: keccak256(pad32(s) ‖ pad32(10)) holds signerNonce[s],
// the number of consents of s used (see the layout in state.go).
const slotSignerNonce = 10

func signerNonceKey(s common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotSignerNonce), native.AddressKey(s))
}

// SignerNonce returns signer's consent nonce: the number of times it was
// claimed with setSigner. A consent signs the current value.
func SignerNonce(s native.StateReader, signer common.Address) uint64 {
	return native.LoadUint(s, native.StakingAddress, signerNonceKey(signer)).Uint64()
}

// consentDigest is the hash a consent signs (see the package comment above).
func consentDigest(chainID *uint256.Int, owner, signer common.Address, nonce uint64) common.Hash {
	buf := make([]byte, 0, len(SignerConsentDomain)+32+3*common.AddressLength+8)
	buf = append(buf, SignerConsentDomain...)
	id := chainID.Bytes32()
	buf = append(buf, id[:]...)
	buf = append(buf, native.StakingAddress[:]...)
	buf = append(buf, owner[:]...)
	buf = append(buf, signer[:]...)
	buf = binary.BigEndian.AppendUint64(buf, nonce)
	return crypto.Keccak256Hash(buf)
}

// chainIDU256 converts a chain id for the digest; it must be positive and
// fit 256 bits.
func chainIDU256(chainID *big.Int) (*uint256.Int, error) {
	if chainID == nil || chainID.Sign() <= 0 {
		return nil, fmt.Errorf("staking: chain id %v: want a positive id", chainID)
	}
	id, overflow := uint256.FromBig(chainID)
	if overflow {
		return nil, fmt.Errorf("staking: chain id %s exceeds 256 bits", chainID)
	}
	return id, nil
}

// SignerConsentDigest returns the hash signer signs to consent to be
// owner's consensus signer on chain chainID at consent nonce nonce.
func SignerConsentDigest(chainID *big.Int, owner, signer common.Address, nonce uint64) (common.Hash, error) {
	id, err := chainIDU256(chainID)
	if err != nil {
		return common.Hash{}, err
	}
	return consentDigest(id, owner, signer, nonce), nil
}

// SignSignerConsent signs, with the signer key key, its consent to be
// owner's consensus signer on chain chainID at nonce (the signer's
// [SignerNonce] in the state the claim will run on). The result is
// setSigner's signature argument, V 0/1.
func SignSignerConsent(key *ecdsa.PrivateKey, chainID *big.Int, owner common.Address, nonce uint64) ([]byte, error) {
	if key == nil {
		return nil, errors.New("staking: no signer key")
	}
	d, err := SignerConsentDigest(chainID, owner, crypto.PubkeyToAddress(key.PublicKey), nonce)
	if err != nil {
		return nil, err
	}
	sig, err := crypto.Sign(d[:], key)
	if err != nil {
		return nil, fmt.Errorf("staking: sign consent: %w", err)
	}
	return sig, nil
}

// SetSignerData returns the calldata of setSigner(signer, signature).
func SetSignerData(signer common.Address, signature []byte) ([]byte, error) {
	parsed, err := parsedABI()
	if err != nil {
		return nil, fmt.Errorf("staking: ABI: %w", err)
	}
	if signature == nil {
		signature = []byte{}
	}
	data, err := parsed.Pack("setSigner", signer, signature)
	if err != nil {
		return nil, fmt.Errorf("staking: pack setSigner: %w", err)
	}
	return data, nil
}

// VerifySignerConsent checks that sig is signer's consent to be owner's
// signer on chain chainID at nonce. Errors wrap ErrBadSignature (malformed,
// malleable) or ErrNoConsent (another key, owner, chain or nonce).
func VerifySignerConsent(chainID *big.Int, owner, signer common.Address, nonce uint64, sig []byte) error {
	id, err := chainIDU256(chainID)
	if err != nil {
		return err
	}
	return verifyConsent(id, owner, signer, nonce, sig)
}

func verifyConsent(chainID *uint256.Int, owner, signer common.Address, nonce uint64, sig []byte) error {
	if len(sig) != SignatureLength {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadSignature, len(sig), SignatureLength)
	}
	v := sig[64]
	if v == 27 || v == 28 {
		v -= 27
	}
	if v > 1 {
		return fmt.Errorf("%w: V = %d, want 0, 1, 27 or 28", ErrBadSignature, sig[64])
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64])
	if !crypto.ValidateSignatureValues(v, r, s, true) {
		return fmt.Errorf("%w: R or S out of range, or S in the upper half of the order", ErrBadSignature)
	}
	norm := make([]byte, SignatureLength)
	copy(norm, sig[:64])
	norm[64] = v
	d := consentDigest(chainID, owner, signer, nonce)
	pub, err := crypto.SigToPub(d[:], norm)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoConsent, err)
	}
	if got := crypto.PubkeyToAddress(*pub); got != signer {
		return fmt.Errorf("%w: it recovers to %s, not %s", ErrNoConsent, got, signer)
	}
	return nil
}
