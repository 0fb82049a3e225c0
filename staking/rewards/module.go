package rewards

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Name is the module's name and its key in the genesis params section.
const Name = "rewards"

// Gas of each method and host API, counted as staking's are: the worst
// case under Cancun's EIP-2929/2200 pricing, every slot touched cold
// (2100), every write a fresh zero-to-non-zero SSTORE (20000) or a reset
// (2900), logs 375 + 375 per topic + 8 per data byte, transfers 9000.
const (
	// ClaimGas: 3 slots read (accrued[o], accruedTotal, nextDistribute)
	// + per staking pool 13 (accPerWeight, outstanding, the position's 7
	// fields, 4 accAt entries: settled, change, expiry, next) = 29 slots
	// 60,900 + 2 resets (accrued, accruedTotal) 5,800 + per pool 3 fresh
	// position writes (credit, settled, prev), 3 resets folding an ended
	// lock (weight, expiry, after) and an outstanding reset 71,600 × 2 =
	// 143,200 + transfer 9,000 + Claimed log (2 topics, 32 bytes) 1,381
	// = 220,281, rounded up; + the trade rewards: the owed total and 5
	// account slots (vested, two buckets' tag and amount) read 12,600
	// and reset 17,400: 250,300.
	ClaimGas = 250_300
	// RewardsOfGas: 2 slots (accrued[o], nextDistribute) + per pool 12
	// (accPerWeight, 7 position fields, 4 accAt entries) = 26 slots
	// 54,600 + 100 dispatch.
	RewardsOfGas = 54_700
	// PoolsGas: 6 slots 12,600 + 100 dispatch.
	PoolsGas = 12_700
	// EpochInfoGas: 1 slot (nodePool) 2,100 + 100 dispatch.
	EpochInfoGas = 2_200
	// PositionChangeGas is what the staking module adds to each method
	// that changes a position's amount or lock (it calls
	// [PositionChanged]): the rewards account's code size (cold account)
	// 2,600 + 3 module slots (epochLength, nextDistribute, budgets' check)
	// 6,300 + per pool 15 slots (7 position fields, 4 accAt entries,
	// accPerWeight, 3 delta fields: the old expiry's, the next epoch's,
	// the new expiry's) 31,500, 9 fresh writes (7 position fields, 2
	// delta fields) 180,000 and 1 reset (the old expiry's delta, taken
	// back) 2,900 = 428,800 for both pools; 437,700 in all. A change in
	// the first block of an epoch may also distribute the epoch before
	// (what BeginBlock would have done); that rare case is not charged.
	PositionChangeGas = 437_700
	// AddCreditsGas is what a module that calls [Module.AddCredits] must
	// add to its own method's gas: 3 staking slots (the owner's stake) +
	// 3 ledger slots read (index, length, credits) 12,600 + 5 fresh writes
	// (index, length, owner, credits, stake) 100,000 = 112,600.
	AddCreditsGas = 112_600
)

// Errors of the module's methods and host APIs.
var (
	// ErrNothingToClaim is claim()'s revert reason when nothing is owed
	// to the caller.
	ErrNothingToClaim = errors.New("rewards: nothing to claim")
	// ErrNotModule is returned by the host APIs when the call they are
	// given is not a call of the module allowed to use them.
	ErrNotModule = errors.New("rewards: host API is only open to other chain-native modules")
	// ErrBadCredits is returned by AddCredits for zero credits or more
	// than 2^48.
	ErrBadCredits = errors.New("rewards: credits must be between 1 and 2^48")
	// ErrLedgerFull is returned by AddCredits when the epoch's ledger
	// holds maxLedger owners.
	ErrLedgerFull = errors.New("rewards: epoch credit ledger full")
)

// Bounds of the per-epoch records.
const (
	// maxSet bounds the validator set recorded per epoch.
	maxSet = 1 << 16
	// maxLedger bounds the owners with credits per epoch.
	maxLedger = 1 << 16
	// maxCreditsPerEpoch bounds an owner's credits in one epoch (far
	// above any role's, so the sum never nears uint64).
	maxCreditsPerEpoch = 1 << 48
)

// Module-wide slots written at genesis (besides the pools).
const (
	slotStakingBudget = 13 // + pool index: per-epoch budget of each staking pool
	slotLastCounted   = 15 // the last block whose parent seals were counted
	slotEpochLength   = 16 // the genesis epoch length
)

