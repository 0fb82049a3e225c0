package registry

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peerDomain separates the peer-ID proof from every other signature a
// libp2p node key makes.
const peerDomain = "emcd:registerPeer"

// Errors of the peer-ID proof.
var (
	// ErrBadPeerID is returned for bytes that are not a libp2p peer ID, or
	// one whose public key is not inlined (RSA) or of a type the registry
	// does not take (only Ed25519 and secp256k1 node keys).
	ErrBadPeerID = errors.New("registry: bad peer ID")
	// ErrBadPeerProof is returned when the signature is not the peer key's
	// signature over this chain's and this owner's peer digest.
	ErrBadPeerProof = errors.New("registry: peer ID proof does not verify for this owner and chain")
)

// PeerDigest is what a node's libp2p key signs to prove that owner may
// register its peer ID on chain chainID:
// keccak256("emcd:registerPeer" ‖ chainId (32 bytes) ‖ owner (20 bytes) ‖ peerId).
// The chain id and owner bind the proof: it cannot be replayed on another
// chain or by another account.
func PeerDigest(chainID *uint256.Int, owner common.Address, peerID []byte) common.Hash {
	cid := chainID.Bytes32()
	return crypto.Keccak256Hash([]byte(peerDomain), cid[:], owner[:], peerID)
}

// SignPeerProof returns key's proof for owner on chain chainID, and the peer
// ID it proves.
func SignPeerProof(key lcrypto.PrivKey, chainID *uint256.Int, owner common.Address) (peerID, sig []byte, err error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("registry: peer ID of key: %w", err)
	}
	peerID = []byte(id)
	d := PeerDigest(chainID, owner, peerID)
	sig, err = key.Sign(d[:])
	if err != nil {
		return nil, nil, fmt.Errorf("registry: sign peer proof: %w", err)
	}
	return peerID, sig, nil
}

// VerifyPeerProof checks that sig is peerID's key's signature over
// PeerDigest(chainID, owner, peerID).
func VerifyPeerProof(chainID *uint256.Int, owner common.Address, peerID, sig []byte) error {
	if len(peerID) == 0 || len(peerID) > MaxPeerIDBytes {
		return fmt.Errorf("%w: %d bytes (1 to %d)", ErrBadPeerID, len(peerID), MaxPeerIDBytes)
	}
	if len(sig) == 0 || len(sig) > MaxPeerSigBytes {
		return fmt.Errorf("%w: signature of %d bytes (1 to %d)", ErrBadPeerProof, len(sig), MaxPeerSigBytes)
	}
	id, err := peer.IDFromBytes(peerID)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadPeerID, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: no inline public key: %v", ErrBadPeerID, err)
	}
	switch pub.Type() {
	case lcrypto.Ed25519, lcrypto.Secp256k1:
	default:
		return fmt.Errorf("%w: key type %s (want Ed25519 or secp256k1)", ErrBadPeerID, pub.Type())
	}
	d := PeerDigest(chainID, owner, peerID)
	ok, err := pub.Verify(d[:], sig)
	if err != nil || !ok {
		return ErrBadPeerProof
	}
	return nil
}
