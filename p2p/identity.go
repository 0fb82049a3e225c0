package p2p

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// ErrBadIdentity is returned by the handshake when a peer's Status carries an
// identity whose signature does not recover to the address it claims for
// that peer's own id (forged, or replayed from another peer). The peer is
// penalised with PenaltyInvalid and disconnected.
var ErrBadIdentity = errors.New("p2p: handshake identity does not verify")

// identityDomain separates identity signatures from every other signature
// made with a consensus key (commit seals, consensus messages).
const identityDomain = "emcd/p2p/identity/1"

// signatureLength is a secp256k1 [R || S || V] signature.
const signatureLength = crypto.SignatureLength

// Identity is the optional proof in a Status that its sender holds the key of
// Address: a signature over IdentityHash(chain id, genesis, the sender's own
// peer id). The peer id is authenticated by the transport's secure channel,
// so a receiver checks the signature against the id of the connection it
// came on: an identity copied from another peer's handshake names that
// peer's id and fails.
type Identity struct {
	Address   common.Address
	Signature []byte
}

// Signer signs with a consensus key. *ibft.KeySigner satisfies it.
type Signer interface {
	// Address is the address the signatures recover to.
	Address() common.Address
	// Sign signs a 32-byte digest, returning a [R || S || V] signature.
	Sign(digest []byte) ([]byte, error)
}

// IdentityHash is the digest an identity signs: keccak256 of the domain,
// the chain id (8 bytes big-endian), the genesis hash and the signer's own
// peer id.
func IdentityHash(chainID uint64, genesis common.Hash, self PeerID) common.Hash {
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], chainID)
	return crypto.Keccak256Hash([]byte(identityDomain), id[:], genesis[:], []byte(self))
}

// SignIdentity returns the identity of signer for the node with peer id self
// on the network of (chainID, genesis).
func SignIdentity(signer Signer, chainID uint64, genesis common.Hash, self PeerID) (*Identity, error) {
	h := IdentityHash(chainID, genesis, self)
	sig, err := signer.Sign(h[:])
	if err != nil {
		return nil, fmt.Errorf("p2p: sign handshake identity: %w", err)
	}
	return &Identity{Address: signer.Address(), Signature: sig}, nil
}

// VerifyIdentity checks the identity in s, received from peer over an
// authenticated connection. It returns the proven address, ok=false and a
// nil error when s carries no identity, and an ErrBadIdentity error when the
// signature does not recover to the claimed address for peer's id on s's
// network. Check Compatible first: the network in s is then ours.
func (s Status) VerifyIdentity(peer PeerID) (addr common.Address, ok bool, err error) {
	id := s.Identity
	if id == nil {
		return common.Address{}, false, nil
	}
	if len(id.Signature) != signatureLength {
		return common.Address{}, false, fmt.Errorf("%w: signature of %d bytes", ErrBadIdentity, len(id.Signature))
	}
	h := IdentityHash(s.ChainID, s.Genesis, peer)
	pub, err := crypto.SigToPub(h[:], id.Signature)
	if err != nil {
		return common.Address{}, false, fmt.Errorf("%w: %w", ErrBadIdentity, err)
	}
	if got := crypto.PubkeyToAddress(*pub); got != id.Address {
		return common.Address{}, false, fmt.Errorf("%w: signed by %s for peer %s, claims %s", ErrBadIdentity, got, peer.ShortString(), id.Address)
	}
	return id.Address, true, nil
}
