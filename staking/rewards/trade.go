package rewards

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

// Trade rewards (white paper, "Trade mining"): the network takes a 20 %
// fee on every compute trade (the jobs module burns it) and pays both
// sides back part of it from the trade pool:
//
//	T  = ⌊ F · R(n) / R(1) ⌋                                  (round down)
//	Ru = ⌊ T · (n+1)^n · piDen / (n^n · piNum) ⌋ = ⌊T·df(n)⌋  (round down), to the user
//	Rp = T − Ru                                               to the provider
//
// with F the fee burned for the job, n the emission period of the reward
// epoch the job settled in and P(n) = R(n)/R(1) (our choice of the white
// paper's decay: the trade reward decays at the same relative rate as the
// node-reward emission, 100 % in period 1, 71.6 % in period 2, … → 0; the
// part F − T stays burned). So Ru + Rp = T ≤ F: no trade is ever paid more
// than the fee it burned. Then the caps clip, in this order (each clip
// takes from the user's share first, then the provider's): per account and
// epoch (both roles together), per (user, provider) pair and epoch, per
// epoch for the whole chain, and what is left of the pool. Rewards vest:
// see [TradeParams.VestingEpochs]; a slash forfeits what has not vested.

// TradeParams are the trade-reward params, the "trade" entry of the
// rewards params:
//
//	"trade": {"vestingEpochs": 7, "accountEpochCapWei": "2000000000000000000000",
//	          "pairEpochCapWei": "500000000000000000000", "epochCapWei": "100000000000000000000000"}
type TradeParams struct {
	// VestingEpochs V: a reward earned in reward epoch k vests at epoch
	// (⌊k/V⌋ + 2)·V, between V+1 and 2V epochs later. Grouping by
	// windows of V epochs keeps at most two unvested buckets per account,
	// so every operation is O(1).
	VestingEpochs uint64
	// AccountEpochCapWei caps what one account earns in one reward epoch,
	// as user and provider together.
	AccountEpochCapWei *uint256.Int
	// PairEpochCapWei caps what one (user, provider) pair earns in one
	// reward epoch, both sides together.
	PairEpochCapWei *uint256.Int
	// EpochCapWei caps what the trade pool pays in one reward epoch.
	EpochCapWei *uint256.Int
}

// Defaults of TradeParams.
const (
	DefaultTradeVestingEpochs = 7
	maxTradeVestingEpochs     = 1 << 20
)

// DefaultTradeParams returns the defaults: vesting over a week of daily
// epochs; 2,000 EMC per account, 500 EMC per pair and 100,000 EMC in all
// per epoch (the 200M pool lasts at least 2,000 epochs).
func DefaultTradeParams() TradeParams {
	return TradeParams{
		VestingEpochs:      DefaultTradeVestingEpochs,
		AccountEpochCapWei: uint256.MustFromBig(EMC(2_000)),
		PairEpochCapWei:    uint256.MustFromBig(EMC(500)),
		EpochCapWei:        uint256.MustFromBig(EMC(100_000)),
	}
}

// Validate checks p's ranges; errors wrap ErrBadParams.
func (p TradeParams) Validate() error {
	if p.VestingEpochs == 0 || p.VestingEpochs > maxTradeVestingEpochs {
		return fmt.Errorf("%w: trade: vestingEpochs must be in [1, 2^20], got %d", ErrBadParams, p.VestingEpochs)
	}
	for _, f := range []struct {
		name string
		v    *uint256.Int
	}{{"accountEpochCapWei", p.AccountEpochCapWei}, {"pairEpochCapWei", p.PairEpochCapWei}, {"epochCapWei", p.EpochCapWei}} {
		if f.v == nil || f.v.BitLen() > maxPoolBits {
			return fmt.Errorf("%w: trade: %s missing or not below 2^%d", ErrBadParams, f.name, maxPoolBits)
		}
	}
	return nil
}

func (p TradeParams) clone() TradeParams {
	q := p
	for _, v := range []**uint256.Int{&q.AccountEpochCapWei, &q.PairEpochCapWei, &q.EpochCapWei} {
		if *v != nil {
			*v = (*v).Clone()
		}
	}
	return q
}

