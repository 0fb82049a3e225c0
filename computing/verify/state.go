package verify

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Storage layout of the module's account (Solidity layout, see
// state/native):
//
//	slot 0  mapping(uint64 epoch => bytes32)   seed: hash of the epoch's first block
//	slot 1  mapping(uint64 epoch => word)      u64 startTime ‖ u8 set (the seed block's time)
//	slot 2  mapping(uint64 epoch => address[]) the validators of the epoch (BlockEnv.Validators of its block 1)
//	slot 3  mapping(uint64 block => bytes32)   hash of a class's commit deadline block (the sample seed)
//	slot 4  mapping(uint64 epoch => mapping(address node => challenge))
//	        challenge at base h: h+0 root, h+1 meta (see meta), h+2+i verifier i
//	slot 5  mapping(uint64 block => address[]) challenges decided at the end of block
//	slot 6  mapping(address => word)           node counters: u64 passed ‖ u64 failed ‖ u64 missed
//	slot 7  mapping(address => word)           validator counters: u64 missedDuties ‖ u64 falseFails
//	slot 8  mapping(address => word)           node history: u8 length ‖ HistoryLen × u8 outcome, newest first
//	slot 9  mapping(uint64 epoch => mapping(address router => word)) probe: u8 mask of prober slots that failed it ‖ u8 routerFailed
//	slot 10 mapping(address => word)           router probe counters: u64 failReports ‖ u64 failedEpochs
//	slot 11 mapping(uint64 epoch => address[]) the accounts with a challenge or a probe word in the epoch
//	        (from the verifyPrune fork on: what pruneEpoch deletes)
const (
	slotSeed         = 0
	slotEpochInfo    = 1
	slotValidators   = 2
	slotBlockHash    = 3
	slotChallenge    = 4
	slotDue          = 5
	slotNodeFaults   = 6
	slotValFaults    = 7
	slotHistory      = 8
	slotProbe        = 9
	slotRouterProbes = 10
	slotEpochIndex   = 11
)

// HistoryLen is how many recent challenge outcomes a node's history keeps.
const HistoryLen = 16

// ErrCorrupt is a broken invariant of the module's own storage.
var ErrCorrupt = errors.New("verify: corrupt module state")

// Slot states of a challenge's verifier slot.
const (
	// SlotPending: nothing yet.
	SlotPending uint8 = iota
	// SlotPassed: the verifier attested with evidence the chain checked.
	SlotPassed
	// SlotFailed: the verifier attested a fail (no evidence).
	SlotFailed
	// SlotRebutted: the verifier attested a fail and the node then posted
	// that verifier's evidence: a pass and a false fail.
	SlotRebutted
	// SlotProvenByNode: the verifier had not attested and the node posted
	// its evidence: a pass.
	SlotProvenByNode
)

// Status of a challenge as challengeOf reports it.
const (
	// StatusNone: no challenge recorded (not yet committed, or the node
	// was not challenged in that epoch).
	StatusNone uint8 = iota
	// StatusCommitted: the root is on chain, the window is open.
	StatusCommitted
	// StatusVerified: enough slots passed; a verified task.
	StatusVerified
	// StatusFailed: too few slots passed.
	StatusFailed
	// StatusMissed: no root by the deadline (recorded by recordMiss, or
	// reported lazily by the view once every deadline of the epoch passed).
	StatusMissed
	// StatusVoid: the epoch had no validator besides the node's owner, so
	// nobody could be drawn; neither a task nor a fault.
	StatusVoid
)

// challenge is one node's challenge in one epoch.
type challenge struct {
	Root          common.Hash
	CommitBlock   uint64
	DeadlineBlock uint64
	Class         uint8
	SlotCount     uint8
	Needed        uint8
	Slots         [MaxVerifiers]uint8
	Outcome       uint8 // StatusNone while pending; Verified, Failed, Missed or Void once decided
	Committed     bool
	Verifiers     [MaxVerifiers]common.Address
}

// meta word: u64 commitBlock ‖ u64 deadlineBlock ‖ u8 class ‖ u8 slotCount
// ‖ u8 needed ‖ 5 × u8 slot state ‖ u8 outcome ‖ u8 committed.
func (ch *challenge) meta() common.Hash {
	var w common.Hash
	binary.BigEndian.PutUint64(w[0:], ch.CommitBlock)
	binary.BigEndian.PutUint64(w[8:], ch.DeadlineBlock)
	w[16], w[17], w[18] = ch.Class, ch.SlotCount, ch.Needed
	copy(w[19:24], ch.Slots[:])
	w[24] = ch.Outcome
	if ch.Committed {
		w[25] = 1
	}
	return w
}

func challengeBase(epoch uint64, node common.Address) common.Hash {
	return native.MapSlot(native.MapSlot(native.Slot(slotChallenge), native.Slot(epoch)), native.AddressKey(node))
}

func add(base common.Hash, k uint64) common.Hash {
	v := new(uint256.Int).SetBytes32(base[:])
	v.Add(v, uint256.NewInt(k))
	return v.Bytes32()
}

