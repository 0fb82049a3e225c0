package staking

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// Storage layout of the module account (Solidity layout, see
// state/native's doc):
//
//	slot r (r = 0, 1, 2)                 totalStake[role r]     uint256: Σ amount of role-r positions
//	slot 3                               totalUnbonding         uint256: Σ unbonding entries
//	slot 4                               owners.length          uint256
//	keccak256(pad32(4)) + i              owners[i]              address
//	P = keccak256(pad32(o) ‖ pad32(5))   position of owner o, fields at P+k:
//	  P+0  amount        uint256  stake now (effective from changeEpoch on)
//	  P+1  meta          uint256  role+1 (bits 0-7, 0 = no role) | lock (8-15) | unlockEpoch (16-79)
//	  P+2  signer        address  0 = the owner itself
//	  P+3  prevAmount    uint256  the stake effective before changeEpoch
//	  P+4  changeEpoch   uint256  the epoch from which amount is effective
//	  P+5  unbonding.length, entries at keccak256(P+5) + 2i (amount), + 2i+1 (releaseEpoch)
//	keccak256(pad32(s) ‖ pad32(6))       signerOwner[s]         address claiming s as signer
//	keccak256(pad32(o) ‖ pad32(7))       ownerIndex[o]          index in owners + 1, 0 = absent
//	keccak256(pad32(o) ‖ pad32(8))       jailed[o]              1 = slashed for double signing, for good
//	keccak256(offenceKey ‖ pad32(9))     reported[offence]      1 = this offence was slashed (see [OffenceKey])
//	keccak256(pad32(s) ‖ pad32(10))      signerNonce[s]         uint64: consents of signer s used (see consent.go)
//
// owners holds exactly the owners with amount > 0, prevAmount > 0 or
// unbonding entries; removal moves the last element into the freed place.
const (
	slotTotalUnbonding = 3
	slotOwners         = 4
	slotPositions      = 5
	slotSignerOwner    = 6
	slotOwnerIndex     = 7
	slotJailed         = 8
	slotReported       = 9
)

const (
	fieldAmount = iota
	fieldMeta
	fieldSigner
	fieldPrev
	fieldChangeEpoch
	fieldUnbonding
)

// ErrEpochTooOld is returned by [EffectiveStake] for an epoch before the
// position's last change: the state keeps only the last change's
// before/after, so read an older state for older epochs.
var ErrEpochTooOld = errors.New("staking: epoch is before the position's last change; read an older state")

func positionBase(o common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotPositions), native.AddressKey(o))
}

func field(base common.Hash, k uint64) common.Hash {
	v := new(uint256.Int).SetBytes32(base[:])
	v.Add(v, uint256.NewInt(k))
	return v.Bytes32()
}

func unbondingKey(base common.Hash, i uint64, releaseField bool) common.Hash {
	k := 2 * i
	if releaseField {
		k++
	}
	return native.ArraySlot(field(base, fieldUnbonding), k)
}

func signerOwnerKey(s common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotSignerOwner), native.AddressKey(s))
}

func ownerIndexKey(o common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotOwnerIndex), native.AddressKey(o))
}

func jailedKey(o common.Address) common.Hash {
	return native.MapSlot(native.Slot(slotJailed), native.AddressKey(o))
}

func reportedKey(offence common.Hash) common.Hash {
	return native.MapSlot(native.Slot(slotReported), offence)
}

// Jailed reports whether owner's position was slashed for double signing:
// it is out of the validator set and cannot stake as a validator again.
func Jailed(s native.StateReader, owner common.Address) bool {
	return s.GetState(native.StakingAddress, jailedKey(owner)) != (common.Hash{})
}

// RoleOf returns owner's position role; false when the position has none
// (never staked, or empty again). It reads one slot, for modules that gate
// on a role without loading the whole position.
func RoleOf(s native.StateReader, owner common.Address) (Role, bool) {
	m := decodeMeta(native.LoadUint(s, native.StakingAddress, field(positionBase(owner), fieldMeta)))
	return m.role, m.hasRole
}

// Reported reports whether the offence with key [OffenceKey] was slashed.
func Reported(s native.StateReader, offence common.Hash) bool {
	return s.GetState(native.StakingAddress, reportedKey(offence)) != (common.Hash{})
}

