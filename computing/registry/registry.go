package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

// Name is the module's name and its key in the genesis params section.
const Name = "registry"

// Bounds on every input. A node record at these bounds encodes to at most
// MaxRecordBytes (pinned by a test).
const (
	// MaxPeerIDBytes bounds a peer ID (an Ed25519 or secp256k1 identity
	// multihash is 37 to 39 bytes).
	MaxPeerIDBytes = 64
	// MaxPeerSigBytes bounds a peer-ID proof (Ed25519 64 bytes, secp256k1
	// DER at most 72).
	MaxPeerSigBytes = 128
	// MaxModelBytes bounds a GPU model string.
	MaxModelBytes = 64
	// MaxGPUs bounds a node's GPU count.
	MaxGPUs = 1024
	// MaxPrices bounds a node's price list (one per GPU model).
	MaxPrices = 8
	// MaxImages bounds a node's image digest list.
	MaxImages = 16
	// MaxNodes and MaxRouters bound the tables.
	MaxNodes   = 100_000
	MaxRouters = 10_000
	// MaxPage bounds one nodes() or routers() page; larger limits are
	// clamped to it.
	MaxPage = 100
	// MaxRecordBytes bounds a stored node record; MaxRecordWords is its
	// size in storage words.
	MaxRecordBytes = 1_600
	MaxRecordWords = MaxRecordBytes / 32
	// maxRouterRecordWords bounds a stored router record (peer ID and a
	// block number: at most 77 bytes).
	maxRouterRecordWords = 3
)

// Gas of each method: the worst case under Cancun's EIP-2929/2200 pricing,
// counting every slot touched as cold (2,100) and every write as a fresh
// zero-to-non-zero SSTORE (20,000) or a reset (2,900), plus logs (375 + 375
// per topic + 8 per data byte). The framework adds native.GasPerInputWord
// per input word.
const (
	// RecordWordGas is charged per storage word of the node record a call
	// writes (cold 2,100 + fresh 20,000), on top of the method's gas; the
	// record's size is computed from the arguments.
	RecordWordGas = 22_100
	// ClearWordGas is one word cleared: cold 2,100 + reset 2,900.
	ClearWordGas = 5_000
	// PeerProofGas: hashing the ≤ 117-byte digest preimage and one
	// Ed25519 or secp256k1 verification (priced as ecrecover, 3,000,
	// doubled for the libp2p decoding around it).
	PeerProofGas = 6_000
	// RegisterNodeGas: 6 slots read cold (node index, node peer claim,
	// router peer claim, nodes length, record length, nodes[n]) 12,600 + 5
	// fresh writes (nodes[n], index, nodes length, record length, peer
	// claim) 100,000 + the proof 6,000 + NodeRegistered log (2 topics, ≤
	// 224 bytes) 2,917 = 121,517, rounded up with room; plus RecordWordGas
	// per record word.
	RegisterNodeGas = 123_700
	// UpdateNodeGas: 2 slots read (index, record length) 4,200 + length
	// reset 5,000 + NodeUpdated log (2 topics, 96 bytes) 1,893 + clearing
	// up to MaxRecordWords old words that the new record does not cover
	// 250,000 = 261,093, rounded up; plus RecordWordGas per new record
	// word.
	UpdateNodeGas = 261_100
	// DeregisterNodeGas: list removal (index, length, last entry, moved
	// entry, moved index) and the record length and peer claim: 8 slots
	// cleared or reset 40,000 + the record's words, at most MaxRecordWords
	// cleared 250,000 + NodeDeregistered log (2 topics, ≤ 128 bytes)
	// 2,149 + the ping slot cleared 5,000 = 297,149, rounded up.
	DeregisterNodeGas = 297_200
	// PingGas: the node index read 2,100 + the ping slot written fresh
	// 22,100 + 100 dispatch.
	PingGas = 24_300
	// LastSeenGas: the index, record length and words (UpdatedBlock) and
	// the ping slot.
	LastSeenGas = NodeOfGas + 2_100
	// RegisterRouterGas: the staking position (meta, jailed, amount,
	// prev, change epoch) 10,500 + 9 slots read cold (router index, router
	// peer claim, node peer claim, routers length, routers[n], record
	// length, 3 record words) 18,900 + 8 fresh writes (routers[n], index,
	// routers length, record length, 3 record words, peer claim) 160,000 +
	// the proof 6,000 + RouterRegistered log (2 topics, ≤ 128 bytes) 2,149
	// = 197,549, rounded up.
	RegisterRouterGas = 197_600
	// DeregisterRouterGas: 8 slots cleared or reset as for a node 40,000 +
	// 3 record words 15,000 + RouterDeregistered log 2,149 = 57,149,
	// rounded up.
	DeregisterRouterGas = 57_200
	// ViewGas is the base of every view: one cold slot 2,100 + 100
	// dispatch.
	ViewGas = 2_200
	// NodeOfGas: index, record length and up to MaxRecordWords words.
	NodeOfGas = ViewGas + (2+MaxRecordWords)*2_100
	// NodeByPeerGas: the peer claim, then nodeOf.
	NodeByPeerGas = NodeOfGas + 2_100
	// RouterOfGas: index, record length, 3 record words and the staking
	// position's 5 slots.
	RouterOfGas = ViewGas + 10*2_100
	// PageGasPerItem is nodes()'s and routers()'s cost per returned
	// owner: one cold slot.
	PageGasPerItem = 2_100
)