// VestEpoch is the epoch a trade reward earned in reward epoch k vests at:
// (⌊k/V⌋ + 2)·V.
func (p TradeParams) VestEpoch(k uint64) uint64 {
	return (k/p.VestingEpochs + 2) * p.VestingEpochs
}

// TradeReward returns the trade reward of a fee of feeWei burned in reward
// epoch: the user's Ru and the provider's Rp before any cap (see the
// formulas above; Ru + Rp ≤ feeWei). Zero past the end of the emission
// table and for a nil or non-positive fee.
func (s *Schedule) TradeReward(feeWei *big.Int, epoch uint64) (userWei, providerWei *big.Int) {
	userWei, providerWei = new(big.Int), new(big.Int)
	if feeWei == nil || feeWei.Sign() <= 0 {
		return userWei, providerWei
	}
	n := s.PeriodOf(epoch).N
	rn := s.PeriodReward(n)
	if rn.Sign() == 0 {
		return userWei, providerWei
	}
	t := new(big.Int).Mul(feeWei, rn)
	t.Quo(t, s.params.FirstPeriodRewardWei) // round down; R(n) ≤ R(1), so t ≤ fee
	bn := new(big.Int).SetUint64(n)
	num := new(big.Int).Exp(new(big.Int).Add(bn, big.NewInt(1)), bn, nil) // (n+1)^n
	num.Mul(num, new(big.Int).SetUint64(s.params.PiDenominator))
	den := new(big.Int).Exp(bn, bn, nil) // n^n
	den.Mul(den, new(big.Int).SetUint64(s.params.PiNumerator))
	userWei.Mul(t, num).Quo(userWei, den) // round down; df(n) < 1 (π ≥ 3 > e)
	providerWei.Sub(t, userWei)
	return userWei, providerWei
}

// Gas of the trade host APIs, counted as the module's methods are (every
// slot cold, every write fresh). A module that calls one adds it to the
// gas of its own method (or of the method that schedules the hook that
// calls it).
const (
	// RewardTradeGas: the rewards account's code size 2,600; 16 slots
	// 33,600 (trade pool, owed total, epoch tag and paid; per side the
	// account's cap tag and earned, its vested and its bucket's tag and
	// amount; the pair's tag and earned); 16 fresh writes 320,000 (the
	// same slots); TradeRewarded log (3 topics, 96 bytes) 2,268: 358,468,
	// rounded up.
	RewardTradeGas = 358_500
	// RouterCreditGas: code size 2,600, the router's tag 2,100, one
	// write 20,000, plus AddCreditsGas.
	RouterCreditGas = 24_700 + AddCreditsGas
	// ComputeCreditGas: code size 2,600, the node's tag and count 4,200,
	// two writes 40,000, plus AddCreditsGas.
	ComputeCreditGas = 46_800 + AddCreditsGas
	// ForfeitComputeGas: code size 2,600, the node's tag and count 4,200,
	// two writes 40,000, the ledger index and credits 4,200 and the
	// credits rewritten 5,000.
	ForfeitComputeGas = 56_000
	// ForfeitRouterGas: code size 2,600, the router's tag 2,100 and its
	// rewrite 20,000, the ledger index and credits 4,200 and the credits
	// rewritten 5,000.
	ForfeitRouterGas = 33_900
	// ForfeitTradeGas is what the staking module adds to a slash: code
	// size 2,600; epoch length, pool, owed total, the two buckets' tag
	// and amount and vested (8 slots) 16,800; writes: the four bucket
	// slots cleared and pool and owed total reset (6 × 2,900) 17,400,
	// vested one fresh write 20,000 (a vested bucket moves there);
	// TradeForfeited log (2 topics, 32 bytes) 1,381: 58,181, rounded up.
	ForfeitTradeGas = 58_200
	// TradeRewardsOfGas: epoch length and 5 account slots 12,600 + 100.
	TradeRewardsOfGas = 12_700
)

