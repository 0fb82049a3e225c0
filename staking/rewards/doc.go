// Package rewards is the reward arithmetic of the EMC economics and the
// rewards module that applies it on chain.
//
// # The module
//
// [Module] (module.go) is the chain-native module at native.RewardsAddress.
// Its block hooks count each block's commit seals per reward epoch,
// record each epoch's validator set with owners and stakes, settle the
// node reward of each epoch once ([Module.BeginBlock]) and distribute the
// staking pools' budgets (stakepool.go); owners claim with claim(). Other
// modules add proof-of-work credits with [Module.AddCredits]; the staking
// module reports position changes with [PositionChanged]. The jobs module
// reports the market's work (trade.go): [Module.RewardTrade] pays the
// trade reward of a settled job from the trade pool (≤ the fee burned,
// capped per account, pair and epoch, vesting), [Module.RouterAccepted]
// and [Module.ComputeJobDone] add router and compute credits; a slash
// forfeits unvested trade rewards ([ForfeitTrade]). The verification
// module takes back an epoch's credits of a node that failed its challenge
// ([Module.ForfeitComputeCredits]) and of a router that failed its relay
// probes ([Module.ForfeitRouterCredits]). state.go has the
// storage layout; docs/economics.md, "The rewards module", the rules and a
// worked example. Solidity interface:
//
//	function claim() returns (uint256 amount);
//	function rewardsOf(address owner) view returns (uint256 node, uint256 staking, uint256 longTerm, uint256 total);
//	function tradeRewardsOf(address owner) view returns (uint256 vested, uint256 unvested, uint64 nextVestEpoch);
//	function pools() view returns (uint256 node, uint256 nodeDust, uint256 trade, uint256 staking, uint256 longTerm, uint256 accrued);
//	function epochInfo() view returns (uint64 epoch, uint64 firstBlock, uint64 lastBlock, uint64 period, uint256 epochReward);
//	event Claimed(address indexed owner, uint256 amount);
//	event TradeRewarded(address indexed user, address indexed provider, uint256 userAmount, uint256 providerAmount, uint64 vestEpoch);
//	event TradeForfeited(address indexed owner, uint256 amount);
//
// claim() pays node rewards, staking rewards and vested trade rewards;
// rewardsOf's total leaves trade rewards out (tradeRewardsOf has them).
//
// # The arithmetic
//
// The rest of the package is pure,
// deterministic integer functions and plain structs that the economics
// modules (node rewards, staking rewards) call and store. That part holds no state
// of its own, reads no clock and touches no StateDB; every amount is wei in
// a *big.Int, every division names its rounding direction, and every
// function that takes money either conserves it exactly or returns the
// remainder explicitly (dust, unpaid). docs/economics.md states the rules
// with worked examples that the tests of this package pin.
//
// Start reading at [Schedule] (emission.go), then [DistributeNodeRewards]
// (distribute.go), then [Pool] (pool.go), then trade.go (trade rewards:
// [Schedule.TradeReward], [TradeParams]).
//
// # Node-reward emission (white paper, "Node rewards")
//
// Epochs are numbered from 0. Decay period n (from 1) lasts PeriodEpochs
// (90) epochs for n = 1…PeriodsPerGroup (4); each later group of four
// periods lasts twice as long per period (periods 5–8: 180 epochs, 9–12:
// 360, …). [Schedule.PeriodOf] finds an epoch's period in O(1) from the bit
// length of epoch/360 + 1. R(1) = 4,500,000 EMC and, for n ≥ 2,
//
//	R(n) = ⌊ R(n−1) · (n+1)^n · 10000 / (n^n · 31416) ⌋
//
// which is R(n−1)·df(n) with df(n) = (1+1/n)^n / π, π = 3.1416, computed
// as an exact fraction with a single round-down per step. Each epoch of
// period n pays r(n) = ⌊R(n)/90⌋ (round down) from the 100,000,000 EMC
// pool until the pool is spent; the epoch that spends it pays the remainder
// only ([Schedule.EpochEmission]). R(n) is computed once, up to the first
// R(n) that rounds to 0, by [NewSchedule].
//
// # Node-reward distribution
//
// [DistributeNodeRewards] gives node i ⌊r · E_i·s_i / Σ_j E_j·s_j⌋ (round
// down), E its credits for the epoch and s its role stake at the snapshot;
// nodes with no credits or no stake are left out, the rounding dust is
// returned to carry into the next epoch, and when nobody is eligible the
// whole reward is returned as unpaid (it stays in the pool). Credits
// ([CreditParams]): a validator earns 200 when [ValidatorEarnsCredits]
// (seals in ≥ 2/3 of the epoch's certificates, compared exactly), a router
// 20, a compute node 10 per verified task up to a per-epoch cap.
//
// # Staking rewards
//
// A [Pool] keeps the "reward per unit of weight" accumulator of MasterChef
// and Cosmos F1 distribution: Distribute raises AccPerWeight by
// ⌊(budget·10^36 + dust) / TotalWeight⌋, a position is owed its weight
// times the rise since it last settled, and nothing walks the positions.
// The division remainder is kept as DustScaled and joins the next budget;
// sub-wei credit stays with the position; so Σ budgets distributed equals
// paid + owed + dust exactly. A position's weight is stake × the lock's
// multiplier in basis points ([LockParams.Weight]: none 1×, 7 days 1.4×,
// 30 days 2.7×, 90 days 6.2×, 180 days 10×, lock lengths in epochs). The
// long-term pool is a second Pool that only locks of 90 days or more join
// ([LockParams.LongTermEligible]). A lock weighs only until its unlock
// epoch: from then on the module counts the position at 1× in the
// staking pool and not in the long-term pool, by a drop it scheduled when
// the weight was set (stakepool.go), so nothing walks the positions.
package rewards