// Revert reasons of the module's methods.
var (
	// ErrAlreadyRegistered is returned by registerNode (registerRouter)
	// when the caller already has a node (router): use updateNode, or
	// deregister first.
	ErrAlreadyRegistered = errors.New("registry: already registered")
	// ErrNotRegistered is returned by updateNode and the deregister
	// methods when the caller has nothing registered.
	ErrNotRegistered = errors.New("registry: not registered")
	// ErrPeerTaken is returned when the peer ID is registered by another
	// owner (as a node or as a router).
	ErrPeerTaken = errors.New("registry: peer ID is registered by another owner")
	// ErrSimulatedNotAllowed is returned for a simulated inventory on a
	// chain whose genesis does not allow them.
	ErrSimulatedNotAllowed = errors.New("registry: simulated GPUs are not allowed on this chain")
	// ErrBadInventory is returned for an inventory summary that is
	// inconsistent or out of bounds.
	ErrBadInventory = errors.New("registry: bad GPU inventory")
	// ErrBadPrices is returned for a price list that is out of bounds,
	// has a zero price, an empty or duplicate model.
	ErrBadPrices = errors.New("registry: bad prices")
	// ErrBadImages is returned for an image list that is too long or has
	// a zero or duplicate digest.
	ErrBadImages = errors.New("registry: bad images")
	// ErrNotStaked is returned by registerRouter when the caller has no
	// router-role stake of at least the router minimum, both now and
	// effective this epoch, or is jailed.
	ErrNotStaked = errors.New("registry: router stake below the router minimum")
	// ErrFull is returned when the node or router table is full.
	ErrFull = errors.New("registry: table full")
	// ErrNoChainID is returned when the chain has no chain id to bind the
	// peer proof to.
	ErrNoChainID = errors.New("registry: chain id unknown")
)

// Module is the registry module.
type Module struct {
	params  Params
	staking Staking
	abi     abi.ABI
}

var _ native.Module = (*Module)(nil)

// Factory returns the module's native.Factory for a chain whose staking
// params are st.
func Factory(st Staking) native.Factory {
	return func(raw json.RawMessage) (native.Module, error) {
		p, err := ParseParams(raw)
		if err != nil {
			return nil, err
		}
		return NewModule(p, st)
	}
}

// NewModule returns the module with params p, gating routers by st.
func NewModule(p Params, st Staking) (*Module, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	parsed, err := abi.JSON(strings.NewReader(abiJSON))
	if err != nil {
		return nil, fmt.Errorf("%w: registry: %w", native.ErrBadABI, err)
	}
	st.MinRouterStakeWei = st.MinRouterStakeWei.Clone()
	return &Module{params: p, staking: st, abi: parsed}, nil
}

