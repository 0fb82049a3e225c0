package registry

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Storage layout of the module account (Solidity layout where it has one,
// see state/native's doc):
//
//	slot 0                                nodes.length          uint256
//	keccak256(pad32(0)) + i               nodes[i]              address: registered node owners
//	keccak256(pad32(owner) ‖ pad32(1))    nodeIndex[owner]      uint256: i+1, 0 when not registered
//	keccak256(pad32(owner) ‖ pad32(2))    nodeRecord[owner]     bytes: RLP of the node record (see below)
//	keccak256(keccak256(peer) ‖ pad32(3)) nodePeer[peer]        address: owner of the node with peer ID peer
//	slot 4                                routers.length        uint256
//	keccak256(pad32(4)) + i               routers[i]            address: registered router owners
//	keccak256(pad32(owner) ‖ pad32(5))    routerIndex[owner]    uint256: i+1, 0 when not registered
//	keccak256(pad32(owner) ‖ pad32(6))    routerRecord[owner]   bytes: RLP of the router record
//	keccak256(keccak256(peer) ‖ pad32(7)) routerPeer[peer]      address: owner of the router with peer ID peer
//	keccak256(pad32(owner) ‖ pad32(8))    nodePing[owner]       uint256: block of the node's last ping (0: none)
//
// A record ("bytes") at base b stores its length in bytes at b and its
// data, 32 bytes a word, at keccak256(b) + j (the last word zero-padded).
// Lists are kept dense: deregistering moves the last entry into the hole.
//
// Invariants: nodeIndex and nodes agree (nodes[nodeIndex[o]-1] == o), every
// registered owner has a record and its peer claim, and nothing else does;
// the same for routers. A peer ID is claimed by at most one owner across
// both tables.
const (
	slotNodes        = 0
	slotNodeIndex    = 1
	slotNodeRecord   = 2
	slotNodePeer     = 3
	slotRouters      = 4
	slotRouterIndex  = 5
	slotRouterRecord = 6
	slotRouterPeer   = 7
	slotNodePing     = 8
)

// ErrCorrupt is returned by the accessors when stored state breaks the
// module's invariants (a record that does not decode, an index out of
// range). It means a bug, never a user's doing.
var ErrCorrupt = errors.New("registry: corrupt module state")

// Node is a registered compute node.
type Node struct {
	// Owner is the account that registered the node; it is the storage key
	// and is not part of the stored record.
	Owner  common.Address `rlp:"-"`
	PeerID []byte
	// InventoryHash is keccak256 of the node's `emcd gpus --json` payload.
	InventoryHash common.Hash
	GPUCount      uint32
	GPUModel      string
	// MemoryMiB is the memory of each GPU.
	MemoryMiB uint64
	Simulated bool
	// Prices are wei per GPU-second, one per GPU model the node prices.
	Prices []Price
	// CPUPriceWei is wei per second of a CPU-only job; zero means the node
	// takes no CPU-only jobs.
	CPUPriceWei *uint256.Int
	// Images are the digests of the container images the node holds.
	Images          []common.Hash
	RegisteredBlock uint64
	UpdatedBlock    uint64
}

// Price is a node's price for jobs on one GPU model.
type Price struct {
	Model           string
	WeiPerGPUSecond *uint256.Int
}

// PriceFor returns the node's price per GPU-second for model.
func (n *Node) PriceFor(model string) (*uint256.Int, bool) {
	for _, p := range n.Prices {
		if p.Model == model {
			return p.WeiPerGPUSecond.Clone(), true
		}
	}
	return nil, false
}

// HasImage reports whether the node listed digest among its images.
func (n *Node) HasImage(digest common.Hash) bool {
	for _, d := range n.Images {
		if d == digest {
			return true
		}
	}
	return false
}

// Router is a registered router.
type Router struct {
	Owner           common.Address `rlp:"-"`
	PeerID          []byte
	RegisteredBlock uint64
}

// Go accessors over any state (the node's RPC, other modules). They read the
// module's storage directly; s is a read-only view.

// NodeCount returns the number of registered nodes.
func NodeCount(s native.StateReader) uint64 {
	return native.LoadUint(s, native.RegistryAddress, native.Slot(slotNodes)).Uint64()
}

// IsNodeRegistered reports whether owner has a registered node.
func IsNodeRegistered(s native.StateReader, owner common.Address) bool {
	return s.GetState(native.RegistryAddress, ownerKey(slotNodeIndex, owner)) != (common.Hash{})
}

// NodeOf returns owner's node; false when it has none.
func NodeOf(s native.StateReader, owner common.Address) (Node, bool, error) {
	if !IsNodeRegistered(s, owner) {
		return Node{}, false, nil
	}
	data, err := loadBytes(s, ownerKey(slotNodeRecord, owner))
	if err != nil {
		return Node{}, false, fmt.Errorf("node of %s: %w", owner, err)
	}
	n, err := DecodeNode(data)
	if err != nil {
		return Node{}, false, fmt.Errorf("%w: node record of %s: %w", ErrCorrupt, owner, err)
	}
	n.Owner = owner
	return n, true, nil
}

// LastSeen returns the block of n's last on-chain update: its registration,
// its last updateNode, or its last ping, whichever is latest. The jobs
// module refuses to assign to a node not seen within its liveness window.
// n must come from NodeOf (its Owner set).
func LastSeen(s native.StateReader, n *Node) uint64 {
	pinged := native.LoadUint(s, native.RegistryAddress, ownerKey(slotNodePing, n.Owner))
	if !pinged.IsUint64() {
		return n.UpdatedBlock
	}
	return max(n.UpdatedBlock, pinged.Uint64())
}

// NodeOwnerOf returns the owner of the node registered with peer ID peer.
func NodeOwnerOf(s native.StateReader, peer []byte) (common.Address, bool) {
	v := s.GetState(native.RegistryAddress, peerKey(slotNodePeer, peer))
	return common.BytesToAddress(v[:]), v != (common.Hash{})
}

// NodeByPeer returns the node registered with peer ID peer.
func NodeByPeer(s native.StateReader, peer []byte) (Node, bool, error) {
	owner, ok := NodeOwnerOf(s, peer)
	if !ok {
		return Node{}, false, nil
	}
	n, ok, err := NodeOf(s, owner)
	if err == nil && !ok {
		err = fmt.Errorf("%w: peer claimed by %s, which has no node", ErrCorrupt, owner)
	}
	return n, ok, err
}

// NodeOwners returns up to limit node owners from offset on, in list order
// (which deregistrations reorder), and the total count.
func NodeOwners(s native.StateReader, offset, limit uint64) ([]common.Address, uint64) {
	return page(s, slotNodes, offset, limit)
}

// Nodes returns up to limit nodes from offset on, and the total count.
func Nodes(s native.StateReader, offset, limit uint64) ([]Node, uint64, error) {
	owners, total := NodeOwners(s, offset, limit)
	out := make([]Node, 0, len(owners))
	for _, o := range owners {
		n, ok, err := NodeOf(s, o)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			return nil, 0, fmt.Errorf("%w: listed node owner %s is not registered", ErrCorrupt, o)
		}
		out = append(out, n)
	}
	return out, total, nil
}