// StakeReader is what the module reads of the staking module: who owns a
// signer key and an owner's stake effective at an epoch (staking provides
// it as staking.RewardsView; the seam keeps this package free of an import
// cycle with staking, which imports it).
type StakeReader interface {
	SignerOwner(s native.StateReader, signer common.Address) (common.Address, bool)
	EffectiveStake(s native.StateReader, owner common.Address, epoch uint64) (*uint256.Int, error)
}

// Module is the rewards module at native.RewardsAddress.
type Module struct {
	params ModuleParams
	sched  *Schedule
	abi    *abi.ABI
	stakes StakeReader
	// genesis are the staking positions weighed from epoch 0 (Factory).
	genesis []GenesisPosition
}

var (
	_ native.Module       = (*Module)(nil)
	_ native.BlockHooks   = (*Module)(nil)
	_ native.GenesisState = (*Module)(nil)
)

// Factory returns the module's native.Factory for a chain whose genesis
// epoch length is epochLength (0: DefaultEpochLength), reading stakes
// through stakes.
//
// genesis lists the staking positions that exist at genesis (the staking
// module's genesis stakes): they weigh in the staking pools from epoch 0,
// as if staked before the chain began.
func Factory(epochLength uint64, stakes StakeReader, genesis ...GenesisPosition) native.Factory {
	if epochLength == 0 {
		epochLength = DefaultEpochLength
	}
	return func(raw json.RawMessage) (native.Module, error) {
		p, err := ParseModuleParams(raw, epochLength)
		if err != nil {
			return nil, err
		}
		m, err := NewModule(p, stakes)
		if err != nil {
			return nil, err
		}
		lp := DefaultLockParams()
		seen := make(map[common.Address]bool, len(genesis))
		for _, g := range genesis {
			if g.StakeWei == nil {
				return nil, fmt.Errorf("%w: rewards: genesis position of %s has no stake", native.ErrBadParams, g.Owner)
			}
			if seen[g.Owner] {
				return nil, fmt.Errorf("%w: rewards: genesis position of %s listed twice", native.ErrBadParams, g.Owner)
			}
			seen[g.Owner] = true
			if _, err := positionWeights(lp, g.Owner, g.StakeWei, g.Lock); err != nil {
				return nil, fmt.Errorf("%w: rewards: genesis position of %s: %w", native.ErrBadParams, g.Owner, err)
			}
		}
		m.genesis = append([]GenesisPosition(nil), genesis...)
		return m, nil
	}
}

// GenesisPosition is a staking position that exists at genesis.
type GenesisPosition struct {
	Owner    common.Address
	StakeWei *uint256.Int
	Lock     Lock
	// UnlockEpoch is the epoch the lock ends (the staking module's lock
	// length in epochs, counted from epoch 0): from it on the position
	// weighs without the lock. 0 with a lock: the lock weighs nothing.
	UnlockEpoch uint64
}

// NewModule returns the module with validated params.
func NewModule(p ModuleParams, stakes StakeReader) (*Module, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if stakes == nil {
		return nil, fmt.Errorf("%w: rewards: no stake reader", native.ErrBadParams)
	}
	sched, err := NewSchedule(p.Emission)
	if err != nil {
		return nil, fmt.Errorf("%w: rewards: %w", native.ErrBadParams, err)
	}
	parsed, err := moduleABI()
	if err != nil {
		return nil, err
	}
	return &Module{params: p.clone(), sched: sched, abi: parsed, stakes: stakes}, nil
}

var moduleABI = sync.OnceValues(func() (*abi.ABI, error) {
	parsed, err := abi.JSON(strings.NewReader(abiJSON))
	if err != nil {
		return nil, fmt.Errorf("%w: rewards: %w", native.ErrBadABI, err)
	}
	return &parsed, nil
})

// Name implements native.Module.
func (m *Module) Name() string { return Name }

// Address implements native.Module.
func (m *Module) Address() common.Address { return native.RewardsAddress }

// ABI implements native.Module.
func (m *Module) ABI() string { return abiJSON }

// Params returns the module's params.
func (m *Module) Params() ModuleParams { return m.params.clone() }

