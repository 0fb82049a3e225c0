package staking

import (
	"fmt"
	"slices"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
)

var _ native.GenesisState = (*Module)(nil)

// GenesisState implements native.GenesisState: the genesisStakes param's
// positions in the module's storage exactly as stake() (the given role and
// lock) and setSigner() would leave them, except that they are effective
// from epoch 0 (changeEpoch 0, no previous amount); the role totals and
// the owners list in the params' order; the balance is the sum of the
// stakes. Params validation guarantees the sum fits and the
// signers are unique.
func (m *Module) GenesisState() (*uint256.Int, map[common.Hash]common.Hash) {
	if len(m.params.GenesisStakes) == 0 {
		return nil, nil
	}
	st := make(map[common.Hash]common.Hash)
	put := func(k common.Hash, v *uint256.Int) {
		if !v.IsZero() {
			st[k] = v.Bytes32()
		}
	}
	total := new(uint256.Int)
	var roleTotal [NumRoles]uint256.Int
	for i, g := range m.params.GenesisStakes {
		base := positionBase(g.Owner)
		md := meta{hasRole: true, role: g.Role, lock: g.Lock, unlockEpoch: m.params.GenesisUnlockEpoch(g)}
		put(field(base, fieldAmount), g.AmountWei)
		put(field(base, fieldMeta), md.encode())
		if s := g.signerOrOwner(); s != g.Owner {
			st[field(base, fieldSigner)] = native.AddressKey(s)
			st[signerOwnerKey(s)] = native.AddressKey(g.Owner)
		}
		st[ownerKey(uint64(i))] = native.AddressKey(g.Owner)
		put(ownerIndexKey(g.Owner), uint256.NewInt(uint64(i)+1))
		total.Add(total, g.AmountWei)
		roleTotal[g.Role].Add(&roleTotal[g.Role], g.AmountWei)
	}
	for r := range roleTotal {
		put(native.Slot(uint64(r)), &roleTotal[r])
	}
	put(native.Slot(slotOwners), uint256.NewInt(uint64(len(m.params.GenesisStakes))))
	return total.Clone(), st
}

// mapState is a native.StateReader over the module's genesis storage.
type mapState struct {
	storage map[common.Hash]common.Hash
	balance *uint256.Int
}

func (s mapState) GetState(addr common.Address, key common.Hash) common.Hash {
	if addr != native.StakingAddress {
		return common.Hash{}
	}
	return s.storage[key]
}

func (s mapState) GetBalance(addr common.Address) *uint256.Int {
	if addr != native.StakingAddress || s.balance == nil {
		return new(uint256.Int)
	}
	return s.balance.Clone()
}

// GenesisValidators is the validator set [Module.NextValidators] picks from
// the genesis state, in set order; nil when the params seed no validator
// stakes (dev chains keep their fixed signer).
func (m *Module) GenesisValidators() ([]common.Address, error) {
	if !m.genesisValidatorStakes() {
		return nil, nil
	}
	bal, st := m.GenesisState()
	return m.NextValidators(mapState{st, bal}, 0)
}

// genesisValidatorStakes tells whether the params seed a validator stake.
func (m *Module) genesisValidatorStakes() bool {
	for _, g := range m.params.GenesisStakes {
		if g.Role == RoleValidator {
			return true
		}
	}
	return false
}

// CheckGenesisValidators checks that a genesis whose staking params seed
// validator stakes lists, as its validators, exactly (as a set) those the
// stakes elect at genesis. Without genesis validator stakes (none, or
// routers only) any set is accepted.
func (m *Module) CheckGenesisValidators(validators []common.Address) error {
	if !m.genesisValidatorStakes() {
		return nil
	}
	want, err := m.GenesisValidators()
	if err != nil {
		return err
	}
	if len(want) == 0 {
		return fmt.Errorf("staking: genesis stakes elect no validator set: fewer than minValidators (%d) eligible", m.params.MinValidators)
	}
	a, b := slices.Clone(validators), slices.Clone(want)
	cmp := func(x, y common.Address) int { return x.Cmp(y) }
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	if !slices.Equal(a, b) {
		return fmt.Errorf("staking: genesis validators %v differ from the set the genesis stakes elect %v", validators, want)
	}
	return nil
}