// Storage of the trade rewards (slots of the module account):
//
//	slot 17  tradeOwedTotalWei  uint256: Σ trade rewards vested or vesting, not claimed
//	slot 18  tradeEpochTag      uint256: 1 + the reward epoch tradeEpochPaid counts
//	slot 19  tradeEpochPaidWei  uint256: paid from the trade pool in that epoch
//	keccak256(pad32(a) ‖ pad32(20)) = A, account a:
//	  A+0 vestedWei   claimable
//	  A+1 bucket0 vestEpoch+1, A+2 bucket0 amount   (windows ⌊k/V⌋ even)
//	  A+3 bucket1 vestEpoch+1, A+4 bucket1 amount   (windows odd)
//	  A+5 capTag (1 + epoch), A+6 capEarnedWei      the account cap's count
//	  A+7 routerTag   1 + the last epoch the account earned router credits (bit 63: forfeited)
//	  A+8 computeTag  1 + the epoch of computeCredits, A+9 computeCredits
//	keccak256(keccak256(u ‖ p) ‖ pad32(21)) = P, pair (u, p):
//	  P+0 tag (1 + epoch), P+1 earnedWei
//
// Tags make every per-epoch count one overwritten slot: storage grows with
// accounts and pairs, not with epochs.
const (
	slotTradeOwed      = 17
	slotTradeEpochTag  = 18
	slotTradeEpochPaid = 19
	slotTradeAccounts  = 20
	slotTradePairs     = 21

	taVested      = 0
	taBucket      = 1 // + 2·i: vest tag, + 2·i + 1: amount
	taCapTag      = 5
	taCapEarned   = 6
	taRouterTag   = 7
	taComputeTag  = 8
	taComputeSeen = 9
)

func tradeAccountBase(a common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotTradeAccounts), native.AddressKey(a))
}

func tradePairBase(user, provider common.Address) common.Hash {
	k := crypto.Keccak256Hash(user[:], provider[:])
	return native.MapSlot(native.Slot(slotTradePairs), k)
}

// TradeAward is what one trade earned after the caps.
type TradeAward struct {
	// UserWei and ProviderWei are the rewards credited (vesting).
	UserWei, ProviderWei *uint256.Int
	// UncappedUserWei and UncappedProviderWei are Ru and Rp before caps.
	UncappedUserWei, UncappedProviderWei *uint256.Int
	// VestEpoch is when they vest.
	VestEpoch uint64
}

// Total is UserWei + ProviderWei.
func (a TradeAward) Total() *uint256.Int { return new(uint256.Int).Add(a.UserWei, a.ProviderWei) }

