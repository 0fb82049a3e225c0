package jsonrpc

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// emcAPI serves the emc namespace: chain-native modules and consensus.
type emcAPI struct{ b Backend }

// SystemContracts lists each chain-native module's name, address and ABI.
func (api *emcAPI) SystemContracts(ctx context.Context) ([]SystemContract, error) {
	sc := api.b.SystemContracts()
	if sc == nil {
		sc = []SystemContract{}
	}
	return sc, nil
}

// ConsensusStatus returns the consensus engine's view (height, round,
// validators), as the node reports it.
func (api *emcAPI) ConsensusStatus(ctx context.Context) (any, error) {
	return api.b.ConsensusStatus()
}

// Evidence is one equivocation as emc_evidence reports it: the offending
// validator, the view it signed twice, and the evidence's canonical RLP
// encoding (what a slashing transaction carries).
type Evidence struct {
	Validator common.Address `json:"validator"`
	Code      string         `json:"code"`
	Height    hexutil.Uint64 `json:"height"`
	Round     hexutil.Uint64 `json:"round"`
	Data      hexutil.Bytes  `json:"data"`
}

// Evidence returns the equivocation evidence this node's consensus engine
// saw (bounded, newest last).
func (api *emcAPI) Evidence(ctx context.Context) ([]Evidence, error) {
	ev, err := api.b.Evidence()
	if ev == nil && err == nil {
		ev = []Evidence{}
	}
	return ev, err
}

// CreditsOf returns address's unspent Credits (whole units, hex like
// eth_getBalance) at the given block (latest when absent), read through the
// credits module's accessor on a state opened for this request alone. A
// chain without the credits module reports zero, as for any empty account.
func (api *emcAPI) CreditsOf(ctx context.Context, address common.Address, bnh *rpc.BlockNumberOrHash) (*hexutil.Big, error) {
	st, _, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	return (*hexutil.Big)(credits.CreditsOf(st, address).ToBig()), st.Error()
}

// Supply is emc_supply's answer, all amounts in wei as hex like
// eth_getBalance, at one block:
//
//   - Total is the genesis total supply (totalSupplyWei): nothing is minted.
//
//   - Burned is every wei burned so far (the supply ledger), and
//     BurnedBaseFee, BurnedRent and BurnedSlash its parts by kind: the
//     EIP-1559 base fee, the burned 20 % of Credits spent, slashed stake.
//
//   - ModuleHeld is Σ balances of the chain-native module accounts (the
//     staking module's stakes, the credits reserve, the rewards pools once
//     that module runs) and of the supply ledger account.
//
//   - Circulating = Total − Burned − ModuleHeld: the balances of every
//     other account, genesis ecosystem and reserve accounts included.
//
//   - Pools are the rewards module's four pools as the issue names them
//     (nodeRewards, tradeRewards, staking, longTermStaking); null on a
//     chain without the rewards module.
type Supply struct {
	BlockNumber   hexutil.Uint64 `json:"blockNumber"`
	Total         *hexutil.Big   `json:"total"`
	Burned        *hexutil.Big   `json:"burned"`
	BurnedBaseFee *hexutil.Big   `json:"burnedBaseFee"`
	BurnedRent    *hexutil.Big   `json:"burnedRent"`
	BurnedSlash   *hexutil.Big   `json:"burnedSlash"`
	ModuleHeld    *hexutil.Big   `json:"moduleHeld"`
	Circulating   *hexutil.Big   `json:"circulating"`
	Pools         *SupplyPools   `json:"pools"`
}

// SupplyPools are the rewards module's pools in emc_supply.
type SupplyPools struct {
	NodeRewards     *hexutil.Big `json:"nodeRewards"`
	TradeRewards    *hexutil.Big `json:"tradeRewards"`
	Staking         *hexutil.Big `json:"staking"`
	LongTermStaking *hexutil.Big `json:"longTermStaking"`
}

// Supply returns the supply view at the given block (latest when absent).
// A state where burned and module-held wei exceed the total breaks the
// supply invariant: it is reported as an error, never as a negative amount.
func (api *emcAPI) Supply(ctx context.Context, bnh *rpc.BlockNumberOrHash) (*Supply, error) {
	st, h, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	total := api.b.TotalSupply()
	burned := native.BurnedTotal(st).ToBig()
	held := st.GetBalance(native.SupplyAddress).ToBig()
	for _, c := range api.b.SystemContracts() {
		held.Add(held, st.GetBalance(c.Address).ToBig())
	}
	if err := st.Error(); err != nil {
		return nil, err
	}
	circ := new(big.Int).Sub(total, burned)
	circ.Sub(circ, held)
	if circ.Sign() < 0 {
		return nil, fmt.Errorf("supply invariant broken at block %d: burned %s and module-held %s wei exceed the total %s",
			h.Number.Uint64(), burned, held, total)
	}
	var pools *SupplyPools
	if api.b.Rewards() != nil {
		p := rewards.PoolsOf(st)
		pools = &SupplyPools{
			NodeRewards: (*hexutil.Big)(p.NodeWei.ToBig()), TradeRewards: (*hexutil.Big)(p.TradeWei.ToBig()),
			Staking: (*hexutil.Big)(p.StakingWei.ToBig()), LongTermStaking: (*hexutil.Big)(p.LongTermWei.ToBig()),
		}
	}
	return &Supply{
		Pools:         pools,
		BlockNumber:   hexutil.Uint64(h.Number.Uint64()),
		Total:         (*hexutil.Big)(total),
		Burned:        (*hexutil.Big)(burned),
		BurnedBaseFee: (*hexutil.Big)(native.Burned(st, native.BurnBaseFee).ToBig()),
		BurnedRent:    (*hexutil.Big)(native.Burned(st, native.BurnRent).ToBig()),
		BurnedSlash:   (*hexutil.Big)(native.Burned(st, native.BurnSlash).ToBig()),
		ModuleHeld:    (*hexutil.Big)(held),
		Circulating:   (*hexutil.Big)(circ),
	}, nil
}