// Schedule returns the node-reward emission schedule.
func (m *Module) Schedule() *Schedule { return m.sched }

// Methods implements native.Module.
func (m *Module) Methods() []native.Method {
	return []native.Method{
		{Name: "claim", Gas: ClaimGas, Mutates: true, Handler: m.claim},
		{Name: "rewardsOf", Gas: RewardsOfGas, Handler: m.rewardsOf},
		{Name: "pools", Gas: PoolsGas, Handler: m.pools},
		{Name: "epochInfo", Gas: EpochInfoGas, Handler: m.epochInfo},
		{Name: "tradeRewardsOf", Gas: TradeRewardsOfGas, Handler: m.tradeRewardsOf},
	}
}

// GenesisState implements native.GenesisState: the balance is the sum of
// the four pools, the storage the pool slots, the staking budgets and the
// epoch length.
func (m *Module) GenesisState() (*uint256.Int, map[common.Hash]common.Hash) {
	st := map[common.Hash]common.Hash{}
	putKey := func(k common.Hash, v *uint256.Int) {
		if !v.IsZero() {
			st[k] = v.Bytes32()
		}
	}
	put := func(slot uint64, v *uint256.Int) { putKey(native.Slot(slot), v) }
	put(slotNodePool, m.params.NodeRewardsWei)
	put(slotTradePool, m.params.TradeRewardsWei)
	put(slotStakingPool+PoolStaking, m.params.StakingWei)
	put(slotStakingPool+PoolLongTerm, m.params.LongTermStakingWei)
	put(slotStakingBudget+PoolStaking, m.params.StakingEpochWei)
	put(slotStakingBudget+PoolLongTerm, m.params.LongTermEpochWei)
	put(slotEpochLength, uint256.NewInt(m.params.EpochLength))
	// Genesis positions weigh from epoch 0: weight and prev both set,
	// change epoch and settled epoch 0, the pool totals their sum; a lock
	// schedules its end (expiry, after-weight and the pool's delta there)
	// as a change would.
	lp := DefaultLockParams()
	totals := [numPools]*uint256.Int{}
	drops := map[common.Hash]*uint256.Int{}
	for p := range totals {
		totals[p] = new(uint256.Int)
	}
	for _, g := range m.genesis {
		weights, _ := positionWeights(lp, g.Owner, g.StakeWei, g.Lock) // checked by Factory
		for p := uint64(0); p < numPools; p++ {
			sc := scheduleOf(weights[p], 0, g.UnlockEpoch)
			if sc.weight.IsZero() {
				continue
			}
			q := positionBase(p, g.Owner) // owners are unique (Factory)
			st[add(q, posWeight)] = sc.weight.Bytes32()
			st[add(q, posPrev)] = sc.weight.Bytes32()
			totals[p].Add(totals[p], sc.weight)
			if sc.expiry == 0 {
				continue
			}
			putKey(add(q, posExpiry), uint256.NewInt(sc.expiry))
			putKey(add(q, posAfter), sc.after)
			k, diff := deltaKey(p, sc.expiry, true), new(uint256.Int)
			if sc.after.Gt(sc.weight) {
				k = deltaKey(p, sc.expiry, false)
				diff.Sub(sc.after, sc.weight)
			} else {
				diff.Sub(sc.weight, sc.after)
			}
			if drops[k] == nil {
				drops[k] = new(uint256.Int)
			}
			drops[k].Add(drops[k], diff)
		}
	}
	for k, v := range drops {
		putKey(k, v)
	}
	for p := uint64(0); p < numPools; p++ {
		if !totals[p].IsZero() {
			st[add(poolBase(p), plTotalWeight)] = totals[p].Bytes32()
		}
	}
	return m.params.GenesisBalanceWei(), st
}

// RewardEpoch returns the reward epoch of block number: blocks kL+1 …
// (k+1)L form reward epoch k (block 0, genesis, is counted in epoch 0).
func RewardEpoch(number, epochLength uint64) uint64 {
	if number == 0 || epochLength == 0 {
		return 0
	}
	return (number - 1) / epochLength
}