// RewardTrade is the host API the jobs module calls when a job settles
// without dispute: user (the submitter) and provider (the node's owner)
// earn the trade reward of feeWei, the fee burned for the job, in the
// current reward epoch, after the caps and within the pool. A trade
// between an account and itself earns nothing (self-dealing);
// so does one on a chain without the rewards module. c is the calling
// module's Call; that module pays RewardTradeGas. Emits
// TradeRewarded(user, provider, userWei, providerWei, vestEpoch) when
// anything is credited.
func (m *Module) RewardTrade(c *native.Call, user, provider common.Address, feeWei *uint256.Int) (TradeAward, error) {
	zero := TradeAward{UserWei: new(uint256.Int), ProviderWei: new(uint256.Int), UncappedUserWei: new(uint256.Int), UncappedProviderWei: new(uint256.Int)}
	if c == nil || c.Module == native.RewardsAddress || !native.IsReserved(c.Module) {
		return zero, ErrNotModule
	}
	if c.State.GetCodeSize(native.RewardsAddress) == 0 || user == provider || feeWei == nil || feeWei.IsZero() {
		return zero, nil
	}
	tp := m.params.Trade
	k := RewardEpoch(c.BlockNumber, m.params.EpochLength)
	ruBig, rpBig := m.sched.TradeReward(feeWei.ToBig(), k)
	ru, rp := uint256.MustFromBig(ruBig), uint256.MustFromBig(rpBig) // ≤ fee
	a := zero
	a.UncappedUserWei, a.UncappedProviderWei, a.VestEpoch = ru.Clone(), rp.Clone(), tp.VestEpoch(k)
	if ru.IsZero() && rp.IsZero() {
		return a, nil
	}
	h := c.Host(native.RewardsAddress, m.abi)
	tag := uint256.NewInt(k + 1)

	// Each clip: the user's share first, then the provider's.
	clip := func(room *uint256.Int) {
		if ru.Gt(room) {
			ru.Set(room)
		}
		left := new(uint256.Int).Sub(room, ru)
		if rp.Gt(left) {
			rp.Set(left)
		}
	}
	roomOf := func(tagKey, earnedKey common.Hash, capWei *uint256.Int) *uint256.Int {
		earned := new(uint256.Int)
		if h.LoadUint(tagKey).Eq(tag) {
			earned = h.LoadUint(earnedKey)
		}
		if earned.Gt(capWei) {
			return new(uint256.Int)
		}
		return new(uint256.Int).Sub(capWei, earned)
	}
	ub, pb := tradeAccountBase(user), tradeAccountBase(provider)
	// Account caps: each side by its own account.
	if room := roomOf(add(ub, taCapTag), add(ub, taCapEarned), tp.AccountEpochCapWei); ru.Gt(room) {
		ru.Set(room)
	}
	if room := roomOf(add(pb, taCapTag), add(pb, taCapEarned), tp.AccountEpochCapWei); rp.Gt(room) {
		rp.Set(room)
	}
	pair := tradePairBase(user, provider)
	clip(roomOf(add(pair, 0), add(pair, 1), tp.PairEpochCapWei))
	clip(roomOf(native.Slot(slotTradeEpochTag), native.Slot(slotTradeEpochPaid), tp.EpochCapWei))
	pool := h.LoadUint(native.Slot(slotTradePool))
	clip(pool)
	total := new(uint256.Int).Add(ru, rp)
	if total.IsZero() {
		return a, nil
	}

	bump := func(tagKey, earnedKey common.Hash, amt *uint256.Int) {
		earned := new(uint256.Int)
		if h.LoadUint(tagKey).Eq(tag) {
			earned = h.LoadUint(earnedKey)
		}
		h.StoreUint(tagKey, tag)
		h.StoreUint(earnedKey, earned.Add(earned, amt))
	}
	bump(add(ub, taCapTag), add(ub, taCapEarned), ru)
	bump(add(pb, taCapTag), add(pb, taCapEarned), rp)
	bump(add(pair, 0), add(pair, 1), total)
	bump(native.Slot(slotTradeEpochTag), native.Slot(slotTradeEpochPaid), total)
	h.StoreUint(native.Slot(slotTradePool), pool.Sub(pool, total))
	owed := h.LoadUint(native.Slot(slotTradeOwed))
	h.StoreUint(native.Slot(slotTradeOwed), owed.Add(owed, total))
	vestAdd(h, user, ru, k, a.VestEpoch, tp.VestingEpochs)
	vestAdd(h, provider, rp, k, a.VestEpoch, tp.VestingEpochs)
	a.UserWei, a.ProviderWei = ru, rp
	return a, h.Emit("TradeRewarded", user, provider, ru.ToBig(), rp.ToBig(), a.VestEpoch)
}

// vestAdd adds amt, earned in epoch k and vesting at vest, to a's bucket of
// window ⌊k/V⌋. The bucket's previous content, if from another window,
// is from window ⌊k/V⌋ − 2 or earlier, so it has vested: it moves to
// vested first.
func vestAdd(h *native.Call, a common.Address, amt *uint256.Int, k, vest, V uint64) {
	if amt.IsZero() {
		return
	}
	base := tradeAccountBase(a)
	i := (k / V) % 2
	tagKey, amtKey := add(base, taBucket+2*i), add(base, taBucket+2*i+1)
	cur := h.LoadUint(amtKey)
	if t := h.LoadUint(tagKey).Uint64(); t != 0 && t != vest+1 && !cur.IsZero() {
		v := h.LoadUint(add(base, taVested))
		h.StoreUint(add(base, taVested), v.Add(v, cur))
		cur = new(uint256.Int)
	}
	h.StoreUint(tagKey, uint256.NewInt(vest+1))
	h.StoreUint(amtKey, cur.Add(cur, amt))
}

// TradeRewards is an account's trade rewards at an epoch.
type TradeRewards struct {
	// VestedWei is claimable now.
	VestedWei *uint256.Int
	// UnvestedWei vests later (forfeited on a slash).
	UnvestedWei *uint256.Int
	// NextVestEpoch is the epoch the next unvested bucket vests at (0:
	// none).
	NextVestEpoch uint64
}

