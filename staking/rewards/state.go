package rewards

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Storage layout of the rewards module account (Solidity layout, see
// state/native's doc). Pools and counters:
//
//	slot 0   nodePoolWei        uint256: node-reward pool not yet emitted
//	slot 1   nodeDustWei        uint256: rounding dust carried to the next epoch's node reward
//	slot 2   tradePoolWei       uint256: trade-mining pool not yet paid out (trade.go has slots 17–21)
//	slot 3   stakingPoolWei     uint256: staking pool not yet distributed
//	slot 4   longTermPoolWei    uint256: long-term staking pool not yet distributed
//	slot 5   nextSettle         uint256: the next reward epoch whose node reward settles
//	slot 6   nextDistribute     uint256: the next staking epoch whose staking budgets distribute
//	slot 7   accruedTotalWei    uint256: Σ accrued[o] (node rewards owed, unclaimed)
//	slot 8   lastSettled        uint256: 1 + the last reward epoch settled (0: none yet)
//	slot 9   lastNodeRewardWei  uint256: what that settlement distributed (emission + carried dust)
//
// Node rewards (keyed by owner, unclaimed):
//
//	keccak256(pad32(o) ‖ pad32(10))              accrued[o]            uint256
//
// Per reward epoch k, E = keccak256(pad32(k) ‖ pad32(11)):
//
//	E+0                                   certs                   uint256: certificates counted
//	E+1                                   set.length              uint256: the validator set of epoch k
//	keccak256(E+1) + 4i + {0,1,2,3}       set[i]                  signer, owner, stake (wei), seals counted
//	keccak256(pad32(s) ‖ E+2)             setIndex[s]             i+1 of signer s (0: not in the set)
//	E+3                                   ledger.length           uint256: owners with credits in epoch k
//	keccak256(E+3) + 3i + {0,1,2}         ledger[i]               owner, credits, stake (wei)
//	keccak256(pad32(o) ‖ E+4)             ledgerIndex[o]          i+1 of owner o (0: none)
//
// Settlement of epoch k clears every one of these slots, so the per-epoch
// storage is bounded by the two epochs in flight (the one counting and, for
// one block, the one settling).
//
// Staking pools p (0: staking, 1: long-term), P = keccak256(pad32(p) ‖ pad32(12)):
//
//	P+0  totalWeight      uint256: Σ weights effective in the epoch being accumulated
//	P+1  accPerWeight     uint256: wei × 10^36 per unit of weight, cumulative
//	P+2  dustScaled       uint256: Distribute's remainders (Pool.DustScaled)
//	P+3  outstandingWei   uint256: Σ budgets distributed − Σ claimed from the pool
//	keccak256(pad32(e) ‖ P+4)             accAt[e]              accPerWeight before staking epoch e distributed
//	keccak256(pad32(e) ‖ P+5)             delta[e] (+0 add, +1 sub) weight changes and lock ends effective from epoch e
//	keccak256(pad32(o) ‖ P+6)  position Q of owner o, fields at Q+k:
//	  Q+0 prevWeight   weight effective before changeEpoch
//	  Q+1 weight       weight effective from changeEpoch on
//	  Q+2 changeEpoch  staking epoch from which weight counts (0: no change recorded)
//	  Q+3 settled      staking epochs < settled are in creditScaled
//	  Q+4 creditScaled wei × 10^36 earned and not claimed
//	  Q+5 expiryEpoch  staking epoch from which afterWeight replaces weight (0: none; > changeEpoch)
//	  Q+6 afterWeight  weight from expiryEpoch on (the lock's term has ended)
//
// accAt keeps one slot per staking epoch per pool (about 730 slots a year
// with daily epochs): the price of O(1) lazy positions whose weight changes
// take effect at a later epoch than the one they were made in.
const (
	slotNodePool       = 0
	slotNodeDust       = 1
	slotTradePool      = 2
	slotStakingPool    = 3 // + pool index
	slotNextSettle     = 5
	slotNextDistribute = 6
	slotAccruedTotal   = 7
	slotLastSettled    = 8
	slotLastNodeReward = 9
	slotAccrued        = 10
	slotEpochs         = 11
	slotPools          = 12
)

// Staking pool indexes.
const (
	PoolStaking  = 0
	PoolLongTerm = 1
	numPools     = 2
)

// Field offsets.
const (
	epCerts       = 0
	epSet         = 1
	epSetIndex    = 2
	epLedger      = 3
	epLedgerIndex = 4

	setFields    = 4
	ledgerFields = 3

	plTotalWeight = 0
	plAcc         = 1
	plDust        = 2
	plOutstanding = 3
	plAccAt       = 4
	plDelta       = 5
	plPositions   = 6

	posPrev    = 0
	posWeight  = 1
	posChange  = 2
	posSettled = 3
	posCredit  = 4
	posExpiry  = 5
	posAfter   = 6
)

func add(base common.Hash, k uint64) common.Hash {
	v := new(uint256.Int).SetBytes32(base[:])
	v.Add(v, uint256.NewInt(k))
	return v.Bytes32()
}

func u64Key(n uint64) common.Hash { return native.Slot(n) }

func accruedKey(o common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotAccrued), native.AddressKey(o))
}

