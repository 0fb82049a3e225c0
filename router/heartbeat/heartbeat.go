package heartbeat

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/p2p"
)

// Bounds of one heartbeat. Decode refuses anything beyond them before the
// message reaches the table.
const (
	// MaxSize bounds an encoded heartbeat: 64 utilisations and 64 image
	// digests fit with room to spare (about 2.5 KiB).
	MaxSize = 4 << 10
	// MaxGPUs bounds the per-GPU utilisation list.
	MaxGPUs = 64
	// MaxUnits bounds FreeGPUs: allocatable units, MIG instances included
	// (up to 7 per GPU).
	MaxUnits = 8 * MaxGPUs
	// MaxImages bounds the image digests a heartbeat lists. A node holding
	// more lists the first MaxImages (Status.Clip); the registry holds the
	// rest.
	MaxImages = 64
	// MaxQueue bounds the queue length a node may report.
	MaxQueue = 1 << 16
	// UtilUnknown is the utilisation of a GPU whose driver reports none.
	UtilUnknown = 255

	maxPeerID    = 64  // an inlined Ed25519 or secp256k1 key is under 40 bytes
	maxSignature = 128 // Ed25519: 64 bytes; secp256k1 DER: at most 72
)

// signDomain separates heartbeat signatures from anything else a node key
// signs (libp2p's own records, pubsub envelopes).
const signDomain = "emcd/heartbeat/1"

// Errors of decoding and verifying a heartbeat. Each wraps the p2p error
// whose penalty its sender deserves (p2p.GossipPenalty).
var (
	// ErrTooLarge is returned by Decode for more than MaxSize bytes.
	ErrTooLarge = fmt.Errorf("heartbeat: %w", p2p.ErrTooLarge)
	// ErrMalformed is returned by Decode for bytes that are not one
	// canonical heartbeat within the bounds, and by Verify for a peer id
	// that does not inline its public key.
	ErrMalformed = fmt.Errorf("heartbeat: %w", p2p.ErrMalformed)
	// ErrForged is returned by Verify when the signature is not the named
	// peer's over this chain's heartbeat digest: forged, altered, signed by
	// another key or for another chain.
	ErrForged = fmt.Errorf("heartbeat: signature does not verify: %w", p2p.ErrInvalid)
)

// Heartbeat is one signed status report of a compute node. The field order
// is the RLP encoding; Sig covers every other field (SigningDigest).
type Heartbeat struct {
	// Peer is the sender's libp2p peer id (binary form). It inlines the
	// public key that signs, so a heartbeat names its own signer.
	Peer []byte `json:"-"`
	// Owner is the account the node is registered to.
	Owner common.Address `json:"owner"`
	// Seq increases strictly with every heartbeat of one node, across
	// restarts (the Publisher starts from the unix-ms clock).
	Seq uint64 `json:"seq"`
	// TimeMs is the sender's unix time in milliseconds.
	TimeMs uint64 `json:"timeMs"`
	// FreeGPUs counts the allocatable units (GPUs or MIG instances) no job
	// holds.
	FreeGPUs uint32 `json:"freeGpus"`
	// GPUUtil is each GPU's utilisation in percent (0..100), in device
	// order; UtilUnknown where the driver reports none.
	GPUUtil []uint32 `json:"gpuUtil"`
	// QueueLen counts jobs accepted but not yet running.
	QueueLen uint32 `json:"queueLen"`
	// Images are sha256 digests of container images the node holds.
	Images []common.Hash `json:"images"`
	Sig    []byte        `json:"-"`
}

// unsigned is the signed part of a Heartbeat.
type unsigned struct {
	Peer     []byte
	Owner    common.Address
	Seq      uint64
	TimeMs   uint64
	FreeGPUs uint32
	GPUUtil  []uint32
	QueueLen uint32
	Images   []common.Hash
}

// PeerID returns the sender's peer id in the string form p2p uses, or "" if
// Peer is not a peer id.
func (h *Heartbeat) PeerID() p2p.PeerID {
	id, err := peer.IDFromBytes(h.Peer)
	if err != nil {
		return ""
	}
	return p2p.PeerID(id.String())
}

