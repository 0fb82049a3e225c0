package staking

// abiJSON is the module's Solidity ABI.
const abiJSON = `[
 {"type":"function","name":"stake","stateMutability":"payable","inputs":[{"name":"role","type":"uint8"},{"name":"lock","type":"uint8"}],"outputs":[]},
 {"type":"function","name":"setSigner","stateMutability":"nonpayable","inputs":[{"name":"signer","type":"address"},{"name":"signature","type":"bytes"}],"outputs":[]},
 {"type":"function","name":"unstake","stateMutability":"nonpayable","inputs":[{"name":"amount","type":"uint256"}],"outputs":[]},
 {"type":"function","name":"withdraw","stateMutability":"nonpayable","inputs":[],"outputs":[]},
 {"type":"function","name":"stakeOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"role","type":"uint8"},{"name":"amount","type":"uint256"},{"name":"lock","type":"uint8"},{"name":"unlockEpoch","type":"uint64"},{"name":"signer","type":"address"}]},
 {"type":"function","name":"unbondingOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"amounts","type":"uint256[]"},{"name":"releaseEpochs","type":"uint64[]"}]},
 {"type":"function","name":"totalStake","stateMutability":"view","inputs":[{"name":"role","type":"uint8"}],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"owners","stateMutability":"view","inputs":[{"name":"offset","type":"uint256"},{"name":"limit","type":"uint256"}],"outputs":[{"name":"","type":"address[]"}]},
 {"type":"function","name":"reportDoubleSign","stateMutability":"nonpayable","inputs":[{"name":"a","type":"bytes"},{"name":"b","type":"bytes"}],"outputs":[]},
 {"type":"function","name":"jailed","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"","type":"bool"}]},
 {"type":"function","name":"signerNonce","stateMutability":"view","inputs":[{"name":"signer","type":"address"}],"outputs":[{"name":"","type":"uint64"}]},
 {"type":"event","name":"Staked","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"role","type":"uint8","indexed":false},{"name":"lock","type":"uint8","indexed":false},{"name":"amount","type":"uint256","indexed":false},{"name":"total","type":"uint256","indexed":false},{"name":"unlockEpoch","type":"uint64","indexed":false}]},
 {"type":"event","name":"SignerSet","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"signer","type":"address","indexed":true}]},
 {"type":"event","name":"Unstaked","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"amount","type":"uint256","indexed":false},{"name":"total","type":"uint256","indexed":false},{"name":"releaseEpoch","type":"uint64","indexed":false}]},
 {"type":"event","name":"Withdrawn","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"amount","type":"uint256","indexed":false}]},
 {"type":"event","name":"Slashed","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"signer","type":"address","indexed":true},{"name":"amount","type":"uint256","indexed":false},{"name":"reporter","type":"address","indexed":false},{"name":"reward","type":"uint256","indexed":false}]}
]`
