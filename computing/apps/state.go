package apps

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Storage layout of the module account (Solidity layout where it has one):
//
//	slot 0                                  appCount          uint256: app ids are 1..appCount
//	keccak256(pad32(id) ‖ pad32(1))         appRecord[id]     bytes: RLP of the App record
//	slot 2                                  instanceCount     uint256: instance ids are 1..instanceCount
//	keccak256(pad32(id) ‖ pad32(3))         instRecord[id]    bytes: RLP of the Instance record
//	keccak256(pad32(owner) ‖ pad32(4))      instancesOf[a]    uint256[]: ids a deployed, in order
//	keccak256(pad32(node) ‖ pad32(5))       instancesOnNode[n] uint256[]: ids ever placed on n, in order
//	keccak256(pad32(block) ‖ pad32(6))      due[block]        uint256[]: ids with a deadline at block
//	slot 7                                  escrowTotal       uint256: Σ (escrowWei − chargedWei) of open EMC instances
//	slot 8                                  creditsEscrow     uint256: Σ (escrowCredits − chargedCredits) of open instances
//	slot 9                                  deployed.length   uint256: instances waiting for placement (StateDeployed)
//	keccak256(pad32(9)) + i                 deployed[i]       uint256: their ids, unordered (swap-remove)
//	keccak256(pad32(id) ‖ pad32(10))        deployedIndex[id] uint256: i+1 while id is in deployed, else 0
//
// A record ("bytes") at base b stores its length at b and its data, 32
// bytes a word, at keccak256(b) + j. Invariants: the module's balance
// equals escrowTotal; the credits module's balance of native.AppsAddress
// equals creditsEscrow; both equal the sums over the instances that are
// not closed.
const (
	slotAppCount   = 0
	slotAppRecord  = 1
	slotInstCount  = 2
	slotInstRecord = 3
	slotInstOf     = 4
	slotInstOnNode = 5
	slotDue        = 6
	slotEscrow     = 7
	slotCreditsEsc = 8
	slotDeployed   = 9
	slotDeployedIx = 10
)

// Record bounds (pinned by a test): an app's record with every text at
// its limit, an instance's with every field at its widest.
const (
	maxAppRecordBytes  = 3_700
	maxInstRecordBytes = 800
)

// ErrCorrupt is returned by the accessors when stored state breaks the
// module's invariants. It means a bug, never a user's doing.
var ErrCorrupt = errors.New("apps: corrupt module state")

// State is an instance's state. The values are stored: never renumber.
type State uint8

// Instance states.
const (
	// StateDeployed: escrowed, waiting for a router to place it (until
	// Deadline, a block).
	StateDeployed State = 1
	// StatePlaced: a router named a node; the node reports ready by
	// Deadline (a block).
	StatePlaced State = 2
	// StateRunning: serving; the lease ends at EndTime (block time).
	StateRunning State = 3
	// StateEnding: the lease ended; receipts may still be settled until
	// Deadline (a block), then the rest is refunded.
	StateEnding State = 4
	// StateClosed: paid out and refunded; final.
	StateClosed State = 5
)