// SigningDigest is what Sig signs: sha256 of the domain, the chain id (8
// bytes big-endian) and the RLP list of every field but Sig. The chain id
// keeps a heartbeat of one network from being replayed on another.
func (h *Heartbeat) SigningDigest(chainID uint64) ([]byte, error) {
	body, err := rlp.EncodeToBytes(&unsigned{h.Peer, h.Owner, h.Seq, h.TimeMs, h.FreeGPUs, h.GPUUtil, h.QueueLen, h.Images})
	if err != nil {
		return nil, fmt.Errorf("heartbeat: encode: %w", err)
	}
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], chainID)
	d := sha256.New()
	d.Write([]byte(signDomain))
	d.Write(id[:])
	d.Write(body)
	return d.Sum(nil), nil
}

// Sign sets Peer to key's peer id and Sig to key's signature for chainID.
func (h *Heartbeat) Sign(key crypto.PrivKey, chainID uint64) error {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("heartbeat: peer id of key: %w", err)
	}
	h.Peer = []byte(id)
	digest, err := h.SigningDigest(chainID)
	if err != nil {
		return err
	}
	if h.Sig, err = key.Sign(digest); err != nil {
		return fmt.Errorf("heartbeat: sign: %w", err)
	}
	return nil
}

// Verify checks that Sig is the signature of the key Peer inlines over
// SigningDigest(chainID). It returns ErrMalformed for a peer id without an
// inlined key (RSA keys are hashed into their id; emcd nodes use Ed25519)
// and ErrForged for a signature that does not verify.
func (h *Heartbeat) Verify(chainID uint64) error {
	id, err := peer.IDFromBytes(h.Peer)
	if err != nil {
		return fmt.Errorf("%w: peer id: %v", ErrMalformed, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: peer id %s inlines no public key: %v", ErrMalformed, id, err)
	}
	digest, err := h.SigningDigest(chainID)
	if err != nil {
		return err
	}
	ok, err := pub.Verify(digest, h.Sig)
	if err != nil || !ok {
		return fmt.Errorf("%w: from %s seq %d", ErrForged, p2p.PeerID(id.String()).ShortString(), h.Seq)
	}
	return nil
}

// Encode returns the canonical RLP encoding of h. It refuses a heartbeat
// that Decode would refuse, so a node never publishes one its peers drop.
func (h *Heartbeat) Encode() ([]byte, error) {
	if err := h.checkBounds(); err != nil {
		return nil, err
	}
	data, err := rlp.EncodeToBytes(h)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: encode: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxSize)
	}
	return data, nil
}

// Decode parses one heartbeat of at most MaxSize bytes and checks its
// bounds. It does not verify the signature (Verify does). Decoding is
// canonical: a decoded heartbeat encodes back to exactly data.
func Decode(data []byte) (*Heartbeat, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxSize)
	}
	h := new(Heartbeat)
	if err := rlp.DecodeBytes(data, h); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := h.checkBounds(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Heartbeat) checkBounds() error {
	var errs []error
	if len(h.Peer) == 0 || len(h.Peer) > maxPeerID {
		errs = append(errs, fmt.Errorf("peer id of %d bytes", len(h.Peer)))
	} else if _, err := peer.IDFromBytes(h.Peer); err != nil {
		errs = append(errs, fmt.Errorf("peer id: %v", err))
	}
	if h.Seq == 0 {
		errs = append(errs, errors.New("sequence 0"))
	}
	if h.TimeMs == 0 {
		errs = append(errs, errors.New("time 0"))
	}
	if h.FreeGPUs > MaxUnits {
		errs = append(errs, fmt.Errorf("%d free GPUs, limit %d", h.FreeGPUs, MaxUnits))
	}
	if len(h.GPUUtil) > MaxGPUs {
		errs = append(errs, fmt.Errorf("%d GPU utilisations, limit %d", len(h.GPUUtil), MaxGPUs))
	}
	for i, u := range h.GPUUtil {
		if u > 100 && u != UtilUnknown {
			errs = append(errs, fmt.Errorf("GPU %d utilisation %d%%", i, u))
			break
		}
	}
	if h.QueueLen > MaxQueue {
		errs = append(errs, fmt.Errorf("queue of %d, limit %d", h.QueueLen, MaxQueue))
	}
	if len(h.Images) > MaxImages {
		errs = append(errs, fmt.Errorf("%d images, limit %d", len(h.Images), MaxImages))
	}
	if len(h.Sig) == 0 || len(h.Sig) > maxSignature {
		errs = append(errs, fmt.Errorf("signature of %d bytes", len(h.Sig)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrMalformed, errors.Join(errs...))
	}
	return nil
}