// TradeRewardsOf returns owner's trade rewards as of reward epoch k, in
// state s: a bucket whose vest epoch is ≤ k counts as vested.
func TradeRewardsOf(s native.StateReader, owner common.Address, k uint64) TradeRewards {
	base := tradeAccountBase(owner)
	r := TradeRewards{VestedWei: load(s, add(base, taVested)), UnvestedWei: new(uint256.Int)}
	for i := uint64(0); i < 2; i++ {
		amt := load(s, add(base, taBucket+2*i+1))
		t := load(s, add(base, taBucket+2*i)).Uint64()
		if amt.IsZero() || t == 0 {
			continue
		}
		if t-1 <= k {
			r.VestedWei.Add(r.VestedWei, amt)
			continue
		}
		r.UnvestedWei.Add(r.UnvestedWei, amt)
		if r.NextVestEpoch == 0 || t-1 < r.NextVestEpoch {
			r.NextVestEpoch = t - 1
		}
	}
	return r
}

// TradeRewardsAt returns owner's trade rewards as of block number, in
// state s (the reward epoch from the genesis epoch length in the module's
// storage; zeros on a chain without the module).
func TradeRewardsAt(s native.StateReader, owner common.Address, number uint64) TradeRewards {
	L := load(s, native.Slot(slotEpochLength)).Uint64()
	return TradeRewardsOf(s, owner, RewardEpoch(number, L))
}

// TradeOwedTotal returns Σ trade rewards credited and not yet claimed
// (vested or not).
func TradeOwedTotal(s native.StateReader) *uint256.Int {
	return load(s, native.Slot(slotTradeOwed))
}

// TradeEpochPaid returns what the trade pool paid in reward epoch k (0
// when k is not the last epoch that paid).
func TradeEpochPaid(s native.StateReader, k uint64) *uint256.Int {
	if load(s, native.Slot(slotTradeEpochTag)).Uint64() != k+1 {
		return new(uint256.Int)
	}
	return load(s, native.Slot(slotTradeEpochPaid))
}

// takeVested moves owner's vested buckets (vest epoch ≤ k) into vested,
// clears vested and returns it: what a claim pays.
func takeVested(h *native.Call, owner common.Address, k uint64) *uint256.Int {
	base := tradeAccountBase(owner)
	out := h.LoadUint(add(base, taVested))
	for i := uint64(0); i < 2; i++ {
		amtKey := add(base, taBucket+2*i+1)
		amt := h.LoadUint(amtKey)
		t := h.LoadUint(add(base, taBucket+2*i)).Uint64()
		if amt.IsZero() || t == 0 || t-1 > k {
			continue
		}
		out.Add(out, amt)
		h.Store(amtKey, common.Hash{})
		h.Store(add(base, taBucket+2*i), common.Hash{})
	}
	if !out.IsZero() {
		h.Store(add(base, taVested), common.Hash{})
	}
	return out
}

// ForfeitTrade is the rewards module's host API for the staking module:
// when owner is slashed, its trade rewards that have not vested go back to
// the trade pool (what has vested stays claimable). Returns the amount
// forfeited; emits TradeForfeited(owner, amount) when it is not zero. The
// staking module adds ForfeitTradeGas to the slashing method.
func ForfeitTrade(c *native.Call, owner common.Address) (*uint256.Int, error) {
	if c == nil || c.Module != native.StakingAddress {
		return nil, ErrNotModule
	}
	if c.State.GetCodeSize(native.RewardsAddress) == 0 {
		return new(uint256.Int), nil
	}
	parsed, err := moduleABI()
	if err != nil {
		return nil, err
	}
	h := c.Host(native.RewardsAddress, parsed)
	L := h.LoadUint(native.Slot(slotEpochLength)).Uint64()
	if L == 0 {
		return nil, fmt.Errorf("%w: rewards: no epoch length in state", native.ErrInternal)
	}
	k := RewardEpoch(c.BlockNumber, L)
	base := tradeAccountBase(owner)
	lost := new(uint256.Int)
	for i := uint64(0); i < 2; i++ {
		tagKey, amtKey := add(base, taBucket+2*i), add(base, taBucket+2*i+1)
		amt := h.LoadUint(amtKey)
		t := h.LoadUint(tagKey).Uint64()
		if amt.IsZero() || t == 0 {
			continue
		}
		if t-1 <= k { // vested: keep it claimable
			v := h.LoadUint(add(base, taVested))
			h.StoreUint(add(base, taVested), v.Add(v, amt))
		} else {
			lost.Add(lost, amt)
		}
		h.Store(amtKey, common.Hash{})
		h.Store(tagKey, common.Hash{})
	}
	if lost.IsZero() {
		return lost, nil
	}
	owed := h.LoadUint(native.Slot(slotTradeOwed))
	if owed.Lt(lost) {
		return nil, fmt.Errorf("%w: rewards: trade owed %s below a forfeit of %s", native.ErrInternal, owed, lost)
	}
	h.StoreUint(native.Slot(slotTradeOwed), owed.Sub(owed, lost))
	pool := h.LoadUint(native.Slot(slotTradePool))
	h.StoreUint(native.Slot(slotTradePool), pool.Add(pool, lost))
	return lost, h.Emit("TradeForfeited", owner, lost.ToBig())
}

