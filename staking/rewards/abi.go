package rewards

// abiJSON is the rewards module's Solidity ABI.
const abiJSON = `[
 {"type":"function","name":"claim","stateMutability":"nonpayable","inputs":[],"outputs":[{"name":"amount","type":"uint256"}]},
 {"type":"function","name":"rewardsOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"node","type":"uint256"},{"name":"staking","type":"uint256"},{"name":"longTerm","type":"uint256"},{"name":"total","type":"uint256"}]},
 {"type":"function","name":"pools","stateMutability":"view","inputs":[],"outputs":[{"name":"node","type":"uint256"},{"name":"nodeDust","type":"uint256"},{"name":"trade","type":"uint256"},{"name":"staking","type":"uint256"},{"name":"longTerm","type":"uint256"},{"name":"accrued","type":"uint256"}]},
 {"type":"function","name":"epochInfo","stateMutability":"view","inputs":[],"outputs":[{"name":"epoch","type":"uint64"},{"name":"firstBlock","type":"uint64"},{"name":"lastBlock","type":"uint64"},{"name":"period","type":"uint64"},{"name":"epochReward","type":"uint256"}]},
 {"type":"function","name":"tradeRewardsOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"vested","type":"uint256"},{"name":"unvested","type":"uint256"},{"name":"nextVestEpoch","type":"uint64"}]},
 {"type":"event","name":"TradeRewarded","anonymous":false,"inputs":[{"name":"user","type":"address","indexed":true},{"name":"provider","type":"address","indexed":true},{"name":"userAmount","type":"uint256","indexed":false},{"name":"providerAmount","type":"uint256","indexed":false},{"name":"vestEpoch","type":"uint64","indexed":false}]},
 {"type":"event","name":"TradeForfeited","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"amount","type":"uint256","indexed":false}]},
 {"type":"event","name":"Claimed","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"amount","type":"uint256","indexed":false}]}
]`