func ownerKey(i uint64) common.Hash {
	return native.ArraySlot(native.Slot(slotOwners), i)
}

// meta is a position's packed role, lock and unlock epoch.
type meta struct {
	hasRole     bool
	role        Role
	lock        rewards.Lock
	unlockEpoch uint64
}

func decodeMeta(v *uint256.Int) meta {
	w := v.Uint64() // bits 0-63; the unlock epoch's top 16 bits are in word 1
	hi := v[1]
	m := meta{hasRole: w&0xff != 0, lock: rewards.Lock(w >> 8 & 0xff)}
	if m.hasRole {
		m.role = Role(w&0xff - 1)
	}
	m.unlockEpoch = w>>16 | hi<<48
	return m
}

func (m meta) encode() *uint256.Int {
	if !m.hasRole {
		return new(uint256.Int)
	}
	v := new(uint256.Int).SetUint64(m.unlockEpoch)
	v.Lsh(v, 16)
	v.Or(v, uint256.NewInt(uint64(m.lock)<<8|uint64(m.role)+1))
	return v
}

// Epoch returns the epoch of block number.
func Epoch(number, epochLength uint64) uint64 {
	if epochLength == 0 {
		return 0
	}
	return number / epochLength
}

// Unbonding is one unbonding entry: AmountWei is paid by withdraw() from
// ReleaseEpoch on.
type Unbonding struct {
	AmountWei    *uint256.Int
	ReleaseEpoch uint64
}

// Position is an owner's position as stored now.
type Position struct {
	Owner common.Address
	// Role is meaningful when HasRole (a position once staked keeps its
	// role until it is empty again).
	HasRole bool
	Role    Role
	// AmountWei is the stake now; it is effective from ChangeEpoch on and
	// PrevAmountWei before.
	AmountWei     *uint256.Int
	PrevAmountWei *uint256.Int
	ChangeEpoch   uint64
	Lock          rewards.Lock
	UnlockEpoch   uint64
	// Signer is the consensus key: the owner unless setSigner set another.
	Signer    common.Address
	Unbonding []Unbonding
	// Jailed is set for good when the position is slashed for double
	// signing.
	Jailed bool
}

// PositionOf returns owner's position (zero amounts if it has none).
func PositionOf(s native.StateReader, owner common.Address) Position {
	base := positionBase(owner)
	load := func(k uint64) *uint256.Int { return native.LoadUint(s, native.StakingAddress, field(base, k)) }
	m := decodeMeta(load(fieldMeta))
	p := Position{
		Owner:         owner,
		HasRole:       m.hasRole,
		Role:          m.role,
		AmountWei:     load(fieldAmount),
		PrevAmountWei: load(fieldPrev),
		ChangeEpoch:   load(fieldChangeEpoch).Uint64(),
		Lock:          m.lock,
		UnlockEpoch:   m.unlockEpoch,
		Signer:        signerOf(s, owner),
		Unbonding:     UnbondingOf(s, owner),
		Jailed:        Jailed(s, owner),
	}
	return p
}

// signerOf returns owner's consensus signer: the one set, else owner.
func signerOf(s native.StateReader, owner common.Address) common.Address {
	if sg := s.GetState(native.StakingAddress, field(positionBase(owner), fieldSigner)); sg != (common.Hash{}) {
		return common.BytesToAddress(sg[:])
	}
	return owner
}

// UnbondingOf returns owner's unbonding entries, in release order.
func UnbondingOf(s native.StateReader, owner common.Address) []Unbonding {
	base := positionBase(owner)
	n := native.LoadUint(s, native.StakingAddress, field(base, fieldUnbonding)).Uint64()
	var out []Unbonding
	for i := uint64(0); i < n && i < maxMaxUnbonding; i++ {
		out = append(out, Unbonding{
			AmountWei:    native.LoadUint(s, native.StakingAddress, unbondingKey(base, i, false)),
			ReleaseEpoch: native.LoadUint(s, native.StakingAddress, unbondingKey(base, i, true)).Uint64(),
		})
	}
	return out
}

