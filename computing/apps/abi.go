package apps

// appOutputs are getApp's outputs.
const appOutputs = `{"name":"found","type":"bool"},{"name":"publisher","type":"address"},{"name":"image","type":"bytes32"},{"name":"port","type":"uint16"},{"name":"healthPath","type":"string"},{"name":"name","type":"string"},{"name":"description","type":"string"},{"name":"paramsDoc","type":"string"},{"name":"pricePerCallWei","type":"uint256"},{"name":"pricePerGpuSecondWei","type":"uint256"},{"name":"royaltyBps","type":"uint16"},{"name":"block","type":"uint64"}`

// instanceOutputs are getInstance's outputs.
const instanceOutputs = `{"name":"found","type":"bool"},{"name":"app","type":"uint256"},{"name":"owner","type":"address"},{"name":"state","type":"uint8"},{"name":"gpus","type":"uint32"},{"name":"hours","type":"uint64"},{"name":"apiKeyHash","type":"bytes32"},{"name":"escrowWei","type":"uint256"},{"name":"escrowCredits","type":"uint256"},{"name":"router","type":"address"},{"name":"node","type":"address"},{"name":"deadline","type":"uint64"},{"name":"readyTime","type":"uint64"},{"name":"endTime","type":"uint64"},{"name":"seq","type":"uint64"},{"name":"calls","type":"uint64"},{"name":"gpuMillis","type":"uint64"},{"name":"callsHash","type":"bytes32"},{"name":"chargedWei","type":"uint256"},{"name":"chargedCredits","type":"uint256"},{"name":"nodeWei","type":"uint256"},{"name":"royaltyWei","type":"uint256"},{"name":"burnedWei","type":"uint256"},{"name":"refundWei","type":"uint256"},{"name":"refundCredits","type":"uint256"},{"name":"endReason","type":"uint8"},{"name":"endBlock","type":"uint64"}`

const instIn = `{"name":"instance","type":"uint256"}`
const pageIn = `{"name":"offset","type":"uint256"},{"name":"limit","type":"uint256"}`
const pageOut = `{"name":"ids","type":"uint256[]"},{"name":"total","type":"uint256"}`