// BeginBlock implements native.BlockHooks. In order: it counts the parent
// block's certificate for the parent's reward epoch; at the first block of
// reward epoch k+1 it settles epoch k; at the first block of reward epoch
// k it records epoch k's validator set; at the first block of staking
// epoch e it distributes staking epoch e−1's budgets.
func (m *Module) BeginBlock(c *native.Call, env *native.BlockEnv) error {
	n, L := env.Number, m.params.EpochLength
	if n == 0 {
		return nil
	}
	if err := m.countParent(c, env); err != nil {
		return err
	}
	if (n-1)%L == 0 {
		k := (n - 1) / L
		if k >= 1 {
			if err := m.settle(c, k-1); err != nil {
				return err
			}
		}
		if err := m.recordSet(c, k, env.Validators); err != nil {
			return err
		}
	}
	return distributeUpTo(c, n/L)
}

// EndBlock implements native.BlockHooks; the module has nothing to do
// there.
func (m *Module) EndBlock(*native.Call, *native.BlockEnv) error { return nil }

// countParent counts block n−1's certificate (its seals arrive in block
// n's header) once per block: a replayed call for a block already counted
// does nothing.
func (m *Module) countParent(c *native.Call, env *native.BlockEnv) error {
	n := env.Number
	if n < 2 || n <= c.LoadUint(native.Slot(slotLastCounted)).Uint64() {
		return nil
	}
	c.StoreUint(native.Slot(slotLastCounted), uint256.NewInt(n))
	k := RewardEpoch(n-1, m.params.EpochLength)
	base := epochBase(k)
	certs := c.LoadUint(add(base, epCerts))
	c.StoreUint(add(base, epCerts), certs.AddUint64(certs, 1))
	seen := make(map[common.Address]bool, len(env.ParentSigners))
	for _, s := range env.ParentSigners {
		if seen[s] {
			continue
		}
		seen[s] = true
		i := c.LoadUint(setIndexKey(k, s)).Uint64()
		if i == 0 {
			continue // not in the epoch's recorded set: earns nothing
		}
		key := setKey(k, i-1, 3)
		v := c.LoadUint(key)
		c.StoreUint(key, v.AddUint64(v, 1))
	}
	return nil
}

// recordSet records reward epoch k's validator set with each signer's
// owner and role stake effective at staking epoch k, once.
func (m *Module) recordSet(c *native.Call, k uint64, validators []common.Address) error {
	lenKey := add(epochBase(k), epSet)
	if !c.LoadUint(lenKey).IsZero() || k < c.LoadUint(native.Slot(slotNextSettle)).Uint64() {
		return nil // already recorded, or already settled (a replay)
	}
	var n uint64
	for _, s := range validators {
		if n >= maxSet {
			return fmt.Errorf("%w: rewards: validator set above %d", native.ErrInternal, maxSet)
		}
		if !c.LoadUint(setIndexKey(k, s)).IsZero() {
			continue // listed twice
		}
		owner := s
		if o, ok := m.stakes.SignerOwner(c.State, s); ok {
			owner = o
		}
		stake, err := m.stakes.EffectiveStake(c.State, owner, k)
		if err != nil {
			// Cannot happen at the epoch's first block (the stake of
			// epoch k is always known then); an unknown stake earns
			// nothing rather than stopping the chain.
			stake = new(uint256.Int)
		}
		c.Store(setKey(k, n, 0), native.AddressKey(s))
		c.Store(setKey(k, n, 1), native.AddressKey(owner))
		c.StoreUint(setKey(k, n, 2), stake)
		c.StoreUint(setIndexKey(k, s), uint256.NewInt(n+1))
		n++
	}
	c.StoreUint(lenKey, uint256.NewInt(n))
	return nil
}

// ledgerAdd adds credits to owner's entry in reward epoch k's ledger,
// recording stakeWei when the owner is new to it.
func ledgerAdd(c *native.Call, k uint64, owner common.Address, credits uint64, stakeWei *uint256.Int) error {
	if credits == 0 {
		return ErrBadCredits
	}
	i := c.LoadUint(ledgerIndexKey(k, owner)).Uint64()
	if i == 0 {
		lenKey := add(epochBase(k), epLedger)
		n := c.LoadUint(lenKey).Uint64()
		if n >= maxLedger {
			return fmt.Errorf("%w: %d owners in epoch %d", ErrLedgerFull, n, k)
		}
		c.Store(ledgerKey(k, n, 0), native.AddressKey(owner))
		c.StoreUint(ledgerKey(k, n, 2), stakeWei)
		c.StoreUint(ledgerIndexKey(k, owner), uint256.NewInt(n+1))
		c.StoreUint(lenKey, uint256.NewInt(n+1))
		i = n + 1
	}
	key := ledgerKey(k, i-1, 1)
	sum := c.LoadUint(key).Uint64() + credits // both below 2^48: no overflow
	if sum > maxCreditsPerEpoch {
		sum = maxCreditsPerEpoch
	}
	c.StoreUint(key, uint256.NewInt(sum))
	return nil
}

