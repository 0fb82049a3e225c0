// Package staking is the staking module: a chain-native module (see
// state/native) at native.StakingAddress where accounts lock EMC as stake.
// The validator set will later be the top stakers ([TopStakers]).
//
// Start reading at [Module] (the method table with each method's gas), then
// state.go (the storage layout and the Go accessors the node uses).
//
// Solidity interface:
//
//	function stake() payable;                          // add msg.value to the caller's stake
//	function unstake(uint256 amount);                  // return amount of stake to the caller
//	function stakeOf(address staker) view returns (uint256);
//	function totalStake() view returns (uint256);
//	function stakers(uint256 offset, uint256 limit) view returns (address[], uint256[]);
//	event Staked(address indexed staker, uint256 amount, uint256 total);
//	event Unstaked(address indexed staker, uint256 amount, uint256 total);
//
// In the events, total is the staker's stake after the change.
//
// Rules: a stake is either zero or at least the minimum stake (params); the
// number of stakers is bounded (params). Unstaked EMC returns to the caller in
// the same transaction: there is no unbonding period yet (future work: an
// unbonding queue released after a number of blocks, and slashing, before the
// validator set is drawn from stake). All amounts are wei in uint256; no
// operation divides, so no rounding happens.
//
// Invariant: the module account's balance equals totalStake, which equals the
// sum of all stakes (funds forced in by SELFDESTRUCT are the one exception:
// they raise the balance only).
package staking