// Name implements native.Module.
func (m *Module) Name() string { return Name }

// Address implements native.Module.
func (m *Module) Address() common.Address { return native.RegistryAddress }

// ABI implements native.Module.
func (m *Module) ABI() string { return abiJSON }

// Params returns the module's params.
func (m *Module) Params() Params { return m.params }

// Methods implements native.Module.
func (m *Module) Methods() []native.Method {
	return []native.Method{
		{Name: "registerNode", Gas: RegisterNodeGas, InputGas: recordGas(2), Mutates: true, Handler: m.registerNode},
		{Name: "updateNode", Gas: UpdateNodeGas, InputGas: recordGas(0), Mutates: true, Handler: m.updateNode},
		{Name: "deregisterNode", Gas: DeregisterNodeGas, Mutates: true, Handler: m.deregisterNode},
		{Name: "ping", Gas: PingGas, Mutates: true, Handler: m.ping},
		{Name: "lastSeen", Gas: LastSeenGas, Handler: m.lastSeen},
		{Name: "registerRouter", Gas: RegisterRouterGas, Mutates: true, Handler: m.registerRouter},
		{Name: "deregisterRouter", Gas: DeregisterRouterGas, Mutates: true, Handler: m.deregisterRouter},
		{Name: "nodeOf", Gas: NodeOfGas, Handler: m.nodeOf},
		{Name: "nodeByPeer", Gas: NodeByPeerGas, Handler: m.nodeByPeer},
		{Name: "nodes", Gas: ViewGas, InputGas: pageGas, Handler: m.nodes},
		{Name: "routerOf", Gas: RouterOfGas, Handler: m.routerOf},
		{Name: "routers", Gas: ViewGas, InputGas: pageGas, Handler: m.routers},
	}
}

// RouterStaked reports whether owner has a router-role position, not
// jailed, whose stake is at least the router minimum both now and as
// effective in the epoch of block number: a stake added this epoch counts
// from the next, an unstake counts at once.
func (m *Module) RouterStaked(s native.StateReader, owner common.Address, number uint64) bool {
	role, ok := staking.RoleOf(s, owner)
	if !ok || role != staking.RoleRouter || staking.Jailed(s, owner) {
		return false
	}
	epoch := staking.Epoch(number, m.staking.EpochLength)
	effective, err := staking.EffectiveStake(s, owner, epoch)
	if err != nil {
		return false
	}
	now, err := staking.EffectiveStake(s, owner, epoch+1)
	if err != nil {
		return false
	}
	min := m.staking.MinRouterStakeWei
	return !effective.IsZero() && !effective.Lt(min) && !now.Lt(min)
}

// ActiveRouter reports whether owner is a registered router that is staked
// at block number (see [Module.RouterStaked]): the check the jobs module
// makes before it takes an assignment from a router.
func (m *Module) ActiveRouter(s native.StateReader, owner common.Address, number uint64) bool {
	return IsRouterRegistered(s, owner) && m.RouterStaked(s, owner, number)
}

func (m *Module) registerNode(c *native.Call, args []any) ([]any, error) {
	peerID, sig, err := peerArgs(args)
	if err != nil {
		return nil, err
	}
	n, err := DecodeNodeArgs(args[2:])
	if err != nil {
		return nil, err
	}
	if err := m.checkNode(&n); err != nil {
		return nil, err
	}
	if IsNodeRegistered(c.State, c.Caller) {
		return nil, fmt.Errorf("%w: %s has a node; use updateNode", ErrAlreadyRegistered, c.Caller)
	}
	if err := m.verify(c, peerID, sig); err != nil {
		return nil, err
	}
	if err := m.claimable(c, peerID); err != nil {
		return nil, err
	}
	if NodeCount(c.State) >= MaxNodes {
		return nil, fmt.Errorf("%w: %d nodes", ErrFull, MaxNodes)
	}
	n.PeerID = peerID
	n.RegisteredBlock, n.UpdatedBlock = c.BlockNumber, c.BlockNumber
	data, err := EncodeNode(&n)
	if err != nil || len(data) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: node record of %d bytes: %v", native.ErrInternal, len(data), err) // bounds make this impossible
	}
	listAdd(c, slotNodes, slotNodeIndex, c.Caller)
	storeBytes(c, ownerKey(slotNodeRecord, c.Caller), data)
	c.Store(peerKey(slotNodePeer, peerID), native.AddressKey(c.Caller))
	return nil, c.Emit("NodeRegistered", c.Caller, peerID, n.InventoryHash, n.GPUCount, n.Simulated)
}