// RouterCount returns the number of registered routers.
func RouterCount(s native.StateReader) uint64 {
	return native.LoadUint(s, native.RegistryAddress, native.Slot(slotRouters)).Uint64()
}

// IsRouterRegistered reports whether owner has a registered router (staked
// or not: see [Module.RouterStaked]).
func IsRouterRegistered(s native.StateReader, owner common.Address) bool {
	return s.GetState(native.RegistryAddress, ownerKey(slotRouterIndex, owner)) != (common.Hash{})
}

// RouterOf returns owner's router; false when it has none.
func RouterOf(s native.StateReader, owner common.Address) (Router, bool, error) {
	if !IsRouterRegistered(s, owner) {
		return Router{}, false, nil
	}
	data, err := loadBytes(s, ownerKey(slotRouterRecord, owner))
	if err != nil {
		return Router{}, false, fmt.Errorf("router of %s: %w", owner, err)
	}
	var r Router
	if err := rlp.DecodeBytes(data, &r); err != nil {
		return Router{}, false, fmt.Errorf("%w: router record of %s: %w", ErrCorrupt, owner, err)
	}
	r.Owner = owner
	return r, true, nil
}

// RouterOwnerOf returns the owner of the router registered with peer ID peer.
func RouterOwnerOf(s native.StateReader, peer []byte) (common.Address, bool) {
	v := s.GetState(native.RegistryAddress, peerKey(slotRouterPeer, peer))
	return common.BytesToAddress(v[:]), v != (common.Hash{})
}

// RouterOwners returns up to limit router owners from offset on, and the
// total count.
func RouterOwners(s native.StateReader, offset, limit uint64) ([]common.Address, uint64) {
	return page(s, slotRouters, offset, limit)
}

// EncodeNode returns the canonical stored encoding of n (RLP; Owner is not
// part of it).
func EncodeNode(n *Node) ([]byte, error) {
	cp := *n
	if cp.CPUPriceWei == nil {
		cp.CPUPriceWei = new(uint256.Int)
	}
	return rlp.EncodeToBytes(&cp)
}

// DecodeNode decodes a stored node record. It refuses anything EncodeNode
// would not produce (trailing bytes, non-canonical integers, nil prices).
func DecodeNode(data []byte) (Node, error) {
	var n Node
	if err := rlp.DecodeBytes(data, &n); err != nil {
		return Node{}, err
	}
	if n.CPUPriceWei == nil {
		n.CPUPriceWei = new(uint256.Int)
	}
	for i, p := range n.Prices {
		if p.WeiPerGPUSecond == nil {
			n.Prices[i].WeiPerGPUSecond = new(uint256.Int)
		}
	}
	enc, err := EncodeNode(&n)
	if err != nil || !bytes.Equal(enc, data) {
		return Node{}, errors.New("non-canonical node record")
	}
	return n, nil
}

