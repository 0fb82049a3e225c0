package staking

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// Name is the module's name and its key in the genesis params section.
const Name = "staking"

// MaxPage bounds the length of one owners() page; larger limits are
// clamped to it.
const MaxPage = 100

// Gas of each method: the worst case under Cancun's EIP-2929/2200 pricing,
// counting every slot touched as cold (2100) and every write as a fresh
// zero-to-non-zero SSTORE (20000) or reset (2900), plus logs (375 + 375 per
// topic + 8 per data byte) and value transfers (9000).
const (
	// StakeGas: a first stake: 9 slots touched (signer claim, meta,
	// amount, role total, owners length, owners[n], owner index, prev,
	// changeEpoch) 18,900 + 8 fresh writes 160,000 + Staked log (2 topics,
	// 160 bytes) 2,405 = 181,305, rounded up, + the rewards module's
	// weight update (rewards.PositionChangeGas).
	StakeGas = 181_400 + rewards.PositionChangeGas
	// UnstakeGas: a new unbonding entry: 10 slots touched (amount, meta,
	// unbonding length, last entry's release, new entry ×2, total
	// unbonding, role total, prev, changeEpoch) 21,000 + 8 fresh writes
	// 160,000 + Unstaked log (2 topics, 96 bytes) 1,893 = 182,893, rounded
	// up, + the rewards module's weight update (rewards.PositionChangeGas).
	UnstakeGas = 182_900 + rewards.PositionChangeGas
	// SetSignerGas: 7 slots touched (meta, amount, the new signer's claim,
	// owner index and consent nonce, the stored signer, the old signer's
	// claim) 14,700 + 4 fresh writes (signer, claim, nonce, the old claim
	// counted as fresh) 80,000 + SignerSet log (3 topics) 1,500 + the
	// consent check: ecrecover 3,000 and hashing its 114-byte preimage
	// 54, rounded up to 100 = 99,300. The signature's input words are
	// charged by the framework (native.GasPerInputWord).
	SetSignerGas = 99_300
	// WithdrawBaseGas: the last withdraw of a position that is not last in
	// the owners list: 11 slots touched (unbonding length, total
	// unbonding, amount, changeEpoch, meta, prev, owner index, owners
	// length, owners[i], owners[last], the moved owner's index) 23,100 +
	// 10 resets 29,000 + transfer 9,000 + Withdrawn log (2 topics, 32
	// bytes) 1,381 = 62,481, rounded up; withdraw() declares
	// WithdrawBaseGas + MaxUnbonding × WithdrawGasPerEntry.
	WithdrawBaseGas = 62_500
	// WithdrawGasPerEntry: an entry's 2 slots touched 4,200 and 2 resets
	// (moved or cleared; entry slots are never zero) 5,800.
	WithdrawGasPerEntry = 10_000
	// ViewGas is totalStake()'s cost and unbondingOf()'s and owners()'s
	// base: one cold slot 2,100 + 100 dispatch.
	ViewGas = 2_200
	// StakeOfGas: 3 cold slots (amount, meta, signer) + dispatch.
	StakeOfGas = 6_400
	// EntryViewGas is unbondingOf()'s cost per possible entry
	// (MaxUnbonding): 2 cold slots.
	EntryViewGas = 4_200
	// OwnersGasPerItem is owners()'s cost per returned owner: 1 cold slot.
	OwnersGasPerItem = 2_100
)

// Revert reasons of the module's methods.
var (
	ErrZeroAmount        = errors.New("staking: amount must be positive")
	ErrBadRole           = errors.New("staking: unknown role")
	ErrBadLock           = errors.New("staking: unknown lock")
	ErrRoleMismatch      = errors.New("staking: position has another role")
	ErrBelowMinimum      = errors.New("staking: stake would be below the role's minimum")
	ErrInsufficientStake = errors.New("staking: unstake amount exceeds stake")
	ErrLocked            = errors.New("staking: stake is locked")
	ErrTooManyPositions  = errors.New("staking: position limit reached")
	ErrTooManyUnbonding  = errors.New("staking: unbonding entry limit reached; withdraw first")
	ErrNothingToWithdraw = errors.New("staking: nothing released to withdraw")
	ErrNotValidator      = errors.New("staking: only a validator position may set a signer")
	ErrZeroSigner        = errors.New("staking: signer must not be the zero address")
	ErrSignerTaken       = errors.New("staking: address is another owner's signer or an owner")
	ErrOverflow          = errors.New("staking: amount overflows uint256")
)