func (m *Module) updateNode(c *native.Call, args []any) ([]any, error) {
	n, err := DecodeNodeArgs(args)
	if err != nil {
		return nil, err
	}
	if err := m.checkNode(&n); err != nil {
		return nil, err
	}
	old, ok, err := NodeOf(c.State, c.Caller)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s has no node", ErrNotRegistered, c.Caller)
	}
	n.PeerID = old.PeerID
	n.RegisteredBlock, n.UpdatedBlock = old.RegisteredBlock, c.BlockNumber
	data, err := EncodeNode(&n)
	if err != nil || len(data) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: node record of %d bytes: %v", native.ErrInternal, len(data), err)
	}
	storeBytes(c, ownerKey(slotNodeRecord, c.Caller), data)
	return nil, c.Emit("NodeUpdated", c.Caller, n.InventoryHash, n.GPUCount, n.Simulated)
}

func (m *Module) deregisterNode(c *native.Call, _ []any) ([]any, error) {
	old, ok, err := NodeOf(c.State, c.Caller)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s has no node", ErrNotRegistered, c.Caller)
	}
	if err := listRemove(c, slotNodes, slotNodeIndex, c.Caller); err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	clearBytes(c, ownerKey(slotNodeRecord, c.Caller))
	c.Store(ownerKey(slotNodePing, c.Caller), common.Hash{})
	c.Store(peerKey(slotNodePeer, old.PeerID), common.Hash{})
	return nil, c.Emit("NodeDeregistered", c.Caller, old.PeerID)
}

// ping records the block as the caller's node's last on-chain update (see
// LastSeen): the cheap liveness refresh a node sends while its listing is
// unchanged.
func (m *Module) ping(c *native.Call, _ []any) ([]any, error) {
	if !IsNodeRegistered(c.State, c.Caller) {
		return nil, fmt.Errorf("%w: %s has no node", ErrNotRegistered, c.Caller)
	}
	c.StoreUint(ownerKey(slotNodePing, c.Caller), uint256.NewInt(c.BlockNumber))
	return nil, nil
}

func (m *Module) lastSeen(c *native.Call, args []any) ([]any, error) {
	owner, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: owner is %T", native.ErrBadInput, args[0])
	}
	n, ok, err := NodeOf(c.State, owner)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	if !ok {
		return []any{false, uint64(0)}, nil
	}
	return []any{true, LastSeen(c.State, &n)}, nil
}

func (m *Module) registerRouter(c *native.Call, args []any) ([]any, error) {
	peerID, sig, err := peerArgs(args)
	if err != nil {
		return nil, err
	}
	if IsRouterRegistered(c.State, c.Caller) {
		return nil, fmt.Errorf("%w: %s has a router", ErrAlreadyRegistered, c.Caller)
	}
	if !m.RouterStaked(c.State, c.Caller, c.BlockNumber) {
		return nil, fmt.Errorf("%w: %s needs a router-role stake of at least %s wei, effective this epoch", ErrNotStaked, c.Caller, m.staking.MinRouterStakeWei)
	}
	if err := m.verify(c, peerID, sig); err != nil {
		return nil, err
	}
	if err := m.claimable(c, peerID); err != nil {
		return nil, err
	}
	if RouterCount(c.State) >= MaxRouters {
		return nil, fmt.Errorf("%w: %d routers", ErrFull, MaxRouters)
	}
	data, err := encodeRouter(&Router{PeerID: peerID, RegisteredBlock: c.BlockNumber})
	if err != nil {
		return nil, err
	}
	listAdd(c, slotRouters, slotRouterIndex, c.Caller)
	storeBytes(c, ownerKey(slotRouterRecord, c.Caller), data)
	c.Store(peerKey(slotRouterPeer, peerID), native.AddressKey(c.Caller))
	return nil, c.Emit("RouterRegistered", c.Caller, peerID)
}