// StakeEntry is one unbonding entry in emc_stakeOf.
type StakeEntry struct {
	Amount       *hexutil.Big   `json:"amount"`
	ReleaseEpoch hexutil.Uint64 `json:"releaseEpoch"`
}

// StakePosition is emc_stakeOf's answer: an owner's staking position.
// Role is null for an owner without a position. Amount is the stake now; it
// is effective from epoch EffectiveFrom on, and PreviousAmount before (the
// snapshot rule: a change counts from the epoch after it). Lock is the lock
// term's index (0 none, 1 7d, 2 30d, 3 90d, 4 180d), LockName its name.
type StakePosition struct {
	Role           *string        `json:"role"`
	Amount         *hexutil.Big   `json:"amount"`
	PreviousAmount *hexutil.Big   `json:"previousAmount"`
	EffectiveFrom  hexutil.Uint64 `json:"effectiveFrom"`
	Lock           hexutil.Uint64 `json:"lock"`
	LockName       string         `json:"lockName"`
	UnlockEpoch    hexutil.Uint64 `json:"unlockEpoch"`
	Signer         common.Address `json:"signer"`
	Unbonding      []StakeEntry   `json:"unbonding"`
	// Jailed is true once the position was slashed for double signing:
	// it never validates again.
	Jailed bool `json:"jailed"`
}

// LockNames returns the lock terms' names, indexed by rewards.Lock, as
// emc_stakeOf and the CLI spell them.
func LockNames() [rewards.NumLocks]string {
	return [rewards.NumLocks]string{"0", "7d", "30d", "90d", "180d"}
}

// StakeOf returns address's staking position at the given block (latest
// when absent), read through the staking module's accessor on a state
// opened for this request alone; amounts in hex wei, epochs in hex.
func (api *emcAPI) StakeOf(ctx context.Context, address common.Address, bnh *rpc.BlockNumberOrHash) (*StakePosition, error) {
	st, _, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	p := staking.PositionOf(st, address)
	out := &StakePosition{
		Amount:         (*hexutil.Big)(p.AmountWei.ToBig()),
		PreviousAmount: (*hexutil.Big)(p.PrevAmountWei.ToBig()),
		EffectiveFrom:  hexutil.Uint64(p.ChangeEpoch),
		Lock:           hexutil.Uint64(p.Lock),
		UnlockEpoch:    hexutil.Uint64(p.UnlockEpoch),
		Signer:         p.Signer,
		Unbonding:      []StakeEntry{},
		Jailed:         p.Jailed,
	}
	if p.Lock < rewards.NumLocks {
		out.LockName = LockNames()[p.Lock]
	}
	if p.HasRole {
		r := p.Role.String()
		out.Role = &r
	}
	for _, u := range p.Unbonding {
		out.Unbonding = append(out.Unbonding, StakeEntry{Amount: (*hexutil.Big)(u.AmountWei.ToBig()), ReleaseEpoch: hexutil.Uint64(u.ReleaseEpoch)})
	}
	return out, st.Error()
}

// ValidatorEntry is one validator in emc_validators: its consensus address
// (the signer), the owner of its staking position (null for a validator
// without one, such as a dev chain's fixed signer), the position's stake
// now in hex wei, its lock and the lock's reward multiplier in basis
// points (10000 = 1×), and whether it is jailed.
type ValidatorEntry struct {
	Address           common.Address  `json:"address"`
	Owner             *common.Address `json:"owner"`
	Stake             *hexutil.Big    `json:"stake"`
	Lock              hexutil.Uint64  `json:"lock"`
	LockMultiplierBps hexutil.Uint64  `json:"lockMultiplierBps"`
	Jailed            bool            `json:"jailed"`
}