func epochBase(k uint64) common.Hash {
	return native.MapSlot(native.Slot(slotEpochs), u64Key(k))
}

func setKey(k, i, f uint64) common.Hash {
	return native.ArraySlot(add(epochBase(k), epSet), setFields*i+f)
}

func setIndexKey(k uint64, s common.Address) common.Hash {
	return native.MapSlot(add(epochBase(k), epSetIndex), native.AddressKey(s))
}

func ledgerKey(k, i, f uint64) common.Hash {
	return native.ArraySlot(add(epochBase(k), epLedger), ledgerFields*i+f)
}

func ledgerIndexKey(k uint64, o common.Address) common.Hash {
	return native.MapSlot(add(epochBase(k), epLedgerIndex), native.AddressKey(o))
}

func poolBase(p uint64) common.Hash {
	return native.MapSlot(native.Slot(slotPools), u64Key(p))
}

func accAtKey(p, e uint64) common.Hash {
	return native.MapSlot(add(poolBase(p), plAccAt), u64Key(e))
}

func deltaKey(p, e uint64, sub bool) common.Hash {
	k := native.MapSlot(add(poolBase(p), plDelta), u64Key(e))
	if sub {
		return add(k, 1)
	}
	return k
}

func positionBase(p uint64, o common.Address) common.Hash {
	return native.MapSlot(add(poolBase(p), plPositions), native.AddressKey(o))
}

func load(s native.StateReader, key common.Hash) *uint256.Int {
	return native.LoadUint(s, native.RewardsAddress, key)
}

// Pools is the module's pool balances.
type Pools struct {
	NodeWei, NodeDustWei, TradeWei, StakingWei, LongTermWei *uint256.Int
}

// PoolsOf reads the pools from state.
func PoolsOf(s native.StateReader) Pools {
	return Pools{
		NodeWei:     load(s, native.Slot(slotNodePool)),
		NodeDustWei: load(s, native.Slot(slotNodeDust)),
		TradeWei:    load(s, native.Slot(slotTradePool)),
		StakingWei:  load(s, native.Slot(slotStakingPool+PoolStaking)),
		LongTermWei: load(s, native.Slot(slotStakingPool+PoolLongTerm)),
	}
}

// AccruedTotal returns the node rewards accrued to owners and not claimed.
func AccruedTotal(s native.StateReader) *uint256.Int {
	return load(s, native.Slot(slotAccruedTotal))
}

// Outstanding returns what staking pool p has distributed and not yet paid
// by claims (owed to positions, sub-wei credits and dust included).
func Outstanding(s native.StateReader, p uint64) *uint256.Int {
	return load(s, add(poolBase(p), plOutstanding))
}

// NodeAccrued returns owner's node rewards accrued and not claimed.
func NodeAccrued(s native.StateReader, owner common.Address) *uint256.Int {
	return load(s, accruedKey(owner))
}

// NextSettle returns the next reward epoch whose node reward settles.
func NextSettle(s native.StateReader) uint64 {
	return load(s, native.Slot(slotNextSettle)).Uint64()
}

// NextDistribute returns the next staking epoch whose staking budgets
// distribute (every epoch before it is distributed).
func NextDistribute(s native.StateReader) uint64 {
	return load(s, native.Slot(slotNextDistribute)).Uint64()
}

// LastSettlement returns the last reward epoch settled and what it
// distributed (emission plus carried dust), or false before the first.
func LastSettlement(s native.StateReader) (epoch uint64, rewardWei *uint256.Int, ok bool) {
	v := load(s, native.Slot(slotLastSettled)).Uint64()
	if v == 0 {
		return 0, new(uint256.Int), false
	}
	return v - 1, load(s, native.Slot(slotLastNodeReward)), true
}

// EpochCounts is what the module has counted of one reward epoch so far.
type EpochCounts struct {
	Certs uint64
	Set   []SetMember
}

// SetMember is one validator of a reward epoch's set.
type SetMember struct {
	Signer, Owner common.Address
	StakeWei      *uint256.Int
	Seals         uint64
}