// effectiveAt is the stake effective at epoch given the stored
// before/after of the last change.
func effectiveAt(amount, prev *uint256.Int, changeEpoch, epoch uint64) (*uint256.Int, error) {
	switch {
	case changeEpoch == 0 || epoch >= changeEpoch:
		return amount, nil
	case epoch+1 == changeEpoch:
		return prev, nil
	default:
		return nil, fmt.Errorf("%w: epoch %d, last change in epoch %d", ErrEpochTooOld, epoch, changeEpoch-1)
	}
}

// EffectiveStake returns owner's stake effective at epoch: changes made
// during an epoch take effect at the next one, so staking and unstaking
// within one epoch changes nothing effective (snapshot semantics, no
// end-of-epoch hook needed). It answers for the epoch of the position's
// last change and any later epoch, in particular the state's current and
// next epochs; for earlier epochs it returns ErrEpochTooOld.
func EffectiveStake(s native.StateReader, owner common.Address, epoch uint64) (*uint256.Int, error) {
	base := positionBase(owner)
	return effectiveAt(
		native.LoadUint(s, native.StakingAddress, field(base, fieldAmount)),
		native.LoadUint(s, native.StakingAddress, field(base, fieldPrev)),
		native.LoadUint(s, native.StakingAddress, field(base, fieldChangeEpoch)).Uint64(),
		epoch)
}

// TotalStake returns the sum of all role positions' current amounts.
func TotalStake(s native.StateReader, role Role) *uint256.Int {
	if role >= NumRoles {
		return new(uint256.Int)
	}
	return native.LoadUint(s, native.StakingAddress, native.Slot(uint64(role)))
}

// TotalUnbonding returns the sum of all unbonding entries.
func TotalUnbonding(s native.StateReader) *uint256.Int {
	return native.LoadUint(s, native.StakingAddress, native.Slot(slotTotalUnbonding))
}

// OwnerCount returns the number of owners with a position.
func OwnerCount(s native.StateReader) uint64 {
	return native.LoadUint(s, native.StakingAddress, native.Slot(slotOwners)).Uint64()
}

// Owners returns the owners at [offset, offset+limit) of the owners list.
func Owners(s native.StateReader, offset, limit uint64) []common.Address {
	n := OwnerCount(s)
	if offset >= n {
		return nil
	}
	end := n
	if limit < n-offset {
		end = offset + limit
	}
	out := make([]common.Address, 0, end-offset)
	for i := offset; i < end; i++ {
		out = append(out, common.BytesToAddress(s.GetState(native.StakingAddress, ownerKey(i)).Bytes()))
	}
	return out
}

// SignerOwner returns the owner that claimed signer with setSigner, or
// false.
func SignerOwner(s native.StateReader, signer common.Address) (common.Address, bool) {
	v := s.GetState(native.StakingAddress, signerOwnerKey(signer))
	return common.BytesToAddress(v[:]), v != (common.Hash{})
}

// Validator is a validator-role position effective at an epoch.
type Validator struct {
	Owner    common.Address
	Signer   common.Address
	StakeWei *uint256.Int
}

// EffectiveValidators returns the validator-role positions with non-zero
// stake effective at epoch, largest stake first, ties by ascending owner
// address so every node derives the same order: the input of the
// validator-set change at epoch boundaries (read it from the boundary's
// parent state for the epoch that follows). It reads every position (at
// most MaxPositions). Errors wrap ErrEpochTooOld.
func EffectiveValidators(s native.StateReader, epoch uint64) ([]Validator, error) {
	var out []Validator
	for _, o := range Owners(s, 0, OwnerCount(s)) {
		p := PositionOf(s, o)
		if !p.HasRole || p.Role != RoleValidator {
			continue
		}
		amt, err := effectiveAt(p.AmountWei, p.PrevAmountWei, p.ChangeEpoch, epoch)
		if err != nil {
			return nil, fmt.Errorf("owner %s: %w", o, err)
		}
		if !amt.IsZero() {
			out = append(out, Validator{Owner: o, Signer: p.Signer, StakeWei: amt})
		}
	}
	slices.SortFunc(out, func(a, b Validator) int {
		if c := b.StakeWei.Cmp(a.StakeWei); c != 0 {
			return c
		}
		return bytes.Compare(a.Owner[:], b.Owner[:])
	})
	return out, nil
}
