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
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	emcparams "github.com/emc-network/emcd/params"
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

// Fork is one entry of emc_forks.
type Fork struct {
	// Name is the fork's key in the genesis "forks" object.
	Name string `json:"name"`
	// Description says what the fork changes.
	Description string `json:"description"`
	// Block is the fork's activation block; null when the chain does not
	// schedule it (it never activates).
	Block *hexutil.Uint64 `json:"block"`
	// Active: the chain's head executed under the fork.
	Active bool `json:"active"`
}

// Forks lists every fork this binary knows, oldest first, with the
// chain's schedule for it: what an operator checks before and after an
// upgrade (docs/operators.md, "Scheduling a fork").
func (api *emcAPI) Forks(ctx context.Context) ([]Fork, error) {
	states := emcparams.ForkStates(api.b.Forks(), api.b.CurrentHeader().Number.Uint64())
	out := make([]Fork, 0, len(states))
	for _, s := range states {
		e := Fork{Name: s.Name, Description: s.Doc, Active: s.Active}
		if s.Scheduled {
			b := hexutil.Uint64(s.Block)
			e.Block = &b
		}
		out = append(out, e)
	}
	return out, nil
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
//     that module runs, the jobs module's escrows) and of the supply ledger account.
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
// shares, its vested trade rewards, and their total (what claim() would
// pay); TradeVesting is trade rewards not vested yet (not in the total).
type Rewards struct {
	Node         *hexutil.Big `json:"node"`
	Staking      *hexutil.Big `json:"staking"`
	LongTerm     *hexutil.Big `json:"longTerm"`
	Trade        *hexutil.Big `json:"trade"`
	TradeVesting *hexutil.Big `json:"tradeVesting"`
	Total        *hexutil.Big `json:"total"`
}

// RewardsOf returns what address can claim from the rewards module at the
// given block (latest when absent). A chain without the module reports
// zeros, as for any empty account.
func (api *emcAPI) RewardsOf(ctx context.Context, address common.Address, bnh *rpc.BlockNumberOrHash) (*Rewards, error) {
	st, h, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	r := rewards.RewardsOf(st, address)
	tr := rewards.TradeRewardsAt(st, address, h.Number.Uint64())
	total := new(big.Int).Add(r.TotalWei.ToBig(), tr.VestedWei.ToBig())
	return &Rewards{
		Node:         (*hexutil.Big)(r.NodeWei.ToBig()),
		Staking:      (*hexutil.Big)(r.StakingWei.ToBig()),
		LongTerm:     (*hexutil.Big)(r.LongTermWei.ToBig()),
		Trade:        (*hexutil.Big)(tr.VestedWei.ToBig()),
		TradeVesting: (*hexutil.Big)(tr.UnvestedWei.ToBig()),
		Total:        (*hexutil.Big)(total),
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

// ComputeNodes is emc_computeNodes's answer: the compute registry at one
// block. Nodes holds at most MaxComputeNodesPage nodes from the requested
// offset, in registry order; TotalNodes counts them all. Routers lists
// every registered router (their table is bounded by the module).
type ComputeNodes struct {
	BlockNumber hexutil.Uint64       `json:"blockNumber"`
	TotalNodes  hexutil.Uint64       `json:"totalNodes"`
	Nodes       []ComputeNodeEntry   `json:"nodes"`
	Routers     []ComputeRouterEntry `json:"routers"`
}

// ComputeNodeEntry is one registered compute node: its registration data,
// prices in hex wei per GPU-second (cpuPrice: per second of a CPU-only job,
// 0x0 for none). LastSeenBlock is the block of its last on-chain update
// (registration, update or ping: registry.LastSeen), which the jobs module's
// liveness window is measured from. Live is the node's live status as a
// router sees it (heartbeats); it is always null until heartbeats exist.
// Score is the node's reliability score at the block (computing/score: 0
// to 1,000,000, 500,000 for a new node; the router avoids low scores) and
// History its last challenge outcomes, newest first ("verified", "failed"
// or "missed"; empty on a chain without the verify module). emc_computeNodes
// always sets both; they are null where a caller did not read them (the
// CLI's node status).
type ComputeNodeEntry struct {
	Owner           common.Address  `json:"owner"`
	PeerID          string          `json:"peerId"`
	InventoryHash   common.Hash     `json:"inventoryHash"`
	GPUCount        hexutil.Uint64  `json:"gpuCount"`
	GPUModel        string          `json:"gpuModel"`
	MemoryMiB       hexutil.Uint64  `json:"memoryMiB"`
	Simulated       bool            `json:"simulated"`
	Prices          []ComputePrice  `json:"prices"`
	CPUPrice        *hexutil.Big    `json:"cpuPrice"`
	Images          []common.Hash   `json:"images"`
	RegisteredBlock hexutil.Uint64  `json:"registeredBlock"`
	UpdatedBlock    hexutil.Uint64  `json:"updatedBlock"`
	LastSeenBlock   hexutil.Uint64  `json:"lastSeenBlock"`
	Live            *ComputeLive    `json:"live"`
	Score           *hexutil.Uint64 `json:"score"`
	History         []string        `json:"history"`
}

// ComputePrice is a node's price for one GPU model.
type ComputePrice struct {
	Model           string       `json:"model"`
	WeiPerGPUSecond *hexutil.Big `json:"weiPerGpuSecond"`
}

// ComputeLive is reserved for a node's live status from heartbeats; no
// field is defined until heartbeats exist, and emc_computeNodes reports it
// as null.
type ComputeLive struct{}

// ComputeRouterEntry is one registered router; Staked tells whether its
// router stake is at least the minimum at that block (an unstaked router
// stays registered but may not route).
type ComputeRouterEntry struct {
	Owner           common.Address `json:"owner"`
	PeerID          string         `json:"peerId"`
	RegisteredBlock hexutil.Uint64 `json:"registeredBlock"`
	Staked          bool           `json:"staked"`
}

// MaxComputeNodesPage bounds the nodes of one emc_computeNodes answer.
const MaxComputeNodesPage = 1000

// errNoRegistry is emc_computeNodes's error on a chain without the module.
var errNoRegistry = errors.New("the chain has no compute registry module")

// ComputeNodes returns the compute registry at the given block (latest when
// absent): up to MaxComputeNodesPage nodes from offset (0 when absent) and
// every router.
func (api *emcAPI) ComputeNodes(ctx context.Context, bnh *rpc.BlockNumberOrHash, offset *hexutil.Uint64) (*ComputeNodes, error) {
	mod := api.b.Registry()
	if mod == nil {
		return nil, errNoRegistry
	}
	st, h, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	number := h.Number.Uint64()
	from := uint64(0)
	if offset != nil {
		from = uint64(*offset)
	}
	out := &ComputeNodes{BlockNumber: hexutil.Uint64(number), Nodes: []ComputeNodeEntry{}, Routers: []ComputeRouterEntry{}}
	for done := uint64(0); done < MaxComputeNodesPage; {
		nodes, total, err := registry.Nodes(st, from+done, min(registry.MaxPage, MaxComputeNodesPage-done))
		if err != nil {
			return nil, err
		}
		out.TotalNodes = hexutil.Uint64(total)
		if len(nodes) == 0 {
			break
		}
		for i := range nodes {
			e := NodeEntry(&nodes[i])
			e.LastSeenBlock = hexutil.Uint64(registry.LastSeen(st, &nodes[i]))
			addScore(&e, st)
			out.Nodes = append(out.Nodes, e)
		}
		done += uint64(len(nodes))
	}
	for off := uint64(0); off < registry.MaxRouters; off += registry.MaxPage {
		owners, _ := registry.RouterOwners(st, off, registry.MaxPage)
		if len(owners) == 0 {
			break
		}
		for _, o := range owners {
			r, ok, err := registry.RouterOf(st, o)
			if err != nil || !ok {
				return nil, fmt.Errorf("router %s: registered %t: %w", o, ok, err)
			}
			out.Routers = append(out.Routers, ComputeRouterEntry{Owner: o, PeerID: peerString(r.PeerID),
				RegisteredBlock: hexutil.Uint64(r.RegisteredBlock), Staked: mod.RouterStaked(st, o, number)})
		}
	}
	return out, st.Error()
}

// NodeEntry is n in emc_computeNodes' form (Live null; LastSeenBlock its
// UpdatedBlock, which the caller raises to registry.LastSeen when it has
// the state; Score and History null, which addScore fills from the
// state).
func NodeEntry(n *registry.Node) ComputeNodeEntry {
	e := ComputeNodeEntry{
		Owner: n.Owner, PeerID: peerString(n.PeerID), InventoryHash: n.InventoryHash,
		GPUCount: hexutil.Uint64(n.GPUCount), GPUModel: n.GPUModel, MemoryMiB: hexutil.Uint64(n.MemoryMiB),
		Simulated: n.Simulated, Prices: []ComputePrice{}, CPUPrice: (*hexutil.Big)(n.CPUPriceWei.ToBig()),
		Images: []common.Hash{}, RegisteredBlock: hexutil.Uint64(n.RegisteredBlock), UpdatedBlock: hexutil.Uint64(n.UpdatedBlock),
		LastSeenBlock: hexutil.Uint64(n.UpdatedBlock),
	}
	for _, p := range n.Prices {
		e.Prices = append(e.Prices, ComputePrice{Model: p.Model, WeiPerGPUSecond: (*hexutil.Big)(p.WeiPerGPUSecond.ToBig())})
	}
	e.Images = append(e.Images, n.Images...)
	return e
}

// peerString spells a registered peer ID as libp2p does (base58); the
// registry only stores IDs that decode, so the hex fallback is for a
// corrupt state alone.
func peerString(b []byte) string {
	id, err := peer.IDFromBytes(b)
	if err != nil {
		return hexutil.Encode(b)
	}
	return id.String()
}

// Job is emc_getJob's answer: a job of the jobs module at one block,
// amounts in hex wei. State is one of submitted, assigned, running,
// completed, failed, expired, cancelled, disputed, settled. OfferedRouter
// is null until the router draw (and when no router was active at it);
// Router, Node and ResultHash are null until set. Deadline's unit depends
// on the state (see jobs.Job): an assign, accept or settle block, or the
// block time a result must beat while running. EscrowKind is "emc" (the
// escrow, cost, burn and refund are wei) or "credits" (escrowCredits,
// costCredits and refundCredits are Credits; cost and burned are the wei
// the spent Credits moved; escrow and refund are zero). A job with 0 GPUs
// is CPU-only: its prices are wei per second and gpuMillis milliseconds.
type Job struct {
	ID             hexutil.Uint64  `json:"id"`
	State          string          `json:"state"`
	Submitter      common.Address  `json:"submitter"`
	SpecHash       common.Hash     `json:"specHash"`
	Image          common.Hash     `json:"image"`
	GPUs           hexutil.Uint64  `json:"gpus"`
	GPUModel       string          `json:"gpuModel"`
	MinMemoryMiB   hexutil.Uint64  `json:"minMemoryMiB"`
	TimeoutSeconds hexutil.Uint64  `json:"timeoutSeconds"`
	MaxPrice       *hexutil.Big    `json:"maxPriceWeiPerGpuSecond"`
	Escrow         *hexutil.Big    `json:"escrow"`
	SubmitBlock    hexutil.Uint64  `json:"submitBlock"`
	OfferedRouter  *common.Address `json:"offeredRouter"`
	OfferEndBlock  hexutil.Uint64  `json:"offerEndBlock"`
	Router         *common.Address `json:"router"`
	Node           *common.Address `json:"node"`
	Price          *hexutil.Big    `json:"priceWeiPerGpuSecond"`
	Attempts       hexutil.Uint64  `json:"attempts"`
	Deadline       hexutil.Uint64  `json:"deadline"`
	ResultHash     *common.Hash    `json:"recordSHA256"`
	GPUMillis      hexutil.Uint64  `json:"gpuMillis"`
	Exit           int32           `json:"exit"`
	Cost           *hexutil.Big    `json:"cost"`
	Burned         *hexutil.Big    `json:"burned"`
	Refund         *hexutil.Big    `json:"refund"`
	EndBlock       hexutil.Uint64  `json:"endBlock"`
	EscrowKind     string          `json:"escrowKind"`
	EscrowCredits  *hexutil.Big    `json:"escrowCredits"`
	CostCredits    *hexutil.Big    `json:"costCredits"`
	RefundCredits  *hexutil.Big    `json:"refundCredits"`
}

// GetJob returns job id at the given block (latest when absent), null when
// there is no such job (also on a chain without the jobs module).
func (api *emcAPI) GetJob(ctx context.Context, id hexutil.Uint64, bnh *rpc.BlockNumberOrHash) (*Job, error) {
	st, _, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	j, ok, err := jobs.JobOf(st, uint64(id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, st.Error()
	}
	return JobEntry(&j), st.Error()
}

// JobEntry is j in emc_getJob's form.
func JobEntry(j *jobs.Job) *Job {
	hb := func(v *uint256.Int) *hexutil.Big {
		if v == nil {
			return (*hexutil.Big)(new(big.Int))
		}
		return (*hexutil.Big)(v.ToBig())
	}
	addr := func(a common.Address) *common.Address {
		if a == (common.Address{}) {
			return nil
		}
		return &a
	}
	e := &Job{
		ID: hexutil.Uint64(j.ID), State: j.State.String(), Submitter: j.Submitter, SpecHash: j.SpecHash, Image: j.Image,
		GPUs: hexutil.Uint64(j.GPUs), GPUModel: j.GPUModel, MinMemoryMiB: hexutil.Uint64(j.MinMemoryMiB),
		TimeoutSeconds: hexutil.Uint64(j.TimeoutSeconds), MaxPrice: hb(j.MaxPriceWei), Escrow: hb(j.EscrowWei),
		SubmitBlock: hexutil.Uint64(j.SubmitBlock), OfferedRouter: addr(j.OfferedRouter),
		OfferEndBlock: hexutil.Uint64(j.OfferEndBlock), Router: addr(j.Router), Node: addr(j.Node), Price: hb(j.PriceWei),
		Attempts: hexutil.Uint64(j.Attempts), Deadline: hexutil.Uint64(j.Deadline), GPUMillis: hexutil.Uint64(j.GPUMillis),
		Exit: j.ExitCode(), Cost: hb(j.CostWei), Burned: hb(j.BurnedWei), Refund: hb(j.RefundWei), EndBlock: hexutil.Uint64(j.EndBlock),
		EscrowKind: "emc", EscrowCredits: hb(j.EscrowCredits), CostCredits: hb(j.CostCredits), RefundCredits: hb(j.RefundCredits),
	}
	if j.InCredits() {
		e.EscrowKind = "credits"
	}
	if j.ResultHash != (common.Hash{}) {
		h := j.ResultHash
		e.ResultHash = &h
	}
	return e
}

// MaxJobsPage bounds the ids one emc_jobs call reads (its limit).
const MaxJobsPage = jobs.MaxPage

// JobsFilter is emc_jobs' filter. Owner, when set, lists that submitter's
// jobs in submission order; otherwise every job by id. Offset and Limit
// page that list (Limit 0 means MaxJobsPage; more is an error). State,
// when set, keeps only the page's jobs in that state (a state name as
// emc_getJob spells it), so a page may hold fewer than Limit jobs: page on
// with NextOffset.
type JobsFilter struct {
	Owner  *common.Address `json:"owner"`
	State  *string         `json:"state"`
	Offset hexutil.Uint64  `json:"offset"`
	Limit  hexutil.Uint64  `json:"limit"`
}

// Jobs is emc_jobs' answer. Total counts the listed set (the owner's jobs,
// or every job) before the state filter; NextOffset is the offset of the
// next page (equal to Total when this page reached the end).
type Jobs struct {
	BlockNumber hexutil.Uint64 `json:"blockNumber"`
	Total       hexutil.Uint64 `json:"total"`
	NextOffset  hexutil.Uint64 `json:"nextOffset"`
	Jobs        []*Job         `json:"jobs"`
}

// Jobs lists jobs of the jobs module at the given block (latest when
// absent), each in emc_getJob's form; see JobsFilter.
func (api *emcAPI) Jobs(ctx context.Context, filter JobsFilter, bnh *rpc.BlockNumberOrHash) (*Jobs, error) {
	limit := uint64(filter.Limit)
	switch {
	case limit == 0:
		limit = MaxJobsPage
	case limit > MaxJobsPage:
		return nil, invalidParams("limit %d: at most %d", limit, MaxJobsPage)
	}
	q := jobs.Query{Owner: filter.Owner, Offset: uint64(filter.Offset), Limit: limit}
	if filter.State != nil {
		want, err := jobs.ParseState(*filter.State)
		if err != nil {
			return nil, invalidParams("unknown job state %q", *filter.State)
		}
		q.State = want
	}
	st, h, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	page, err := jobs.List(st, q)
	if err != nil {
		return nil, err
	}
	out := &Jobs{BlockNumber: hexutil.Uint64(h.Number.Uint64()), Total: hexutil.Uint64(page.Total),
		NextOffset: hexutil.Uint64(page.NextOffset), Jobs: []*Job{}}
	for i := range page.Jobs {
		out.Jobs = append(out.Jobs, JobEntry(&page.Jobs[i]))
	}
	return out, st.Error()
}