// Validators returns the validator set in force after the given block
// (latest when absent): the set that certifies the blocks that follow it,
// in set order, with each validator's staking position read from that
// block's state.
func (api *emcAPI) Validators(ctx context.Context, bnh *rpc.BlockNumberOrHash) ([]ValidatorEntry, error) {
	st, h, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	set, err := api.b.ValidatorsAfter(h.Number.Uint64())
	if err != nil {
		return nil, toRPCError(err)
	}
	locks := rewards.DefaultLockParams()
	out := make([]ValidatorEntry, 0, len(set))
	for _, v := range set {
		e := ValidatorEntry{Address: v, Stake: (*hexutil.Big)(new(big.Int))}
		if owner, ok := staking.OwnerOfSigner(st, v); ok {
			p := staking.PositionOf(st, owner)
			e.Owner = &owner
			e.Stake = (*hexutil.Big)(p.AmountWei.ToBig())
			e.Lock = hexutil.Uint64(p.Lock)
			if t, err := locks.Term(p.Lock); err == nil {
				e.LockMultiplierBps = hexutil.Uint64(t.MultiplierBps)
			}
			e.Jailed = p.Jailed
		}
		out = append(out, e)
	}
	return out, st.Error()
}

// Rewards is emc_rewardsOf's answer: what an owner can claim now, in hex
// wei: node rewards accrued, its staking and long-term staking pool
// shares, and their total (what claim() would pay).
type Rewards struct {
	Node     *hexutil.Big `json:"node"`
	Staking  *hexutil.Big `json:"staking"`
	LongTerm *hexutil.Big `json:"longTerm"`
	Total    *hexutil.Big `json:"total"`
}

// RewardsOf returns what address can claim from the rewards module at the
// given block (latest when absent). A chain without the module reports
// zeros, as for any empty account.
func (api *emcAPI) RewardsOf(ctx context.Context, address common.Address, bnh *rpc.BlockNumberOrHash) (*Rewards, error) {
	st, _, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	r := rewards.RewardsOf(st, address)
	return &Rewards{
		Node:     (*hexutil.Big)(r.NodeWei.ToBig()),
		Staking:  (*hexutil.Big)(r.StakingWei.ToBig()),
		LongTerm: (*hexutil.Big)(r.LongTermWei.ToBig()),
		Total:    (*hexutil.Big)(r.TotalWei.ToBig()),
	}, st.Error()
}

// EpochInfo is emc_epochInfo's answer: the reward epoch of a block (blocks
// firstBlock … lastBlock), its emission period, the node reward it emits
// by the schedule (hex wei), the last settlement and the pools.
type EpochInfo struct {
	Epoch       hexutil.Uint64 `json:"epoch"`
	FirstBlock  hexutil.Uint64 `json:"firstBlock"`
	LastBlock   hexutil.Uint64 `json:"lastBlock"`
	Period      hexutil.Uint64 `json:"period"`
	EpochReward *hexutil.Big   `json:"epochReward"`
	// LastSettled is the last reward epoch settled (null before the
	// first) and LastReward what it distributed (emission + carried dust).
	LastSettled *hexutil.Uint64 `json:"lastSettled"`
	LastReward  *hexutil.Big    `json:"lastReward"`
	Pools       RewardPools     `json:"pools"`
}

// RewardPools are the rewards module's pools in hex wei; Accrued is node
// rewards owed to owners and not claimed.
type RewardPools struct {
	Node     *hexutil.Big `json:"node"`
	NodeDust *hexutil.Big `json:"nodeDust"`
	Trade    *hexutil.Big `json:"trade"`
	Staking  *hexutil.Big `json:"staking"`
	LongTerm *hexutil.Big `json:"longTerm"`
	Accrued  *hexutil.Big `json:"accrued"`
}

// errNoRewards is emc_epochInfo's error on a chain without the module.
var errNoRewards = errors.New("the chain has no rewards module")

// EpochInfo returns the reward epoch of the given block (latest when
// absent) as the rewards module sees it in that block's state.
func (api *emcAPI) EpochInfo(ctx context.Context, bnh *rpc.BlockNumberOrHash) (*EpochInfo, error) {
	mod := api.b.Rewards()
	if mod == nil {
		return nil, errNoRewards
	}
	st, h, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	info, err := mod.EpochInfo(st, h.Number.Uint64())
	if err != nil {
		return nil, err
	}
	p := rewards.PoolsOf(st)
	hb := func(v *uint256.Int) *hexutil.Big { return (*hexutil.Big)(v.ToBig()) }
	out := &EpochInfo{
		Epoch: hexutil.Uint64(info.Epoch), FirstBlock: hexutil.Uint64(info.FirstBlock),
		LastBlock: hexutil.Uint64(info.LastBlock), Period: hexutil.Uint64(info.Period),
		EpochReward: hb(info.EpochRewardWei),
		Pools: RewardPools{Node: hb(p.NodeWei), NodeDust: hb(p.NodeDustWei), Trade: hb(p.TradeWei),
			Staking: hb(p.StakingWei), LongTerm: hb(p.LongTermWei), Accrued: hb(rewards.AccruedTotal(st))},
	}
	if k, rw, ok := rewards.LastSettlement(st); ok {
		e := hexutil.Uint64(k)
		out.LastSettled, out.LastReward = &e, hb(rw)
	}
	return out, st.Error()
}
