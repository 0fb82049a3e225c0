package staking

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// SlashComputeGas bounds [SlashCompute]'s work, for the module method that
// calls it to declare: the double-sign slash's base (the position, the
// totals, the owners list, the rewards weight update and the trade-reward
// forfeit) and every unbonding entry the largest maxUnbonding param allows,
// plus the payment of the take to the calling module (9,000).
const SlashComputeGas = ReportDoubleSignBaseGas + maxMaxUnbonding*WithdrawGasPerEntry + 9_000

// ErrNotModule is returned by [SlashCompute] when the caller is not another
// chain-native module.
var ErrNotModule = errors.New("staking: SlashCompute is for chain-native modules")

// SlashCompute is the staking module's host API for the compute jobs
// module: it slashes owner's compute position (role 2) by bps basis points
// (rounded down) of its stake and of each unbonding entry, as
// reportDoubleSign does for validators (snapshot rule, a position left
// empty removed, the rewards module told, the owner's unvested trade
// rewards forfeited), and pays the amount taken to the calling module c
// (c.Module), which decides where it goes (it must burn or pay out all of
// it). An owner without a compute position (none, or another role) loses
// nothing: zero is returned. The position is not jailed here: the jobs
// module keeps compute jails. epochLength is the chain's epoch length (the
// staking params'). The calling method declares SlashComputeGas.
func SlashCompute(c *native.Call, owner common.Address, bps, epochLength uint64) (*uint256.Int, error) {
	if c == nil || c.Module == native.StakingAddress || !native.IsReserved(c.Module) {
		return nil, ErrNotModule
	}
	if bps > bpsDenominator || epochLength == 0 {
		return nil, fmt.Errorf("%w: staking: slash of %d bps, epoch length %d", native.ErrInternal, bps, epochLength)
	}
	if role, ok := RoleOf(c.State, owner); !ok || role != RoleCompute {
		return new(uint256.Int), nil
	}
	parsed, err := parsedABI()
	if err != nil {
		return nil, fmt.Errorf("%w: staking: ABI: %w", native.ErrInternal, err)
	}
	h := c.Host(native.StakingAddress, &parsed)
	p := posView{h, positionBase(owner)}
	if p.load(fieldAmount).IsZero() && p.load(fieldUnbonding).IsZero() {
		return new(uint256.Int), nil
	}
	snap := beforeChange(h, owner)
	cut, err := slashPosition(h, owner, Epoch(c.BlockNumber, epochLength), bps)
	if err != nil {
		return nil, err
	}
	if err := afterChange(h, owner, snap); err != nil {
		return nil, err
	}
	if _, err := rewards.ForfeitTrade(h, owner); err != nil {
		return nil, fmt.Errorf("staking: trade rewards of %s: %w", owner, err)
	}
	if !cut.IsZero() {
		if err := h.Pay(c.Module, cut); err != nil {
			return nil, err
		}
	}
	return cut, nil
}