// Module is the staking module.
type Module struct {
	params Params
}

var _ native.Module = (*Module)(nil)

// Factory returns the module's native.Factory for a chain whose genesis
// epoch length is epochLength (0 means genesis' default, as genesis
// validation fills it in).
func Factory(epochLength uint64) native.Factory {
	if epochLength == 0 {
		epochLength = DefaultEpochLength
	}
	return func(raw json.RawMessage) (native.Module, error) {
		p, err := ParseParams(raw, epochLength)
		if err != nil {
			return nil, err
		}
		return NewModule(p)
	}
}

// New is a native.Factory with DefaultEpochLength (tools and tests that
// have no genesis); nodes use Factory.
func New(params json.RawMessage) (native.Module, error) {
	return Factory(DefaultEpochLength)(params)
}

// NewModule returns the module with validated params.
func NewModule(p Params) (*Module, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Module{params: p.clone()}, nil
}

// Name implements native.Module.
func (m *Module) Name() string { return Name }

// Address implements native.Module.
func (m *Module) Address() common.Address { return native.StakingAddress }

// ABI implements native.Module.
func (m *Module) ABI() string { return abiJSON }

// Params returns the module's params.
func (m *Module) Params() Params { return m.params.clone() }

// WithdrawGas is withdraw()'s declared gas under p.
func (p Params) WithdrawGas() uint64 {
	return WithdrawBaseGas + p.MaxUnbonding*WithdrawGasPerEntry
}

// UnbondingOfGas is unbondingOf()'s declared gas under p.
func (p Params) UnbondingOfGas() uint64 {
	return ViewGas + p.MaxUnbonding*EntryViewGas
}

// Methods implements native.Module.
func (m *Module) Methods() []native.Method {
	return []native.Method{
		{Name: "stake", Gas: StakeGas, Mutates: true, Handler: m.stake},
		{Name: "setSigner", Gas: SetSignerGas, Mutates: true, Handler: m.setSigner},
		{Name: "unstake", Gas: UnstakeGas, Mutates: true, Handler: m.unstake},
		{Name: "withdraw", Gas: m.params.WithdrawGas(), Mutates: true, Handler: m.withdraw},
		{Name: "stakeOf", Gas: StakeOfGas, Handler: m.stakeOf},
		{Name: "unbondingOf", Gas: m.params.UnbondingOfGas(), Handler: m.unbondingOf},
		{Name: "totalStake", Gas: ViewGas, Handler: m.totalStake},
		{Name: "owners", Gas: ViewGas, InputGas: ownersGas, Handler: m.owners},
		{Name: "reportDoubleSign", Gas: m.params.ReportDoubleSignGas(), Mutates: true, Handler: m.reportDoubleSign},
		{Name: "jailed", Gas: ViewGas, Handler: m.jailed},
		{Name: "signerNonce", Gas: ViewGas, Handler: m.signerNonce},
	}
}

func (m *Module) epoch(c *native.Call) uint64 { return Epoch(c.BlockNumber, m.params.EpochLength) }

// posView is a handler's view of the caller's position slots.
type posView struct {
	c    *native.Call
	base common.Hash
}

func (p posView) load(k uint64) *uint256.Int     { return p.c.LoadUint(field(p.base, k)) }
func (p posView) store(k uint64, v *uint256.Int) { p.c.StoreUint(field(p.base, k), v) }