// String names the state.
func (s State) String() string {
	switch s {
	case StateDeployed:
		return "deployed"
	case StatePlaced:
		return "placed"
	case StateRunning:
		return "running"
	case StateEnding:
		return "ending"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("state%d", uint8(s))
}

// End reasons (Instance.EndReason). Stored: never renumber.
const (
	// EndExpired: no router placed it, or no node got it ready, in time.
	EndExpired uint8 = 1
	// EndStopped: the owner stopped it.
	EndStopped uint8 = 2
	// EndLease: its lease time ran out.
	EndLease uint8 = 3
	// EndNodeDead: reaped, its node not seen within LivenessBlocks.
	EndNodeDead uint8 = 4
)

// EndReasonString names an end reason.
func EndReasonString(r uint8) string {
	switch r {
	case 0:
		return ""
	case EndExpired:
		return "expired"
	case EndStopped:
		return "stopped"
	case EndLease:
		return "lease-ended"
	case EndNodeDead:
		return "node-dead"
	}
	return fmt.Sprintf("reason%d", r)
}

// App is a published app (immutable once written).
type App struct {
	ID                   uint64 `rlp:"-"`
	Publisher            common.Address
	Image                common.Hash
	Port                 uint16
	HealthPath           string
	Name                 string
	Description          string
	ParamsDoc            string
	PricePerCallWei      *uint256.Int
	PricePerGPUSecondWei *uint256.Int
	RoyaltyBps           uint16
	Block                uint64
}

// Instance is an instance's stored record.
type Instance struct {
	ID         uint64 `rlp:"-"`
	App        uint64
	Owner      common.Address
	State      State
	GPUs       uint32
	Hours      uint64
	APIKeyHash common.Hash
	// Exactly one of EscrowWei and EscrowCredits is non-zero.
	EscrowWei     *uint256.Int
	EscrowCredits *uint256.Int
	DeployBlock   uint64
	// Router and Node are the current placement (zero while deployed).
	Router   common.Address
	Node     common.Address
	Attempts uint8
	// Deadline: a block in StateDeployed (place by), StatePlaced (ready
	// by) and StateEnding (settle until); unused otherwise.
	Deadline uint64
	// DueBlock names the live due-list entry; others are stale.
	DueBlock uint64
	// ReadyTime is the block time of ready; EndTime the lease's end (block
	// time), moved earlier when the lease ends early.
	ReadyTime uint64
	EndTime   uint64
	// The newest settled receipt's counters.
	Seq       uint64
	Calls     uint64
	GPUMillis uint64
	CallsHash common.Hash
	// ChargedWei is the wei paid out of the escrow so far (for Credits,
	// the wei of the Credits spent); ChargedCredits the Credits spent.
	ChargedWei     *uint256.Int
	ChargedCredits *uint256.Int
	// Where the charged wei went: node, royalty, burned.
	NodeWei       *uint256.Int
	RoyaltyWei    *uint256.Int
	BurnedWei     *uint256.Int
	RefundWei     *uint256.Int
	RefundCredits *uint256.Int
	EndReason     uint8
	EndBlock      uint64
	// Restart: the owner asked (setRestart) that a reap of the running
	// instance send it back to the routers instead of ending it. Restarts
	// counts those restarts (at most Params.MaxRestarts); it is also the
	// placement epoch of the instance's receipts (see [EpochSeq]). Both
	// are optional in the record: records written before them decode.
	Restart  bool  `rlp:"optional"`
	Restarts uint8 `rlp:"optional"`
}

// InCredits reports whether the instance's escrow is in Credits.
func (in *Instance) InCredits() bool { return in.EscrowCredits != nil && !in.EscrowCredits.IsZero() }

// Open reports whether the instance still holds escrow.
func (in *Instance) Open() bool { return in.State != StateClosed }

func (in *Instance) fill() {
	for _, p := range []**uint256.Int{&in.EscrowWei, &in.EscrowCredits, &in.ChargedWei, &in.ChargedCredits, &in.NodeWei,
		&in.RoyaltyWei, &in.BurnedWei, &in.RefundWei, &in.RefundCredits} {
		if *p == nil {
			*p = new(uint256.Int)
		}
	}
}

func (a *App) fill() {
	for _, p := range []**uint256.Int{&a.PricePerCallWei, &a.PricePerGPUSecondWei} {
		if *p == nil {
			*p = new(uint256.Int)
		}
	}
}

// Go accessors over any state.

// AppCount returns the number of apps published (ids 1..AppCount).
func AppCount(s native.StateReader) uint64 {
	return native.LoadUint(s, native.AppsAddress, native.Slot(slotAppCount)).Uint64()
}

// InstanceCount returns the number of instances deployed.
func InstanceCount(s native.StateReader) uint64 {
	return native.LoadUint(s, native.AppsAddress, native.Slot(slotInstCount)).Uint64()
}

// AppOf returns app id; false when there is none.
func AppOf(s native.StateReader, id uint64) (App, bool, error) {
	if id == 0 || id > AppCount(s) {
		return App{}, false, nil
	}
	data, err := loadBytes(s, appKey(id), maxAppRecordBytes)
	if err != nil {
		return App{}, false, err
	}
	var a App
	if err := rlp.DecodeBytes(data, &a); err != nil {
		return App{}, false, fmt.Errorf("%w: app %d: %w", ErrCorrupt, id, err)
	}
	a.ID = id
	a.fill()
	return a, true, nil
}

// InstanceOf returns instance id; false when there is none.
func InstanceOf(s native.StateReader, id uint64) (Instance, bool, error) {
	if id == 0 || id > InstanceCount(s) {
		return Instance{}, false, nil
	}
	data, err := loadBytes(s, instKey(id), maxInstRecordBytes)
	if err != nil {
		return Instance{}, false, err
	}
	var in Instance
	if err := rlp.DecodeBytes(data, &in); err != nil {
		return Instance{}, false, fmt.Errorf("%w: instance %d: %w", ErrCorrupt, id, err)
	}
	in.ID = id
	in.fill()
	return in, true, nil
}

// Apps returns up to limit (at most MaxPage) app ids from offset (ids
// start at 1, offset 0 is app 1) and how many there are.
func Apps(s native.StateReader, offset, limit uint64) ([]uint64, uint64) {
	total := AppCount(s)
	out := []uint64{}
	for id := offset + 1; offset < total && id <= total && uint64(len(out)) < min(limit, MaxPage); id++ {
		out = append(out, id)
	}
	return out, total
}

// InstancesOf returns up to limit ids of owner's instances from offset,
// and how many owner has.
func InstancesOf(s native.StateReader, owner common.Address, offset, limit uint64) ([]uint64, uint64) {
	return pageArray(s, native.MapSlot(native.Slot(slotInstOf), native.AddressKey(owner)), offset, limit)
}

// InstancesOnNode returns up to limit ids of the instances ever placed on
// node from offset, and how many there are.
func InstancesOnNode(s native.StateReader, node common.Address, offset, limit uint64) ([]uint64, uint64) {
	return pageArray(s, native.MapSlot(native.Slot(slotInstOnNode), native.AddressKey(node)), offset, limit)
}

// DeployedInstances returns up to limit (at most MaxPage) ids of the
// instances waiting for a router to place them (StateDeployed) from
// offset, in index order (which removals reorder), and how many there
// are. Routers read it instead of every instance.
func DeployedInstances(s native.StateReader, offset, limit uint64) ([]uint64, uint64) {
	total := native.LoadUint(s, native.AppsAddress, native.Slot(slotDeployed)).Uint64()
	limit = min(limit, MaxPage)
	out := []uint64{}
	base := native.Slot(slotDeployed)
	for i := offset; i < total && uint64(len(out)) < limit; i++ {
		out = append(out, native.LoadUint(s, native.AppsAddress, native.ArraySlot(base, i)).Uint64())
	}
	return out, total
}

// EscrowTotal returns the EMC escrow the module holds.
func EscrowTotal(s native.StateReader) *uint256.Int {
	return native.LoadUint(s, native.AppsAddress, native.Slot(slotEscrow))
}

// CreditsEscrowTotal returns the Credits escrow the module holds (in the
// credits module, as native.AppsAddress's balance).
func CreditsEscrowTotal(s native.StateReader) *uint256.Int {
	return native.LoadUint(s, native.AppsAddress, native.Slot(slotCreditsEsc))
}

func pageArray(s native.StateReader, base common.Hash, offset, limit uint64) ([]uint64, uint64) {
	total := native.LoadUint(s, native.AppsAddress, base).Uint64()
	limit = min(limit, MaxPage)
	out := []uint64{}
	for i := offset; i < total && uint64(len(out)) < limit; i++ {
		out = append(out, native.LoadUint(s, native.AppsAddress, native.ArraySlot(base, i)).Uint64())
	}
	return out, total
}

func appKey(id uint64) common.Hash {
	return native.MapSlot(native.Slot(slotAppRecord), native.Slot(id))
}
func instKey(id uint64) common.Hash {
	return native.MapSlot(native.Slot(slotInstRecord), native.Slot(id))
}
func dueKey(block uint64) common.Hash {
	return native.MapSlot(native.Slot(slotDue), native.Slot(block))
}

func saveApp(c *native.Call, a *App) error {
	a.fill()
	data, err := rlp.EncodeToBytes(a)
	if err != nil || len(data) > maxAppRecordBytes {
		return fmt.Errorf("%w: app record of %d bytes: %v", native.ErrInternal, len(data), err)
	}
	storeBytes(c, appKey(a.ID), data)
	return nil
}

func saveInstance(c *native.Call, in *Instance) error {
	in.fill()
	data, err := rlp.EncodeToBytes(in)
	if err != nil || len(data) > maxInstRecordBytes {
		return fmt.Errorf("%w: instance record of %d bytes: %v", native.ErrInternal, len(data), err)
	}
	storeBytes(c, instKey(in.ID), data)
	return nil
}

// push appends v to the uint256 array whose length is at base.
func push(c *native.Call, base common.Hash, v uint64) {
	n := c.LoadUint(base).Uint64()
	c.StoreUint(native.ArraySlot(base, n), uint256.NewInt(v))
	c.StoreUint(base, uint256.NewInt(n+1))
}

func loadBytes(s native.StateReader, base common.Hash, limit uint64) ([]byte, error) {
	n := native.LoadUint(s, native.AppsAddress, base)
	if !n.IsUint64() || n.Uint64() > limit {
		return nil, fmt.Errorf("%w: record length %s", ErrCorrupt, n)
	}
	size := n.Uint64()
	out := make([]byte, 0, words(size)*32)
	for j := uint64(0); j < words(size); j++ {
		w := s.GetState(native.AppsAddress, native.ArraySlot(base, j))
		out = append(out, w[:]...)
	}
	return out[:size], nil
}

func words(n uint64) uint64 { return (n + 31) / 32 }

func storeBytes(c *native.Call, base common.Hash, data []byte) {
	old := c.LoadUint(base).Uint64() // bounded: only this module writes it
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

// deployedIndexKey is id's position + 1 in the deployed list (0: absent).
func deployedIndexKey(id uint64) common.Hash {
	return native.MapSlot(native.Slot(slotDeployedIx), native.Slot(id))
}

// listDeployed adds id to the deployed list; an id already listed is a
// broken invariant.
func listDeployed(c *native.Call, id uint64) error {
	if c.Load(deployedIndexKey(id)) != (common.Hash{}) {
		return fmt.Errorf("%w: instance %d listed twice", native.ErrInternal, id)
	}
	base := native.Slot(slotDeployed)
	n := c.LoadUint(base).Uint64()
	c.StoreUint(native.ArraySlot(base, n), uint256.NewInt(id))
	c.StoreUint(deployedIndexKey(id), uint256.NewInt(n+1))
	c.StoreUint(base, uint256.NewInt(n+1))
	return nil
}

// unlistDeployed takes id out of the deployed list, moving the last entry
// into its place; an id not listed is a broken invariant.
func unlistDeployed(c *native.Call, id uint64) error {
	base := native.Slot(slotDeployed)
	pos := c.LoadUint(deployedIndexKey(id)).Uint64()
	n := c.LoadUint(base).Uint64()
	if pos == 0 || pos > n {
		return fmt.Errorf("%w: instance %d not in the deployed list (position %d of %d)", native.ErrInternal, id, pos, n)
	}
	lastKey := native.ArraySlot(base, n-1)
	if pos != n {
		last := c.LoadUint(lastKey)
		c.StoreUint(native.ArraySlot(base, pos-1), last)
		c.StoreUint(deployedIndexKey(last.Uint64()), uint256.NewInt(pos))
	}
	c.Store(lastKey, common.Hash{})
	c.Store(deployedIndexKey(id), common.Hash{})
	c.StoreUint(base, uint256.NewInt(n-1))
	return nil
}