// loadChallenge reads node's challenge of epoch (the zero challenge when
// none).
func loadChallenge(s native.StateReader, epoch uint64, node common.Address) (challenge, error) {
	base := challengeBase(epoch, node)
	var ch challenge
	w := s.GetState(native.VerifyAddress, add(base, 1))
	ch.CommitBlock = binary.BigEndian.Uint64(w[0:])
	ch.DeadlineBlock = binary.BigEndian.Uint64(w[8:])
	ch.Class, ch.SlotCount, ch.Needed = w[16], w[17], w[18]
	copy(ch.Slots[:], w[19:24])
	ch.Outcome, ch.Committed = w[24], w[25] == 1
	if ch.SlotCount > MaxVerifiers || ch.Needed > ch.SlotCount || w[25] > 1 {
		return challenge{}, fmt.Errorf("%w: challenge of %s in epoch %d", ErrCorrupt, node, epoch)
	}
	if ch.Committed {
		ch.Root = s.GetState(native.VerifyAddress, base)
		for i := range int(ch.SlotCount) {
			ch.Verifiers[i] = common.BytesToAddress(s.GetState(native.VerifyAddress, add(base, 2+uint64(i))).Bytes())
		}
	}
	return ch, nil
}

// saveMeta writes the meta word only (the root and verifiers never change
// after the commit).
func saveMeta(c *native.Call, epoch uint64, node common.Address, ch *challenge) {
	c.Store(add(challengeBase(epoch, node), 1), ch.meta())
}

// saveChallenge writes the whole challenge (at the commit).
func saveChallenge(c *native.Call, epoch uint64, node common.Address, ch *challenge) {
	base := challengeBase(epoch, node)
	c.Store(base, ch.Root)
	c.Store(add(base, 1), ch.meta())
	for i := range int(ch.SlotCount) {
		c.Store(add(base, 2+uint64(i)), native.AddressKey(ch.Verifiers[i]))
	}
}

// EpochSeed returns epoch's seed and the time of its seed block (its
// second block), ok false before that block began.
func EpochSeed(s native.StateReader, epoch uint64) (seed common.Hash, startTime uint64, ok bool) {
	info := s.GetState(native.VerifyAddress, native.MapSlot(native.Slot(slotEpochInfo), native.Slot(epoch)))
	if info[8] != 1 {
		return common.Hash{}, 0, false
	}
	return s.GetState(native.VerifyAddress, native.MapSlot(native.Slot(slotSeed), native.Slot(epoch))), binary.BigEndian.Uint64(info[0:]), true
}

func storeEpochSeed(c *native.Call, epoch uint64, seed common.Hash, startTime uint64) {
	var info common.Hash
	binary.BigEndian.PutUint64(info[0:], startTime)
	info[8] = 1
	c.Store(native.MapSlot(native.Slot(slotSeed), native.Slot(epoch)), seed)
	c.Store(native.MapSlot(native.Slot(slotEpochInfo), native.Slot(epoch)), info)
}

func validatorsBase(epoch uint64) common.Hash {
	return native.MapSlot(native.Slot(slotValidators), native.Slot(epoch))
}

// ValidatorCount is the size of epoch's stored validator set.
func ValidatorCount(s native.StateReader, epoch uint64) uint64 {
	return native.LoadUint(s, native.VerifyAddress, validatorsBase(epoch)).Uint64()
}

// ValidatorAt is validator i of epoch's stored set.
func ValidatorAt(s native.StateReader, epoch, i uint64) common.Address {
	return common.BytesToAddress(s.GetState(native.VerifyAddress, native.ArraySlot(validatorsBase(epoch), i)).Bytes())
}

func storeValidators(c *native.Call, epoch uint64, vs []common.Address) {
	base := validatorsBase(epoch)
	for i, v := range vs {
		c.Store(native.ArraySlot(base, uint64(i)), native.AddressKey(v))
	}
	c.StoreUint(base, uint256.NewInt(uint64(len(vs))))
}

func blockHashKey(number uint64) common.Hash {
	return native.MapSlot(native.Slot(slotBlockHash), native.Slot(number))
}

// SampleSeed is the stored hash of block number (a commit deadline block),
// ok false when not stored (the block after it has not begun).
func SampleSeed(s native.StateReader, number uint64) (common.Hash, bool) {
	h := s.GetState(native.VerifyAddress, blockHashKey(number))
	return h, h != (common.Hash{})
}

func dueKey(block uint64) common.Hash {
	return native.MapSlot(native.Slot(slotDue), native.Slot(block))
}

func pushDue(c *native.Call, block uint64, node common.Address) {
	base := dueKey(block)
	n := c.LoadUint(base).Uint64()
	c.Store(native.ArraySlot(base, n), native.AddressKey(node))
	c.StoreUint(base, uint256.NewInt(n+1))
}