// recordChange sets the position's amount to newAmt in epoch e, keeping the
// amount effective during e as prev: the change takes effect at e+1.
func (p posView) recordChange(e uint64, oldAmt, newAmt *uint256.Int) {
	ce := p.load(fieldChangeEpoch).Uint64()
	if ce == 0 || e >= ce {
		p.store(fieldPrev, oldAmt)
		p.store(fieldChangeEpoch, uint256.NewInt(e+1))
	}
	p.store(fieldAmount, newAmt)
}

// stake adds the call's value (already credited to the module's balance by
// the EVM) to the caller's position of role, under lock.
func (m *Module) stake(c *native.Call, args []any) ([]any, error) {
	role, ok1 := args[0].(uint8)
	lock, ok2 := args[1].(uint8)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: role %T lock %T", native.ErrBadInput, args[0], args[1])
	}
	if Role(role) >= NumRoles {
		return nil, fmt.Errorf("%w: %d", ErrBadRole, role)
	}
	if rewards.Lock(lock) >= rewards.NumLocks {
		return nil, fmt.Errorf("%w: %d", ErrBadLock, lock)
	}
	if c.Value.IsZero() {
		return nil, ErrZeroAmount
	}
	if o, ok := SignerOwner(c.State, c.Caller); ok && o != c.Caller && Role(role) == RoleValidator {
		// Its default signer, itself, would sign for two validators.
		return nil, fmt.Errorf("%w: %s is the signer of %s", ErrSignerTaken, c.Caller, o)
	}
	if Role(role) == RoleValidator && Jailed(c.State, c.Caller) {
		return nil, fmt.Errorf("%w: %s", ErrJailed, c.Caller)
	}
	e := m.epoch(c)
	snap := beforeChange(c, c.Caller)
	p := posView{c, positionBase(c.Caller)}
	md := decodeMeta(p.load(fieldMeta))
	if md.hasRole && md.role != Role(role) {
		return nil, fmt.Errorf("%w: %s, not %s", ErrRoleMismatch, md.role, Role(role))
	}
	oldAmt := p.load(fieldAmount)
	newAmt, overflow := new(uint256.Int).AddOverflow(oldAmt, c.Value)
	if overflow {
		return nil, ErrOverflow
	}
	if min := m.params.MinStakeWei[role]; newAmt.Lt(min) {
		return nil, fmt.Errorf("%w: %s wei < %s wei", ErrBelowMinimum, newAmt, min)
	}
	total, overflow := new(uint256.Int).AddOverflow(TotalStake(c.State, Role(role)), c.Value)
	if overflow {
		return nil, ErrOverflow
	}
	// One lock per position: the one that ends later wins (ties: the
	// longer term); an empty position takes the new lock.
	newUnlock := e + m.params.LockEpochs[lock]
	if !md.hasRole || oldAmt.IsZero() || newUnlock > md.unlockEpoch ||
		(newUnlock == md.unlockEpoch && rewards.Lock(lock) > md.lock) {
		md.lock, md.unlockEpoch = rewards.Lock(lock), newUnlock
	}
	if !md.hasRole {
		if err := m.addOwner(c, c.Caller); err != nil {
			return nil, err
		}
	}
	md.hasRole, md.role = true, Role(role)
	p.store(fieldMeta, md.encode())
	p.recordChange(e, oldAmt, newAmt)
	c.StoreUint(native.Slot(uint64(role)), total)
	if err := afterChange(c, c.Caller, snap); err != nil {
		return nil, err
	}
	return nil, c.Emit("Staked", c.Caller, role, uint8(md.lock), c.Value.ToBig(), newAmt.ToBig(), md.unlockEpoch)
}