// AddCredits is the module's host API for other chain-native modules
// (router, jobs): it adds credits to owner's proof-of-work credits of the
// current reward epoch, the ledger validators' credits join at
// settlement. The owner's stake in the share E·s is its stake effective at
// the epoch (read when the owner first gets credits in it). c is the
// calling module's Call; that module must add AddCreditsGas to its
// method's gas. Credits are capped at 2^48 per owner and epoch.
func (m *Module) AddCredits(c *native.Call, owner common.Address, credits uint64) error {
	if c == nil || c.Module == native.RewardsAddress || !native.IsReserved(c.Module) {
		return ErrNotModule
	}
	if credits == 0 || credits > maxCreditsPerEpoch {
		return fmt.Errorf("%w: %d credits", ErrBadCredits, credits)
	}
	h := c.Host(native.RewardsAddress, m.abi)
	k := RewardEpoch(c.BlockNumber, m.params.EpochLength)
	stake, err := m.stakes.EffectiveStake(c.State, owner, k)
	if err != nil {
		// The owner changed its stake earlier in this block, the last of
		// the reward epoch and the first of the next staking epoch: take
		// its stake effective now.
		if stake, err = m.stakes.EffectiveStake(c.State, owner, c.BlockNumber/m.params.EpochLength); err != nil {
			return fmt.Errorf("rewards: stake of %s: %w", owner, err)
		}
	}
	return ledgerAdd(h, k, owner, credits, stake)
}

// settle settles reward epoch k's node reward once: epochs before
// nextSettle are done (a replayed call does nothing); epochs skipped over
// were never counted and pay nothing (their emission stays in the pool).
func (m *Module) settle(c *native.Call, k uint64) error {
	next := c.LoadUint(native.Slot(slotNextSettle)).Uint64()
	if k < next {
		return nil
	}
	c.StoreUint(native.Slot(slotNextSettle), uint256.NewInt(k+1))

	// Validators with seals in ≥ 2/3 of the certificates earn credits.
	counts := CountsOf(c.State, k)
	for _, v := range counts.Set {
		earns, err := ValidatorEarnsCredits(v.Seals, counts.Certs)
		if err != nil {
			return fmt.Errorf("%w: rewards: epoch %d: %w", native.ErrInternal, k, err)
		}
		if earns && m.params.Credits.ValidatorCredits > 0 {
			if err := ledgerAdd(c, k, v.Owner, m.params.Credits.ValidatorCredits, v.StakeWei); err != nil {
				return err
			}
		}
	}
	ledger := LedgerOf(c.State, k)
	work := make([]NodeWork, len(ledger))
	for i, e := range ledger {
		work[i] = NodeWork{Node: e.Owner, Credits: e.Credits, StakeWei: e.StakeWei.ToBig()}
	}

	pool := c.LoadUint(native.Slot(slotNodePool))
	paidSoFar := new(big.Int).Sub(m.params.Emission.PoolWei, pool.ToBig())
	if paidSoFar.Sign() < 0 {
		return fmt.Errorf("%w: rewards: node pool %s above its genesis size", native.ErrInternal, pool)
	}
	emission, err := m.sched.EpochEmission(k, paidSoFar)
	if err != nil {
		return fmt.Errorf("%w: rewards: %w", native.ErrInternal, err)
	}
	em := uint256.MustFromBig(emission) // ≤ pool
	reward := new(uint256.Int).Add(em, c.LoadUint(native.Slot(slotNodeDust)))
	res, err := DistributeNodeRewards(reward.ToBig(), work)
	if err != nil {
		return fmt.Errorf("%w: rewards: epoch %d: %w", native.ErrInternal, k, err)
	}
	accruedTotal := c.LoadUint(native.Slot(slotAccruedTotal))
	for _, s := range res.Shares {
		amt := uint256.MustFromBig(s.AmountWei) // ≤ reward
		if amt.IsZero() {
			continue
		}
		cur := c.LoadUint(accruedKey(s.Node))
		c.StoreUint(accruedKey(s.Node), cur.Add(cur, amt))
		accruedTotal.Add(accruedTotal, amt)
	}
	pool.Sub(pool, em)
	pool.Add(pool, uint256.MustFromBig(res.UnpaidWei))
	c.StoreUint(native.Slot(slotNodePool), pool)
	c.StoreUint(native.Slot(slotNodeDust), uint256.MustFromBig(res.DustWei))
	c.StoreUint(native.Slot(slotAccruedTotal), accruedTotal)
	c.StoreUint(native.Slot(slotLastSettled), uint256.NewInt(k+1))
	c.StoreUint(native.Slot(slotLastNodeReward), reward)
	clearEpoch(c, k, counts, ledger)
	return nil
}

