package staking

// abiJSON is the module's Solidity ABI.
const abiJSON = `[
 {"type":"function","name":"stake","stateMutability":"payable","inputs":[],"outputs":[]},
 {"type":"function","name":"unstake","stateMutability":"nonpayable","inputs":[{"name":"amount","type":"uint256"}],"outputs":[]},
 {"type":"function","name":"stakeOf","stateMutability":"view","inputs":[{"name":"staker","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"totalStake","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"stakers","stateMutability":"view","inputs":[{"name":"offset","type":"uint256"},{"name":"limit","type":"uint256"}],"outputs":[{"name":"addrs","type":"address[]"},{"name":"amounts","type":"uint256[]"}]},
 {"type":"event","name":"Staked","anonymous":false,"inputs":[{"name":"staker","type":"address","indexed":true},{"name":"amount","type":"uint256","indexed":false},{"name":"total","type":"uint256","indexed":false}]},
 {"type":"event","name":"Unstaked","anonymous":false,"inputs":[{"name":"staker","type":"address","indexed":true},{"name":"amount","type":"uint256","indexed":false},{"name":"total","type":"uint256","indexed":false}]}
]`