// setSigner sets the caller's consensus signer, with the signer key's
// consent (consent.go); setSigner(own address, empty signature) clears it.
func (m *Module) setSigner(c *native.Call, args []any) ([]any, error) {
	s, ok1 := args[0].(common.Address)
	sig, ok2 := args[1].([]byte)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: signer %T signature %T", native.ErrBadInput, args[0], args[1])
	}
	if s == (common.Address{}) {
		return nil, ErrZeroSigner
	}
	p := posView{c, positionBase(c.Caller)}
	md := decodeMeta(p.load(fieldMeta))
	if !md.hasRole || md.role != RoleValidator || p.load(fieldAmount).IsZero() {
		return nil, ErrNotValidator
	}
	if s == c.Caller {
		// The owner's own transaction is its consent.
		if len(sig) != 0 {
			return nil, fmt.Errorf("%w: setting the owner itself takes an empty signature", ErrBadSignature)
		}
	} else {
		if o, ok := SignerOwner(c.State, s); ok && o != c.Caller {
			return nil, fmt.Errorf("%w: %s is the signer of %s", ErrSignerTaken, s, o)
		}
		if !c.LoadUint(ownerIndexKey(s)).IsZero() {
			return nil, fmt.Errorf("%w: %s owns a position", ErrSignerTaken, s)
		}
		if c.ChainID == nil || c.ChainID.IsZero() {
			return nil, fmt.Errorf("%w: no chain id to check the signer's consent against", native.ErrInternal)
		}
		nonce := c.LoadUint(signerNonceKey(s)).Uint64()
		if err := verifyConsent(c.ChainID, c.Caller, s, nonce, sig); err != nil {
			return nil, err
		}
		c.StoreUint(signerNonceKey(s), uint256.NewInt(nonce+1)) // < 2^64 claims: one per transaction
	}
	if old := c.Load(field(p.base, fieldSigner)); old != (common.Hash{}) {
		c.Store(signerOwnerKey(common.BytesToAddress(old[:])), common.Hash{})
	}
	if s == c.Caller {
		c.Store(field(p.base, fieldSigner), common.Hash{})
	} else {
		c.Store(field(p.base, fieldSigner), native.AddressKey(s))
		c.Store(signerOwnerKey(s), native.AddressKey(c.Caller))
	}
	return nil, c.Emit("SignerSet", c.Caller, s)
}

func (m *Module) signerNonce(c *native.Call, args []any) ([]any, error) {
	a, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: signer is %T", native.ErrBadInput, args[0])
	}
	return []any{SignerNonce(c.State, a)}, nil
}

// unstake moves amount of the caller's stake into the unbonding queue.
func (m *Module) unstake(c *native.Call, args []any) ([]any, error) {
	amt, err := toUint(args[0])
	if err != nil {
		return nil, err
	}
	if amt.IsZero() {
		return nil, ErrZeroAmount
	}
	e := m.epoch(c)
	snap := beforeChange(c, c.Caller)
	p := posView{c, positionBase(c.Caller)}
	oldAmt := p.load(fieldAmount)
	if amt.Gt(oldAmt) {
		return nil, fmt.Errorf("%w: %s wei > %s wei", ErrInsufficientStake, amt, oldAmt)
	}
	md := decodeMeta(p.load(fieldMeta))
	if e < md.unlockEpoch {
		return nil, fmt.Errorf("%w: until epoch %d (now %d)", ErrLocked, md.unlockEpoch, e)
	}
	rest := new(uint256.Int).Sub(oldAmt, amt)
	if min := m.params.MinStakeWei[md.role]; !rest.IsZero() && rest.Lt(min) {
		return nil, fmt.Errorf("%w: %s wei left < %s wei; unstake all or less", ErrBelowMinimum, rest, min)
	}
	release := e + 1 + m.params.UnbondingEpochs
	n := p.load(fieldUnbonding).Uint64()
	totalUnb, overflow := new(uint256.Int).AddOverflow(TotalUnbonding(c.State), amt)
	if overflow {
		return nil, ErrOverflow
	}
	if n > 0 && c.LoadUint(unbondingKey(p.base, n-1, true)).Uint64() == release {
		last := c.LoadUint(unbondingKey(p.base, n-1, false))
		c.StoreUint(unbondingKey(p.base, n-1, false), last.Add(last, amt)) // ≤ totalUnb: no overflow
	} else {
		if n >= m.params.MaxUnbonding {
			return nil, fmt.Errorf("%w: %d entries", ErrTooManyUnbonding, n)
		}
		c.StoreUint(unbondingKey(p.base, n, false), amt)
		c.StoreUint(unbondingKey(p.base, n, true), uint256.NewInt(release))
		p.store(fieldUnbonding, uint256.NewInt(n+1))
	}
	total := TotalStake(c.State, md.role)
	if total.Lt(amt) {
		return nil, fmt.Errorf("%w: role total %s below a position's %s", native.ErrInternal, total, oldAmt)
	}
	c.StoreUint(native.Slot(uint64(md.role)), total.Sub(total, amt))
	c.StoreUint(native.Slot(slotTotalUnbonding), totalUnb)
	p.recordChange(e, oldAmt, rest)
	if err := afterChange(c, c.Caller, snap); err != nil {
		return nil, err
	}
	return nil, c.Emit("Unstaked", c.Caller, amt.ToBig(), rest.ToBig(), release)
}