// clearEpoch deletes every slot of reward epoch k.
func clearEpoch(c *native.Call, k uint64, counts EpochCounts, ledger []LedgerEntry) {
	zero := common.Hash{}
	base := epochBase(k)
	for i, v := range counts.Set {
		for f := uint64(0); f < setFields; f++ {
			c.Store(setKey(k, uint64(i), f), zero)
		}
		c.Store(setIndexKey(k, v.Signer), zero)
	}
	for i, e := range ledger {
		for f := uint64(0); f < ledgerFields; f++ {
			c.Store(ledgerKey(k, uint64(i), f), zero)
		}
		c.Store(ledgerIndexKey(k, e.Owner), zero)
	}
	c.Store(add(base, epCerts), zero)
	c.Store(add(base, epSet), zero)
	c.Store(add(base, epLedger), zero)
}

// Rewards is what an owner can claim now.
type Rewards struct {
	NodeWei, StakingWei, LongTermWei, TotalWei *uint256.Int
}

// RewardsOf returns what owner can claim in state s: node rewards accrued
// plus the whole wei its two staking positions are owed.
func RewardsOf(s native.StateReader, owner common.Address) Rewards {
	r := Rewards{NodeWei: NodeAccrued(s, owner), TotalWei: new(uint256.Int)}
	for p := uint64(0); p < numPools; p++ {
		owed := OwedScaled(s, p, owner)
		w := owed.Div(owed, accScaleU()) // round down
		if p == PoolStaking {
			r.StakingWei = w
		} else {
			r.LongTermWei = w
		}
	}
	r.TotalWei.Add(r.NodeWei, r.StakingWei)
	r.TotalWei.Add(r.TotalWei, r.LongTermWei)
	return r
}

func (m *Module) claim(c *native.Call, _ []any) ([]any, error) {
	o := c.Caller
	if err := distributeUpTo(c, c.BlockNumber/m.params.EpochLength); err != nil {
		return nil, err
	}
	total := c.LoadUint(accruedKey(o))
	if !total.IsZero() {
		at := c.LoadUint(native.Slot(slotAccruedTotal))
		if at.Lt(total) {
			return nil, fmt.Errorf("%w: rewards: accrued total below an owner's", native.ErrInternal)
		}
		c.StoreUint(native.Slot(slotAccruedTotal), at.Sub(at, total))
		c.Store(accruedKey(o), common.Hash{})
	}
	if trade := takeVested(c, o, RewardEpoch(c.BlockNumber, m.params.EpochLength)); !trade.IsZero() {
		owed := c.LoadUint(native.Slot(slotTradeOwed))
		if owed.Lt(trade) {
			return nil, fmt.Errorf("%w: rewards: trade owed %s below a claim of %s", native.ErrInternal, owed, trade)
		}
		c.StoreUint(native.Slot(slotTradeOwed), owed.Sub(owed, trade))
		total.Add(total, trade)
	}
	scale := accScaleU()
	for p := uint64(0); p < numPools; p++ {
		pos := settlePosition(c, p, o)
		paid, rest := new(uint256.Int).DivMod(pos.CreditScaled, scale, new(uint256.Int)) // round down
		if paid.IsZero() {
			continue
		}
		c.StoreUint(add(positionBase(p, o), posCredit), rest)
		out := Outstanding(c.State, p)
		if out.Lt(paid) {
			return nil, fmt.Errorf("%w: rewards: pool %d outstanding %s below a claim of %s", native.ErrInternal, p, out, paid)
		}
		c.StoreUint(add(poolBase(p), plOutstanding), out.Sub(out, paid))
		total.Add(total, paid)
	}
	if total.IsZero() {
		return nil, fmt.Errorf("%w: %s", ErrNothingToClaim, o)
	}
	if err := c.Pay(o, total); err != nil {
		return nil, err
	}
	return []any{total.ToBig()}, c.Emit("Claimed", o, total.ToBig())
}