func (m *Module) deregisterRouter(c *native.Call, _ []any) ([]any, error) {
	old, ok, err := RouterOf(c.State, c.Caller)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s has no router", ErrNotRegistered, c.Caller)
	}
	if err := listRemove(c, slotRouters, slotRouterIndex, c.Caller); err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	clearBytes(c, ownerKey(slotRouterRecord, c.Caller))
	c.Store(peerKey(slotRouterPeer, old.PeerID), common.Hash{})
	return nil, c.Emit("RouterDeregistered", c.Caller, old.PeerID)
}

// verify checks the caller's peer-ID proof on this chain.
func (m *Module) verify(c *native.Call, peerID, sig []byte) error {
	if c.ChainID == nil || c.ChainID.IsZero() {
		return ErrNoChainID
	}
	return VerifyPeerProof(c.ChainID, c.Caller, peerID, sig)
}

// claimable checks that no other owner holds peerID, as a node or a router.
func (m *Module) claimable(c *native.Call, peerID []byte) error {
	for _, slot := range []uint64{slotNodePeer, slotRouterPeer} {
		v := c.Load(peerKey(slot, peerID))
		if v != (common.Hash{}) && common.BytesToAddress(v[:]) != c.Caller {
			return fmt.Errorf("%w: %s", ErrPeerTaken, common.BytesToAddress(v[:]))
		}
	}
	return nil
}

// checkNode applies the chain's rules to a decoded, well-formed inventory.
func (m *Module) checkNode(n *Node) error {
	if n.Simulated && !m.params.AllowSimulatedGPUs {
		return ErrSimulatedNotAllowed
	}
	return nil
}

func (m *Module) nodeOf(c *native.Call, args []any) ([]any, error) {
	owner, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: owner is %T", native.ErrBadInput, args[0])
	}
	n, found, err := NodeOf(c.State, owner)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	return append([]any{found}, nodeOutputs(&n)...), nil
}

func (m *Module) nodeByPeer(c *native.Call, args []any) ([]any, error) {
	peerID, ok := args[0].([]byte)
	if !ok {
		return nil, fmt.Errorf("%w: peerId is %T", native.ErrBadInput, args[0])
	}
	n, _, err := NodeByPeer(c.State, peerID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	return append([]any{n.Owner}, nodeOutputs(&n)...), nil
}

func (m *Module) nodes(c *native.Call, args []any) ([]any, error) {
	offset, limit, err := pageArgs(args)
	if err != nil {
		return nil, err
	}
	owners, total := NodeOwners(c.State, offset, limit)
	return []any{owners, new(big.Int).SetUint64(total)}, nil
}

func (m *Module) routerOf(c *native.Call, args []any) ([]any, error) {
	owner, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: owner is %T", native.ErrBadInput, args[0])
	}
	r, found, err := RouterOf(c.State, owner)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", native.ErrInternal, err)
	}
	peerID := r.PeerID
	if peerID == nil {
		peerID = []byte{}
	}
	return []any{found, peerID, r.RegisteredBlock, found && m.RouterStaked(c.State, owner, c.BlockNumber)}, nil
}

func (m *Module) routers(c *native.Call, args []any) ([]any, error) {
	offset, limit, err := pageArgs(args)
	if err != nil {
		return nil, err
	}
	owners, total := RouterOwners(c.State, offset, limit)
	return []any{owners, new(big.Int).SetUint64(total)}, nil
}