// withdraw pays the caller's released unbonding entries.
func (m *Module) withdraw(c *native.Call, _ []any) ([]any, error) {
	e := m.epoch(c)
	p := posView{c, positionBase(c.Caller)}
	n := p.load(fieldUnbonding).Uint64()
	sum, k := new(uint256.Int), uint64(0)
	for ; k < n && c.LoadUint(unbondingKey(p.base, k, true)).Uint64() <= e; k++ {
		sum.Add(sum, c.LoadUint(unbondingKey(p.base, k, false))) // ≤ total unbonding: no overflow
	}
	if k == 0 {
		return nil, ErrNothingToWithdraw
	}
	for i := k; i < n; i++ { // entries are in release order: keep the tail
		c.Store(unbondingKey(p.base, i-k, false), c.Load(unbondingKey(p.base, i, false)))
		c.Store(unbondingKey(p.base, i-k, true), c.Load(unbondingKey(p.base, i, true)))
	}
	for i := n - k; i < n; i++ {
		c.Store(unbondingKey(p.base, i, false), common.Hash{})
		c.Store(unbondingKey(p.base, i, true), common.Hash{})
	}
	p.store(fieldUnbonding, uint256.NewInt(n-k))
	totalUnb := TotalUnbonding(c.State)
	if totalUnb.Lt(sum) {
		return nil, fmt.Errorf("%w: total unbonding %s below an owner's %s", native.ErrInternal, totalUnb, sum)
	}
	c.StoreUint(native.Slot(slotTotalUnbonding), totalUnb.Sub(totalUnb, sum))
	if n == k && p.load(fieldAmount).IsZero() && p.load(fieldChangeEpoch).Uint64() <= e {
		// Empty: nothing staked, pending or unbonding. Forget the role and
		// lock; a signer claim stays with the owner.
		p.store(fieldMeta, new(uint256.Int))
		p.store(fieldPrev, new(uint256.Int))
		p.store(fieldChangeEpoch, new(uint256.Int))
		if err := removeOwner(c, c.Caller); err != nil {
			return nil, err
		}
	}
	if err := c.Pay(c.Caller, sum); err != nil {
		return nil, err
	}
	return nil, c.Emit("Withdrawn", c.Caller, sum.ToBig())
}

func (m *Module) stakeOf(c *native.Call, args []any) ([]any, error) {
	a, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: owner is %T", native.ErrBadInput, args[0])
	}
	base := positionBase(a)
	md := decodeMeta(c.LoadUint(field(base, fieldMeta)))
	return []any{uint8(md.role), c.LoadUint(field(base, fieldAmount)).ToBig(), uint8(md.lock), md.unlockEpoch, signerOf(c.State, a)}, nil
}

func (m *Module) jailed(c *native.Call, args []any) ([]any, error) {
	a, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: owner is %T", native.ErrBadInput, args[0])
	}
	return []any{Jailed(c.State, a)}, nil
}