// Storage keys.

// ownerKey is the key of owner's entry in the mapping at slot.
func ownerKey(slot uint64, owner common.Address) common.Hash {
	return native.MapSlot(native.Slot(slot), native.AddressKey(owner))
}

func peerKey(slot uint64, peer []byte) common.Hash {
	return native.MapSlot(native.Slot(slot), crypto.Keccak256Hash(peer))
}

// NodeRecordKey returns the storage key of owner's node record length (for
// eth_getStorageAt users and tests).
func NodeRecordKey(owner common.Address) common.Hash { return ownerKey(slotNodeRecord, owner) }

// page reads a dense owner list at slot.
func page(s native.StateReader, slot, offset, limit uint64) ([]common.Address, uint64) {
	total := native.LoadUint(s, native.RegistryAddress, native.Slot(slot)).Uint64()
	if offset >= total || limit == 0 {
		return []common.Address{}, total
	}
	if limit > MaxPage {
		limit = MaxPage
	}
	end := min(total, offset+limit) // offset < total, limit ≤ MaxPage: no overflow
	out := make([]common.Address, 0, end-offset)
	for i := offset; i < end; i++ {
		v := s.GetState(native.RegistryAddress, native.ArraySlot(native.Slot(slot), i))
		out = append(out, common.BytesToAddress(v[:]))
	}
	return out, total
}

// loadBytes reads the bytes stored at base.
func loadBytes(s native.StateReader, base common.Hash) ([]byte, error) {
	n := native.LoadUint(s, native.RegistryAddress, base)
	if !n.IsUint64() || n.Uint64() > MaxRecordBytes {
		return nil, fmt.Errorf("%w: record length %s", ErrCorrupt, n)
	}
	size := n.Uint64()
	out := make([]byte, 0, (size+31)/32*32) // rounds up to whole words
	for j := uint64(0); j*32 < size; j++ {
		w := s.GetState(native.RegistryAddress, native.ArraySlot(base, j))
		out = append(out, w[:]...)
	}
	return out[:size], nil
}

// words is the number of storage words n bytes take, rounded up.
func words(n uint64) uint64 { return (n + 31) / 32 }

// storeBytes writes data at base, clearing the words of the previous value
// that data does not cover.
func storeBytes(c *native.Call, base common.Hash, data []byte) {
	old := c.LoadUint(base).Uint64() // bounded by MaxRecordBytes: only this module writes it
	c.StoreUint(base, uint256.NewInt(uint64(len(data))))
	for j := uint64(0); j < words(uint64(len(data))); j++ {
		var w common.Hash
		copy(w[:], data[j*32:])
		c.Store(native.ArraySlot(base, j), w)
	}
	for j := words(uint64(len(data))); j < words(old); j++ {
		c.Store(native.ArraySlot(base, j), common.Hash{})
	}
}

// clearBytes removes the value at base.
func clearBytes(c *native.Call, base common.Hash) {
	old := c.LoadUint(base).Uint64()
	for j := uint64(0); j < words(old); j++ {
		c.Store(native.ArraySlot(base, j), common.Hash{})
	}
	c.Store(base, common.Hash{})
}

// listAdd appends owner to the dense list at slot with index at indexSlot.
func listAdd(c *native.Call, slot, indexSlot uint64, owner common.Address) {
	n := c.LoadUint(native.Slot(slot)).Uint64()
	c.Store(native.ArraySlot(native.Slot(slot), n), native.AddressKey(owner))
	c.StoreUint(ownerKey(indexSlot, owner), uint256.NewInt(n+1))
	c.StoreUint(native.Slot(slot), uint256.NewInt(n+1))
}

// listRemove removes owner from the dense list, moving the last entry into
// its place.
func listRemove(c *native.Call, slot, indexSlot uint64, owner common.Address) error {
	n := c.LoadUint(native.Slot(slot)).Uint64()
	idx := c.LoadUint(ownerKey(indexSlot, owner)).Uint64()
	if idx == 0 || idx > n {
		return fmt.Errorf("%w: index %d of %s in a list of %d", ErrCorrupt, idx, owner, n)
	}
	last := native.ArraySlot(native.Slot(slot), n-1)
	if idx != n {
		moved := c.Load(last)
		c.Store(native.ArraySlot(native.Slot(slot), idx-1), moved)
		c.StoreUint(ownerKey(indexSlot, common.BytesToAddress(moved[:])), uint256.NewInt(idx))
	}
	c.Store(last, common.Hash{})
	c.Store(ownerKey(indexSlot, owner), common.Hash{})
	c.StoreUint(native.Slot(slot), uint256.NewInt(n-1))
	return nil
}