func (m *Module) rewardsOf(c *native.Call, args []any) ([]any, error) {
	a, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: owner is %T", native.ErrBadInput, args[0])
	}
	r := RewardsOf(c.State, a)
	return []any{r.NodeWei.ToBig(), r.StakingWei.ToBig(), r.LongTermWei.ToBig(), r.TotalWei.ToBig()}, nil
}

func (m *Module) pools(c *native.Call, _ []any) ([]any, error) {
	p := PoolsOf(c.State)
	return []any{p.NodeWei.ToBig(), p.NodeDustWei.ToBig(), p.TradeWei.ToBig(), p.StakingWei.ToBig(), p.LongTermWei.ToBig(), AccruedTotal(c.State).ToBig()}, nil
}

// EpochInfo describes the reward epoch of a block.
type EpochInfo struct {
	Epoch, FirstBlock, LastBlock uint64
	// Period is the emission period the epoch falls in (from 1).
	Period uint64
	// EpochRewardWei is the node reward the epoch emits by the schedule
	// given the pool left in s (the carried dust is added at settlement).
	EpochRewardWei *uint256.Int
}

// EpochInfo returns the reward epoch of block number in state s.
func (m *Module) EpochInfo(s native.StateReader, number uint64) (EpochInfo, error) {
	L := m.params.EpochLength
	k := RewardEpoch(number, L)
	pool := load(s, native.Slot(slotNodePool))
	paid := new(big.Int).Sub(m.params.Emission.PoolWei, pool.ToBig())
	if paid.Sign() < 0 {
		paid.SetInt64(0)
	}
	r, err := m.sched.EpochEmission(k, paid)
	if err != nil {
		return EpochInfo{}, err
	}
	return EpochInfo{
		Epoch: k, FirstBlock: k*L + 1, LastBlock: (k + 1) * L,
		Period:         m.sched.PeriodOf(k).N,
		EpochRewardWei: uint256.MustFromBig(r),
	}, nil
}

func (m *Module) epochInfo(c *native.Call, _ []any) ([]any, error) {
	info, err := m.EpochInfo(c.State, c.BlockNumber)
	if err != nil {
		return nil, err
	}
	return []any{info.Epoch, info.FirstBlock, info.LastBlock, info.Period, info.EpochRewardWei.ToBig()}, nil
}

// Balances is the two sides of the module's money invariant.
type Balances struct {
	// BalanceWei is the module account's balance.
	BalanceWei *uint256.Int
	// AccountedWei is Σ pools + node dust + Σ accrued node rewards + Σ
	// staking pools' outstanding (distributed, not yet claimed) + Σ trade
	// rewards owed (vested or vesting, not yet claimed).
	AccountedWei *uint256.Int
}

// CheckBalances returns both sides of the invariant BalanceWei ==
// AccountedWei, which holds after every block and transaction (funds
// forced in by SELFDESTRUCT can only raise BalanceWei).
func CheckBalances(s native.StateReader) Balances {
	p := PoolsOf(s)
	acc := new(uint256.Int)
	for _, v := range []*uint256.Int{p.NodeWei, p.NodeDustWei, p.TradeWei, p.StakingWei, p.LongTermWei,
		AccruedTotal(s), Outstanding(s, PoolStaking), Outstanding(s, PoolLongTerm), TradeOwedTotal(s)} {
		acc.Add(acc, v)
	}
	return Balances{BalanceWei: s.GetBalance(native.RewardsAddress).Clone(), AccountedWei: acc}
}