// RouterAccepted is the host API the jobs module calls when a node accepts
// an assignment of router: the router earns RouterCredits once per reward
// epoch in which at least one of its assignments was accepted. The caller
// pays RouterCreditGas. A full credit ledger earns nothing (a block hook
// must not fail on it; methods do not either, for the same result), and
// neither does a router whose credits of the epoch were forfeited
// (ForfeitRouterCredits).
func (m *Module) RouterAccepted(c *native.Call, router common.Address) error {
	if c == nil || c.Module == native.RewardsAddress || !native.IsReserved(c.Module) {
		return ErrNotModule
	}
	if c.State.GetCodeSize(native.RewardsAddress) == 0 || m.params.Credits.RouterCredits == 0 {
		return nil
	}
	h := c.Host(native.RewardsAddress, m.abi)
	k := RewardEpoch(c.BlockNumber, m.params.EpochLength)
	key := add(tradeAccountBase(router), taRouterTag)
	if tag := h.LoadUint(key).Uint64(); tag == k+1 || tag == (k+1)|routerForfeited {
		return nil // earned, or forfeited, in this epoch
	}
	h.StoreUint(key, uint256.NewInt(k+1))
	return ignoreFull(m.AddCredits(c, router, m.params.Credits.RouterCredits))
}

// ComputeJobDone is the host API the jobs module calls when a job of node
// settles without dispute (completed, not self-dealt): the node's owner
// earns ComputeCreditsPerTask, up to MaxComputeCreditsPerEpoch in a
// reward epoch. The caller pays ComputeCreditGas. Returns the credits
// added.
func (m *Module) ComputeJobDone(c *native.Call, node common.Address) (uint64, error) {
	if c == nil || c.Module == native.RewardsAddress || !native.IsReserved(c.Module) {
		return 0, ErrNotModule
	}
	cp := m.params.Credits
	if c.State.GetCodeSize(native.RewardsAddress) == 0 || cp.ComputeCreditsPerTask == 0 {
		return 0, nil
	}
	h := c.Host(native.RewardsAddress, m.abi)
	k := RewardEpoch(c.BlockNumber, m.params.EpochLength)
	base := tradeAccountBase(node)
	var tasks uint64
	if h.LoadUint(add(base, taComputeTag)).Uint64() == k+1 {
		tasks = h.LoadUint(add(base, taComputeSeen)).Uint64()
	}
	before := cp.ComputeCredits(tasks)
	after := cp.ComputeCredits(tasks + 1)
	h.StoreUint(add(base, taComputeTag), uint256.NewInt(k+1))
	h.StoreUint(add(base, taComputeSeen), uint256.NewInt(tasks+1))
	if after <= before {
		return 0, nil // capped
	}
	if err := m.AddCredits(c, node, after-before); err != nil {
		if errors.Is(err, ErrLedgerFull) {
			return 0, nil
		}
		return 0, err
	}
	return after - before, nil
}

// computeForfeited is the compute count a forfeit leaves for its reward
// epoch: ComputeCredits of it and of it plus one are both the cap (for any
// positive ComputeCreditsPerTask), so ComputeJobDone adds nothing more.
const computeForfeited = 1 << 62