// CountsOf reads reward epoch k's counts (empty once k is settled).
func CountsOf(s native.StateReader, k uint64) EpochCounts {
	base := epochBase(k)
	out := EpochCounts{Certs: load(s, add(base, epCerts)).Uint64()}
	n := load(s, add(base, epSet)).Uint64()
	for i := uint64(0); i < n && i < maxSet; i++ {
		out.Set = append(out.Set, SetMember{
			Signer:   addrAt(s, setKey(k, i, 0)),
			Owner:    addrAt(s, setKey(k, i, 1)),
			StakeWei: load(s, setKey(k, i, 2)),
			Seals:    load(s, setKey(k, i, 3)).Uint64(),
		})
	}
	return out
}

// LedgerEntry is one owner's credits in a reward epoch.
type LedgerEntry struct {
	Owner    common.Address
	Credits  uint64
	StakeWei *uint256.Int
}

// LedgerOf reads reward epoch k's credit ledger (empty once k is settled;
// validators' credits join it at settlement).
func LedgerOf(s native.StateReader, k uint64) []LedgerEntry {
	n := load(s, add(epochBase(k), epLedger)).Uint64()
	var out []LedgerEntry
	for i := uint64(0); i < n && i < maxLedger; i++ {
		out = append(out, LedgerEntry{
			Owner:    addrAt(s, ledgerKey(k, i, 0)),
			Credits:  load(s, ledgerKey(k, i, 1)).Uint64(),
			StakeWei: load(s, ledgerKey(k, i, 2)),
		})
	}
	return out
}

func addrAt(s native.StateReader, key common.Hash) common.Address {
	v := s.GetState(native.RewardsAddress, key)
	return common.BytesToAddress(v[:])
}

// StakePosition is an owner's position in one staking pool as stored.
type StakePosition struct {
	// PrevWeight is the weight before ChangeEpoch, Weight the weight from
	// ChangeEpoch on (until ExpiryEpoch when one is set).
	PrevWeight, Weight *uint256.Int
	ChangeEpoch        uint64
	Settled            uint64
	CreditScaled       *uint256.Int
	// ExpiryEpoch, when not 0, is the epoch the position's lock ends
	// (always after ChangeEpoch): from it on the position weighs
	// AfterWeight (stake × 1× in the staking pool, 0 in the long-term
	// pool). Settling past it folds AfterWeight into Weight.
	ExpiryEpoch uint64
	AfterWeight *uint256.Int
}

// WeightAt returns the position's weight in staking epoch e, for e at or
// after its Settled epoch (earlier epochs are folded into its credit).
func (p StakePosition) WeightAt(e uint64) *uint256.Int {
	switch {
	case e < p.ChangeEpoch:
		return p.PrevWeight.Clone()
	case p.ExpiryEpoch != 0 && e >= p.ExpiryEpoch:
		return p.AfterWeight.Clone()
	default:
		return p.Weight.Clone()
	}
}

// StakePositionOf reads owner's position in staking pool p.
func StakePositionOf(s native.StateReader, p uint64, owner common.Address) StakePosition {
	q := positionBase(p, owner)
	return StakePosition{
		PrevWeight:   load(s, add(q, posPrev)),
		Weight:       load(s, add(q, posWeight)),
		ChangeEpoch:  load(s, add(q, posChange)).Uint64(),
		Settled:      load(s, add(q, posSettled)).Uint64(),
		CreditScaled: load(s, add(q, posCredit)),
		ExpiryEpoch:  load(s, add(q, posExpiry)).Uint64(),
		AfterWeight:  load(s, add(q, posAfter)),
	}
}

// OwedScaled returns what owner's position in staking pool p is owed in
// state s, in wei × AccScale: its credit plus what it earned since it last
// settled. Per pool, Outstanding·AccScale == Σ OwedScaled + [DustScaled].
func OwedScaled(s native.StateReader, p uint64, owner common.Address) *uint256.Int {
	pos := StakePositionOf(s, p, owner)
	owed := owedScaled(s, p, pos, load(s, native.Slot(slotNextDistribute)).Uint64())
	return owed.Add(owed, pos.CreditScaled)
}

// DustScaled returns staking pool p's accumulator dust (Pool.DustScaled).
func DustScaled(s native.StateReader, p uint64) *uint256.Int {
	return load(s, add(poolBase(p), plDust))
}

// TotalWeight returns staking pool p's total weight: Σ weights effective
// in the last staking epoch distributed (the next one's total adds
// [WeightDelta] of that epoch).
func TotalWeight(s native.StateReader, p uint64) *uint256.Int {
	return load(s, add(poolBase(p), plTotalWeight))
}

// WeightDelta returns the weight pool p's total gains and loses at
// staking epoch e, scheduled by position changes and lock expiries and
// not yet applied (applied when e distributes, then cleared).
func WeightDelta(s native.StateReader, p, e uint64) (addW, subW *uint256.Int) {
	return load(s, deltaKey(p, e, false)), load(s, deltaKey(p, e, true))
}