// Faults are the counters of an account, as a node and as a validator.
type Faults struct {
	// Passed, Failed and Missed count the account's challenges as a node.
	Passed, Failed, Missed uint64
	// MissedDuties counts verifier slots it left pending to the end of
	// the window; FalseFails counts its fails the node rebutted.
	MissedDuties, FalseFails uint64
}

// FaultsOf reads account's counters.
func FaultsOf(s native.StateReader, account common.Address) Faults {
	nw := s.GetState(native.VerifyAddress, native.MapSlot(native.Slot(slotNodeFaults), native.AddressKey(account)))
	vw := s.GetState(native.VerifyAddress, native.MapSlot(native.Slot(slotValFaults), native.AddressKey(account)))
	return Faults{
		Passed: binary.BigEndian.Uint64(nw[0:]), Failed: binary.BigEndian.Uint64(nw[8:]), Missed: binary.BigEndian.Uint64(nw[16:]),
		MissedDuties: binary.BigEndian.Uint64(vw[0:]), FalseFails: binary.BigEndian.Uint64(vw[8:]),
	}
}

// bump adds one to counter k (0, 1 or 2) of the packed word at slot's
// entry for account.
func bump(c *native.Call, slot uint64, account common.Address, k int) {
	key := native.MapSlot(native.Slot(slot), native.AddressKey(account))
	w := c.Load(key)
	binary.BigEndian.PutUint64(w[8*k:], binary.BigEndian.Uint64(w[8*k:])+1)
	c.Store(key, w)
}

func historyKey(node common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotHistory), native.AddressKey(node))
}

// HistoryOf reads node's recent challenge outcomes, newest first, at most
// HistoryLen: StatusVerified, StatusFailed or StatusMissed, one for each
// challenge decided (EndBlock) or miss recorded (recordMiss), in the order
// the chain recorded them (a miss recorded late follows the decisions
// before it). A void challenge is not an outcome. Nil when none.
func HistoryOf(s native.StateReader, node common.Address) []uint8 {
	w := s.GetState(native.VerifyAddress, historyKey(node))
	n := min(int(w[0]), HistoryLen)
	if n == 0 {
		return nil
	}
	return append([]uint8(nil), w[1:1+n]...)
}

// pushHistory records outcome as node's newest, dropping the oldest past
// HistoryLen.
func pushHistory(c *native.Call, node common.Address, outcome uint8) {
	key := historyKey(node)
	w := c.Load(key)
	n := min(int(w[0]), HistoryLen)
	var out common.Hash
	out[0] = uint8(min(n+1, HistoryLen))
	out[1] = outcome
	copy(out[2:1+HistoryLen], w[1:1+min(n, HistoryLen-1)])
	c.Store(key, out)
}

func epochIndexBase(epoch uint64) common.Hash {
	return native.MapSlot(native.Slot(slotEpochIndex), native.Slot(epoch))
}

// IndexGas is what adding an account to an epoch's index costs (the
// length word and the entry, both fresh at worst): charged to commitRoot,
// recordMiss and probeFail from the verifyPrune fork on.
const IndexGas = 2 * 22_100

// index adds account to epoch's index when the epoch is indexed (see
// Module.indexed): its records there are deleted with the epoch.
func (m *Module) index(c *native.Call, epoch uint64, account common.Address) {
	if !m.indexed(epoch) {
		return
	}
	base := epochIndexBase(epoch)
	n := c.LoadUint(base).Uint64()
	c.Store(native.ArraySlot(base, n), native.AddressKey(account))
	c.StoreUint(base, uint256.NewInt(n+1))
}

// pruneEpoch deletes every record the module keeps of epoch: its seed,
// info and validator set, the sample seed of each class's deadline block,
// and the challenge and probe word of every account in its index, then
// the index itself. The node, validator and router counters and the
// histories are not per epoch and stay.
func (m *Module) pruneEpoch(c *native.Call, epoch uint64) {
	zero := common.Hash{}
	base := epochIndexBase(epoch)
	n := c.LoadUint(base).Uint64()
	for i := range n {
		key := native.ArraySlot(base, i)
		account := common.BytesToAddress(c.Load(key).Bytes())
		// The root, the meta word and the verifier words the meta counts
		// (a miss has a meta word only; the root of one is zero).
		ch := challengeBase(epoch, account)
		slots := uint64(min(c.Load(add(ch, 1))[17], MaxVerifiers))
		for k := range 2 + slots {
			c.Store(add(ch, k), zero)
		}
		c.Store(probeKey(epoch, account), zero)
		c.Store(key, zero)
	}
	c.Store(base, zero)
	vs := validatorsBase(epoch)
	count := c.LoadUint(vs).Uint64()
	for i := range count {
		c.Store(native.ArraySlot(vs, i), zero)
	}
	c.Store(vs, zero)
	c.Store(native.MapSlot(native.Slot(slotSeed), native.Slot(epoch)), zero)
	c.Store(native.MapSlot(native.Slot(slotEpochInfo), native.Slot(epoch)), zero)
	for off := range m.offsets { // any order: deletions only
		c.Store(blockHashKey(m.epochStart(epoch)+1+off), zero)
	}
}