// ForfeitComputeCredits is the host API the verification module calls when
// node fails (or misses) its proof-of-work challenge of the current
// reward epoch: the compute credits node earned in it (ComputeJobDone:
// settled jobs, verified challenges) are taken back from its ledger entry,
// and it earns no more compute credits in that epoch; its other credits
// (router) stay. The caller pays ForfeitComputeGas. Returns the credits
// taken back (0 when it had none, or was already forfeited).
func (m *Module) ForfeitComputeCredits(c *native.Call, node common.Address) (uint64, error) {
	if c == nil || c.Module == native.RewardsAddress || !native.IsReserved(c.Module) {
		return 0, ErrNotModule
	}
	if c.State.GetCodeSize(native.RewardsAddress) == 0 {
		return 0, nil
	}
	h := c.Host(native.RewardsAddress, m.abi)
	k := RewardEpoch(c.BlockNumber, m.params.EpochLength)
	base := tradeAccountBase(node)
	var tasks uint64
	if h.LoadUint(add(base, taComputeTag)).Uint64() == k+1 {
		tasks = h.LoadUint(add(base, taComputeSeen)).Uint64()
	}
	if tasks >= computeForfeited {
		return 0, nil
	}
	h.StoreUint(add(base, taComputeTag), uint256.NewInt(k+1))
	h.StoreUint(add(base, taComputeSeen), uint256.NewInt(computeForfeited))
	earned := m.params.Credits.ComputeCredits(tasks)
	i := h.LoadUint(ledgerIndexKey(k, node)).Uint64()
	if earned == 0 || i == 0 {
		return 0, nil // nothing earned, or the ledger was full when it was
	}
	key := ledgerKey(k, i-1, 1)
	held := h.LoadUint(key).Uint64()
	taken := min(earned, held)
	h.StoreUint(key, uint256.NewInt(held-taken))
	return taken, nil
}

// routerForfeited flags a router tag (1 + the reward epoch) whose epoch's
// router credits were forfeited: RouterAccepted adds nothing more in it.
const routerForfeited = 1 << 63

// ForfeitRouterCredits is the host API the verification module calls when
// router fails its relay probes in the current reward epoch (two of its
// three probers report a failure): the RouterCredits it earned in the
// epoch (RouterAccepted) are taken back from its ledger entry, and it earns
// no router credits for the rest of the epoch; its other credits
// (compute, validator) stay. The caller pays ForfeitRouterGas. Returns the
// credits taken back (0 when it earned none in the epoch, had them
// forfeited already, or the ledger was full when it earned them).
func (m *Module) ForfeitRouterCredits(c *native.Call, router common.Address) (uint64, error) {
	if c == nil || c.Module == native.RewardsAddress || !native.IsReserved(c.Module) {
		return 0, ErrNotModule
	}
	if c.State.GetCodeSize(native.RewardsAddress) == 0 {
		return 0, nil
	}
	h := c.Host(native.RewardsAddress, m.abi)
	k := RewardEpoch(c.BlockNumber, m.params.EpochLength)
	key := add(tradeAccountBase(router), taRouterTag)
	tag := h.LoadUint(key).Uint64()
	if tag == (k+1)|routerForfeited {
		return 0, nil
	}
	h.StoreUint(key, uint256.NewInt((k+1)|routerForfeited))
	earned := m.params.Credits.RouterCredits
	i := h.LoadUint(ledgerIndexKey(k, router)).Uint64()
	if tag != k+1 || earned == 0 || i == 0 {
		return 0, nil // nothing earned in the epoch, or the ledger was full when it was
	}
	lk := ledgerKey(k, i-1, 1)
	held := h.LoadUint(lk).Uint64()
	taken := min(earned, held)
	h.StoreUint(lk, uint256.NewInt(held-taken))
	return taken, nil
}

// RouterCredited reports whether router earned its router credits in
// reward epoch k (an assignment of it accepted, RouterAccepted) and they
// were not forfeited since (ForfeitRouterCredits).
func RouterCredited(s native.StateReader, router common.Address, k uint64) bool {
	return load(s, add(tradeAccountBase(router), taRouterTag)).Uint64() == k+1
}

func ignoreFull(err error) error {
	if errors.Is(err, ErrLedgerFull) {
		return nil
	}
	return err
}

func (m *Module) tradeRewardsOf(c *native.Call, args []any) ([]any, error) {
	a, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: owner is %T", native.ErrBadInput, args[0])
	}
	r := TradeRewardsOf(c.State, a, RewardEpoch(c.BlockNumber, m.params.EpochLength))
	return []any{r.VestedWei.ToBig(), r.UnvestedWei.ToBig(), r.NextVestEpoch}, nil
}
