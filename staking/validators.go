package staking

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/state/native"
)

var _ native.ValidatorSource = (*Module)(nil)

// NextValidators implements native.ValidatorSource: the validator set of
// the epoch that boundary block number starts, read from the state s of its
// parent. Eligible are the validator-role positions whose stake effective
// at that epoch is at least the validator minimum and that are not jailed;
// each contributes its signer. The set is the first K eligible in
// [EffectiveValidators] order (stake descending, owner ascending), K the
// largest 3F+1 at most min(eligible, maxValidators), so that every
// validator counts towards a quorum of 2F+1 without waste. With fewer than
// minValidators eligible it returns nil: the current set stays.
func (m *Module) NextValidators(s native.StateReader, number uint64) ([]common.Address, error) {
	vs, err := m.eligible(s, Epoch(number, m.params.EpochLength))
	if err != nil {
		return nil, fmt.Errorf("staking: validator set for block %d: %w", number, err)
	}
	if uint64(len(vs)) < m.params.MinValidators {
		return nil, nil
	}
	k := SetSize(uint64(len(vs)), m.params.MaxValidators)
	out := make([]common.Address, k)
	for i := range out {
		out[i] = vs[i].Signer
	}
	return out, nil
}

// SetSize is the size of a validator set chosen from eligible candidates
// under a cap of maxValidators: the largest 3F+1 at most min(eligible,
// maxValidators), or 0 when that minimum is 0.
func SetSize(eligible, maxValidators uint64) uint64 {
	n := min(eligible, maxValidators)
	if n == 0 {
		return 0
	}
	return (n-1)/3*3 + 1
}

// eligible returns the validators of epoch in set order that may join the
// set: stake effective at epoch at least the validator minimum, not jailed.
func (m *Module) eligible(s native.StateReader, epoch uint64) ([]Validator, error) {
	all, err := EffectiveValidators(s, epoch)
	if err != nil {
		return nil, err
	}
	min := m.params.MinStakeWei[RoleValidator]
	out := all[:0]
	for _, v := range all {
		if !v.StakeWei.Lt(min) && !Jailed(s, v.Owner) {
			out = append(out, v)
		}
	}
	return out, nil
}

// OwnerOfSigner returns the owner of the validator-role position whose
// consensus signer is signer: the owner that claimed signer with
// setSigner, else signer itself when it owns a validator position with no
// other signer set. ok is false when no validator position (or jailed
// one, which may be empty) signs as signer.
func OwnerOfSigner(s native.StateReader, signer common.Address) (owner common.Address, ok bool) {
	owner = signer
	if o, claimed := SignerOwner(s, signer); claimed {
		owner = o
	}
	if signerOf(s, owner) != signer {
		return common.Address{}, false
	}
	md := decodeMeta(native.LoadUint(s, native.StakingAddress, field(positionBase(owner), fieldMeta)))
	if md.hasRole && md.role != RoleValidator || !md.hasRole && !Jailed(s, owner) {
		return common.Address{}, false
	}
	return owner, true
}