// nodeOutputs lists n's fields in the ABI order of nodeOf after its first
// output (zero values for a node that is not registered).
func nodeOutputs(n *Node) []any {
	peerID := n.PeerID
	if peerID == nil {
		peerID = []byte{}
	}
	models := make([]string, 0, len(n.Prices))
	prices := make([]*big.Int, 0, len(n.Prices))
	for _, p := range n.Prices {
		models = append(models, p.Model)
		prices = append(prices, p.WeiPerGPUSecond.ToBig())
	}
	images := make([][32]byte, 0, len(n.Images))
	for _, d := range n.Images {
		images = append(images, d)
	}
	cpu := new(big.Int)
	if n.CPUPriceWei != nil {
		cpu = n.CPUPriceWei.ToBig()
	}
	return []any{peerID, [32]byte(n.InventoryHash), n.GPUCount, n.GPUModel, n.MemoryMiB, n.Simulated,
		models, prices, cpu, images, n.RegisteredBlock, n.UpdatedBlock}
}

func encodeRouter(r *Router) ([]byte, error) {
	data, err := rlp.EncodeToBytes(r)
	if err != nil || len(data) > maxRouterRecordWords*32 {
		return nil, fmt.Errorf("%w: router record of %d bytes: %v", native.ErrInternal, len(data), err)
	}
	return data, nil
}

// peerArgs decodes (bytes peerId, bytes peerSig).
func peerArgs(args []any) (peerID, sig []byte, err error) {
	if len(args) < 2 {
		return nil, nil, fmt.Errorf("%w: %d args", native.ErrBadInput, len(args))
	}
	peerID, ok1 := args[0].([]byte)
	sig, ok2 := args[1].([]byte)
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("%w: peerId %T peerSig %T", native.ErrBadInput, args[0], args[1])
	}
	if len(peerID) == 0 || len(peerID) > MaxPeerIDBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes (1 to %d)", ErrBadPeerID, len(peerID), MaxPeerIDBytes)
	}
	if len(sig) == 0 || len(sig) > MaxPeerSigBytes {
		return nil, nil, fmt.Errorf("%w: signature of %d bytes (1 to %d)", ErrBadPeerProof, len(sig), MaxPeerSigBytes)
	}
	return peerID, sig, nil
}

// DecodeNodeArgs turns registerNode's (after peerId and peerSig) or
// updateNode's decoded arguments into a node record, checking every bound
// and rule that does not depend on the chain: (inventoryHash, gpuCount,
// gpuModel, memoryMiB, simulated, priceModels, pricesWeiPerGpuSecond,
// cpuPriceWei, images).
func DecodeNodeArgs(args []any) (Node, error) {
	if len(args) != 9 {
		return Node{}, fmt.Errorf("%w: %d node args, want 9", native.ErrBadInput, len(args))
	}
	inv, ok0 := args[0].([32]byte)
	count, ok1 := args[1].(uint32)
	model, ok2 := args[2].(string)
	mem, ok3 := args[3].(uint64)
	sim, ok4 := args[4].(bool)
	models, ok5 := args[5].([]string)
	prices, ok6 := args[6].([]*big.Int)
	cpu, ok7 := args[7].(*big.Int)
	images, ok8 := args[8].([][32]byte)
	if !(ok0 && ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) {
		return Node{}, fmt.Errorf("%w: node args of types %T", native.ErrBadInput, args)
	}
	n := Node{InventoryHash: inv, GPUCount: count, GPUModel: model, MemoryMiB: mem, Simulated: sim}
	switch {
	case inv == [32]byte{}:
		return Node{}, fmt.Errorf("%w: zero inventory hash", ErrBadInventory)
	case count > MaxGPUs:
		return Node{}, fmt.Errorf("%w: %d GPUs (at most %d)", ErrBadInventory, count, MaxGPUs)
	case count == 0 && (model != "" || mem != 0):
		return Node{}, fmt.Errorf("%w: no GPUs but a model or memory", ErrBadInventory)
	case count > 0 && (mem == 0 || model == ""):
		return Node{}, fmt.Errorf("%w: %d GPUs need a model and memory per GPU", ErrBadInventory, count)
	case count == 0 && sim:
		return Node{}, fmt.Errorf("%w: simulated inventory without GPUs", ErrBadInventory)
	}
	if err := checkText(model); err != nil {
		return Node{}, fmt.Errorf("%w: GPU model: %w", ErrBadInventory, err)
	}
	if len(models) != len(prices) {
		return Node{}, fmt.Errorf("%w: %d models, %d prices", ErrBadPrices, len(models), len(prices))
	}
	if len(models) > MaxPrices {
		return Node{}, fmt.Errorf("%w: %d prices (at most %d)", ErrBadPrices, len(models), MaxPrices)
	}
	if count > 0 && len(models) == 0 {
		return Node{}, fmt.Errorf("%w: a node with GPUs needs a price", ErrBadPrices)
	}
	if count == 0 && len(models) > 0 {
		return Node{}, fmt.Errorf("%w: GPU prices without GPUs", ErrBadPrices)
	}
	seen := make(map[string]bool, len(models))
	for i, mdl := range models {
		if err := checkText(mdl); err != nil || mdl == "" {
			return Node{}, fmt.Errorf("%w: model %d: empty or %v", ErrBadPrices, i, err)
		}
		if seen[mdl] {
			return Node{}, fmt.Errorf("%w: model %q listed twice", ErrBadPrices, mdl)
		}
		seen[mdl] = true
		p, overflow := uint256.FromBig(prices[i])
		if overflow || prices[i].Sign() <= 0 {
			return Node{}, fmt.Errorf("%w: price of %q must be positive", ErrBadPrices, mdl)
		}
		n.Prices = append(n.Prices, Price{Model: mdl, WeiPerGPUSecond: p})
	}
	c, overflow := uint256.FromBig(cpu)
	if overflow || cpu.Sign() < 0 {
		return Node{}, fmt.Errorf("%w: CPU price out of range", ErrBadPrices)
	}
	n.CPUPriceWei = c
	if len(images) > MaxImages {
		return Node{}, fmt.Errorf("%w: %d images (at most %d)", ErrBadImages, len(images), MaxImages)
	}
	seenImg := make(map[[32]byte]bool, len(images))
	for _, d := range images {
		if d == [32]byte{} || seenImg[d] {
			return Node{}, fmt.Errorf("%w: zero or duplicate digest %x", ErrBadImages, d)
		}
		seenImg[d] = true
		n.Images = append(n.Images, d)
	}
	return n, nil
}

