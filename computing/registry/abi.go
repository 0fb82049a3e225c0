package registry

// nodeFields are the inputs registerNode and updateNode share, and the
// outputs nodeOf and nodeByPeer return after their leading field.
const nodeFields = `{"name":"inventoryHash","type":"bytes32"},{"name":"gpuCount","type":"uint32"},{"name":"gpuModel","type":"string"},{"name":"memoryMiB","type":"uint64"},{"name":"simulated","type":"bool"},{"name":"priceModels","type":"string[]"},{"name":"pricesWeiPerGpuSecond","type":"uint256[]"},{"name":"cpuPriceWei","type":"uint256"},{"name":"images","type":"bytes32[]"}`

// abiJSON is the module's Solidity ABI.
const abiJSON = `[
 {"type":"function","name":"registerNode","stateMutability":"nonpayable","inputs":[{"name":"peerId","type":"bytes"},{"name":"peerSig","type":"bytes"},` + nodeFields + `],"outputs":[]},
 {"type":"function","name":"updateNode","stateMutability":"nonpayable","inputs":[` + nodeFields + `],"outputs":[]},
 {"type":"function","name":"deregisterNode","stateMutability":"nonpayable","inputs":[],"outputs":[]},
 {"type":"function","name":"ping","stateMutability":"nonpayable","inputs":[],"outputs":[]},
 {"type":"function","name":"lastSeen","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"registered","type":"bool"},{"name":"block","type":"uint64"}]},
 {"type":"function","name":"registerRouter","stateMutability":"nonpayable","inputs":[{"name":"peerId","type":"bytes"},{"name":"peerSig","type":"bytes"}],"outputs":[]},
 {"type":"function","name":"deregisterRouter","stateMutability":"nonpayable","inputs":[],"outputs":[]},
 {"type":"function","name":"nodeOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"registered","type":"bool"},{"name":"peerId","type":"bytes"},` + nodeFields + `,{"name":"registeredBlock","type":"uint64"},{"name":"updatedBlock","type":"uint64"}]},
 {"type":"function","name":"nodeByPeer","stateMutability":"view","inputs":[{"name":"peerId","type":"bytes"}],"outputs":[{"name":"owner","type":"address"},{"name":"peerId","type":"bytes"},` + nodeFields + `,{"name":"registeredBlock","type":"uint64"},{"name":"updatedBlock","type":"uint64"}]},
 {"type":"function","name":"nodes","stateMutability":"view","inputs":[{"name":"offset","type":"uint256"},{"name":"limit","type":"uint256"}],"outputs":[{"name":"owners","type":"address[]"},{"name":"total","type":"uint256"}]},
 {"type":"function","name":"routerOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"registered","type":"bool"},{"name":"peerId","type":"bytes"},{"name":"registeredBlock","type":"uint64"},{"name":"staked","type":"bool"}]},
 {"type":"function","name":"routers","stateMutability":"view","inputs":[{"name":"offset","type":"uint256"},{"name":"limit","type":"uint256"}],"outputs":[{"name":"owners","type":"address[]"},{"name":"total","type":"uint256"}]},
 {"type":"event","name":"NodeRegistered","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"peerId","type":"bytes","indexed":false},{"name":"inventoryHash","type":"bytes32","indexed":false},{"name":"gpuCount","type":"uint32","indexed":false},{"name":"simulated","type":"bool","indexed":false}]},
 {"type":"event","name":"NodeUpdated","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"inventoryHash","type":"bytes32","indexed":false},{"name":"gpuCount","type":"uint32","indexed":false},{"name":"simulated","type":"bool","indexed":false}]},
 {"type":"event","name":"NodeDeregistered","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"peerId","type":"bytes","indexed":false}]},
 {"type":"event","name":"RouterRegistered","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"peerId","type":"bytes","indexed":false}]},
 {"type":"event","name":"RouterDeregistered","anonymous":false,"inputs":[{"name":"owner","type":"address","indexed":true},{"name":"peerId","type":"bytes","indexed":false}]}
]`