// abiJSON is the module's Solidity ABI.
const abiJSON = `[
 {"type":"function","name":"publishApp","stateMutability":"nonpayable","inputs":[{"name":"image","type":"bytes32"},{"name":"port","type":"uint16"},{"name":"healthPath","type":"string"},{"name":"name","type":"string"},{"name":"description","type":"string"},{"name":"paramsDoc","type":"string"},{"name":"pricePerCallWei","type":"uint256"},{"name":"pricePerGpuSecondWei","type":"uint256"},{"name":"royaltyBps","type":"uint16"}],"outputs":[{"name":"id","type":"uint256"}]},
 {"type":"function","name":"deploy","stateMutability":"payable","inputs":[{"name":"app","type":"uint256"},{"name":"gpus","type":"uint32"},{"name":"hours","type":"uint64"},{"name":"apiKeyHash","type":"bytes32"}],"outputs":[` + instIn + `]},
 {"type":"function","name":"deployCredits","stateMutability":"nonpayable","inputs":[{"name":"app","type":"uint256"},{"name":"gpus","type":"uint32"},{"name":"hours","type":"uint64"},{"name":"apiKeyHash","type":"bytes32"},{"name":"credits","type":"uint256"}],"outputs":[` + instIn + `]},
 {"type":"function","name":"place","stateMutability":"nonpayable","inputs":[` + instIn + `,{"name":"node","type":"address"}],"outputs":[]},
 {"type":"function","name":"ready","stateMutability":"nonpayable","inputs":[` + instIn + `],"outputs":[]},
 {"type":"function","name":"stop","stateMutability":"nonpayable","inputs":[` + instIn + `],"outputs":[]},
 {"type":"function","name":"reap","stateMutability":"nonpayable","inputs":[` + instIn + `],"outputs":[]},
 {"type":"function","name":"settle","stateMutability":"nonpayable","inputs":[` + instIn + `,{"name":"receipt","type":"bytes"}],"outputs":[]},
 {"type":"function","name":"setRestart","stateMutability":"nonpayable","inputs":[` + instIn + `,{"name":"restart","type":"bool"}],"outputs":[]},
 {"type":"function","name":"getApp","stateMutability":"view","inputs":[{"name":"id","type":"uint256"}],"outputs":[` + appOutputs + `]},
 {"type":"function","name":"getRestart","stateMutability":"view","inputs":[` + instIn + `],"outputs":[{"name":"found","type":"bool"},{"name":"restart","type":"bool"},{"name":"restarts","type":"uint8"}]},
 {"type":"function","name":"apps","stateMutability":"view","inputs":[` + pageIn + `],"outputs":[` + pageOut + `]},
 {"type":"function","name":"getInstance","stateMutability":"view","inputs":[` + instIn + `],"outputs":[` + instanceOutputs + `]},
 {"type":"function","name":"instancesOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"},` + pageIn + `],"outputs":[` + pageOut + `]},
 {"type":"function","name":"deployedInstances","stateMutability":"view","inputs":[` + pageIn + `],"outputs":[` + pageOut + `]},
 {"type":"function","name":"instancesOnNode","stateMutability":"view","inputs":[{"name":"node","type":"address"},` + pageIn + `],"outputs":[` + pageOut + `]},
 {"type":"event","name":"AppPublished","anonymous":false,"inputs":[{"name":"id","type":"uint256","indexed":true},{"name":"publisher","type":"address","indexed":true},{"name":"image","type":"bytes32","indexed":false},{"name":"name","type":"string","indexed":false},{"name":"pricePerCallWei","type":"uint256","indexed":false},{"name":"pricePerGpuSecondWei","type":"uint256","indexed":false},{"name":"royaltyBps","type":"uint16","indexed":false}]},
 {"type":"event","name":"InstanceDeployed","anonymous":false,"inputs":[` + `{"name":"instance","type":"uint256","indexed":true},{"name":"app","type":"uint256","indexed":true},{"name":"owner","type":"address","indexed":true},{"name":"gpus","type":"uint32","indexed":false},{"name":"hours","type":"uint64","indexed":false},{"name":"apiKeyHash","type":"bytes32","indexed":false},{"name":"escrowWei","type":"uint256","indexed":false},{"name":"escrowCredits","type":"uint256","indexed":false}]},
 {"type":"event","name":"InstancePlaced","anonymous":false,"inputs":[{"name":"instance","type":"uint256","indexed":true},{"name":"router","type":"address","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"readyBy","type":"uint64","indexed":false}]},
 {"type":"event","name":"InstanceReady","anonymous":false,"inputs":[{"name":"instance","type":"uint256","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"endTime","type":"uint64","indexed":false}]},
 {"type":"event","name":"InstanceSettled","anonymous":false,"inputs":[{"name":"instance","type":"uint256","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"seq","type":"uint64","indexed":false},{"name":"calls","type":"uint64","indexed":false},{"name":"gpuMillis","type":"uint64","indexed":false},{"name":"nodeWei","type":"uint256","indexed":false},{"name":"royaltyWei","type":"uint256","indexed":false},{"name":"burnedWei","type":"uint256","indexed":false},{"name":"credits","type":"uint256","indexed":false}]},
 {"type":"event","name":"InstanceReopened","anonymous":false,"inputs":[{"name":"instance","type":"uint256","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"placeBy","type":"uint64","indexed":false}]},
 {"type":"event","name":"InstanceRestartSet","anonymous":false,"inputs":[{"name":"instance","type":"uint256","indexed":true},{"name":"restart","type":"bool","indexed":false}]},
 {"type":"event","name":"InstanceRestarted","anonymous":false,"inputs":[{"name":"instance","type":"uint256","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"restarts","type":"uint8","indexed":false},{"name":"placeBy","type":"uint64","indexed":false}]},
 {"type":"event","name":"InstanceEnding","anonymous":false,"inputs":[{"name":"instance","type":"uint256","indexed":true},{"name":"reason","type":"uint8","indexed":false},{"name":"settleUntilBlock","type":"uint64","indexed":false}]},
 {"type":"event","name":"InstanceClosed","anonymous":false,"inputs":[{"name":"instance","type":"uint256","indexed":true},{"name":"reason","type":"uint8","indexed":false},{"name":"refundWei","type":"uint256","indexed":false},{"name":"refundCredits","type":"uint256","indexed":false}]}
]`