// checkText accepts printable ASCII up to MaxModelBytes, so model names
// compare byte for byte and print safely.
func checkText(s string) error {
	if len(s) > MaxModelBytes {
		return fmt.Errorf("%d bytes (at most %d)", len(s), MaxModelBytes)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("byte %d is not printable ASCII", i)
		}
	}
	return nil
}

// recordGas charges RecordWordGas per word of the record the node args from
// index at on encode to (MaxRecordWords when they do not decode: the call
// will revert, and the charge only has to be bounded).
func recordGas(at int) func([]any) uint64 {
	return func(args []any) uint64 {
		if len(args) < at {
			return MaxRecordWords * RecordWordGas
		}
		n, err := DecodeNodeArgs(args[at:])
		if err != nil {
			return MaxRecordWords * RecordWordGas
		}
		n.PeerID = make([]byte, MaxPeerIDBytes)
		n.RegisteredBlock, n.UpdatedBlock = ^uint64(0), ^uint64(0)
		data, err := EncodeNode(&n)
		if err != nil || len(data) > MaxRecordBytes {
			return MaxRecordWords * RecordWordGas
		}
		return words(uint64(len(data))) * RecordWordGas
	}
}

// pageGas charges PageGasPerItem per owner a page can return.
func pageGas(args []any) uint64 {
	_, limit, err := pageArgs(args)
	if err != nil {
		return 0
	}
	return min(limit, MaxPage) * PageGasPerItem
}

func pageArgs(args []any) (offset, limit uint64, err error) {
	o, ok1 := args[0].(*big.Int)
	l, ok2 := args[1].(*big.Int)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("%w: offset %T limit %T", native.ErrBadInput, args[0], args[1])
	}
	if !o.IsUint64() {
		return ^uint64(0), 0, nil // past any list
	}
	limit = MaxPage
	if l.IsUint64() && l.Uint64() < MaxPage {
		limit = l.Uint64()
	}
	return o.Uint64(), limit, nil
}