func (m *Module) unbondingOf(c *native.Call, args []any) ([]any, error) {
	a, ok := args[0].(common.Address)
	if !ok {
		return nil, fmt.Errorf("%w: owner is %T", native.ErrBadInput, args[0])
	}
	entries := UnbondingOf(c.State, a)
	amounts := make([]*big.Int, len(entries))
	releases := make([]uint64, len(entries))
	for i, u := range entries {
		amounts[i], releases[i] = u.AmountWei.ToBig(), u.ReleaseEpoch
	}
	return []any{amounts, releases}, nil
}

func (m *Module) totalStake(c *native.Call, args []any) ([]any, error) {
	role, ok := args[0].(uint8)
	if !ok {
		return nil, fmt.Errorf("%w: role is %T", native.ErrBadInput, args[0])
	}
	if Role(role) >= NumRoles {
		return nil, fmt.Errorf("%w: %d", ErrBadRole, role)
	}
	return []any{TotalStake(c.State, Role(role)).ToBig()}, nil
}

func (m *Module) owners(c *native.Call, args []any) ([]any, error) {
	offset, limit := pageArgs(args)
	return []any{Owners(c.State, offset, limit)}, nil
}

// ownersGas is owners()'s input-dependent gas: OwnersGasPerItem per entry
// of the (clamped) limit.
func ownersGas(args []any) uint64 {
	_, limit := pageArgs(args)
	return limit * OwnersGasPerItem
}

// pageArgs decodes owners()'s offset and limit, clamping limit to MaxPage
// and offset to 2^64-1 (past any list end).
func pageArgs(args []any) (offset, limit uint64) {
	offset, limit = ^uint64(0), 0
	if len(args) != 2 {
		return offset, limit
	}
	if o, ok := args[0].(*big.Int); ok && o.IsUint64() {
		offset = o.Uint64()
	}
	limit = MaxPage
	if l, ok := args[1].(*big.Int); ok && l.IsUint64() && l.Uint64() < MaxPage {
		limit = l.Uint64()
	}
	return offset, limit
}

// addOwner appends a to the owners list.
func (m *Module) addOwner(c *native.Call, a common.Address) error {
	n := OwnerCount(c.State)
	if n >= m.params.MaxPositions {
		return fmt.Errorf("%w: %d positions", ErrTooManyPositions, n)
	}
	c.Store(ownerKey(n), native.AddressKey(a))
	c.StoreUint(ownerIndexKey(a), uint256.NewInt(n+1))
	c.StoreUint(native.Slot(slotOwners), uint256.NewInt(n+1))
	return nil
}

// removeOwner deletes a from the owners list by moving the last element
// into its place.
func removeOwner(c *native.Call, a common.Address) error {
	pos := c.LoadUint(ownerIndexKey(a)).Uint64()
	n := OwnerCount(c.State)
	if pos == 0 || pos > n {
		return fmt.Errorf("%w: owner %s at position %d of %d", native.ErrInternal, a, pos, n)
	}
	i, last := pos-1, n-1
	if i != last {
		moved := c.Load(ownerKey(last))
		c.Store(ownerKey(i), moved)
		c.StoreUint(ownerIndexKey(common.BytesToAddress(moved[:])), uint256.NewInt(i+1))
	}
	c.Store(ownerKey(last), common.Hash{})
	c.Store(ownerIndexKey(a), common.Hash{})
	c.StoreUint(native.Slot(slotOwners), uint256.NewInt(last))
	return nil
}

// toUint converts a decoded uint256 argument.
func toUint(v any) (*uint256.Int, error) {
	b, ok := v.(*big.Int)
	if !ok {
		return nil, fmt.Errorf("%w: want uint256, got %T", native.ErrBadInput, v)
	}
	u, overflow := uint256.FromBig(b)
	if overflow || b.Sign() < 0 {
		return nil, fmt.Errorf("%w: %s out of uint256 range", native.ErrBadInput, b)
	}
	return u, nil
}
