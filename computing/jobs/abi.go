package jobs

// jobOutputs are getJob's outputs.
const jobOutputs = `{"name":"found","type":"bool"},{"name":"submitter","type":"address"},{"name":"state","type":"uint8"},{"name":"specHash","type":"bytes32"},{"name":"image","type":"bytes32"},{"name":"gpus","type":"uint32"},{"name":"gpuModel","type":"string"},{"name":"minMemoryMiB","type":"uint64"},{"name":"timeoutSeconds","type":"uint64"},{"name":"maxPriceWeiPerGpuSecond","type":"uint256"},{"name":"escrowWei","type":"uint256"},{"name":"submitBlock","type":"uint64"},{"name":"offeredRouter","type":"address"},{"name":"offerEndBlock","type":"uint64"},{"name":"router","type":"address"},{"name":"node","type":"address"},{"name":"priceWeiPerGpuSecond","type":"uint256"},{"name":"attempts","type":"uint8"},{"name":"deadline","type":"uint64"},{"name":"recordSHA256","type":"bytes32"},{"name":"gpuMillis","type":"uint64"},{"name":"exit","type":"int32"},{"name":"costWei","type":"uint256"},{"name":"burnedWei","type":"uint256"},{"name":"refundWei","type":"uint256"},{"name":"endBlock","type":"uint64"},{"name":"escrowKind","type":"uint8"},{"name":"escrowCredits","type":"uint256"},{"name":"costCredits","type":"uint256"},{"name":"refundCredits","type":"uint256"}`

const idInput = `{"name":"id","type":"uint256"}`

// abiJSON is the module's Solidity ABI.
const abiJSON = `[
 {"type":"function","name":"submitJob","stateMutability":"payable","inputs":[{"name":"spec","type":"bytes"},{"name":"maxPriceWeiPerGpuSecond","type":"uint256"}],"outputs":[` + idInput + `]},
 {"type":"function","name":"submitJobCredits","stateMutability":"nonpayable","inputs":[{"name":"spec","type":"bytes"},{"name":"maxPriceWeiPerGpuSecond","type":"uint256"},{"name":"credits","type":"uint256"}],"outputs":[` + idInput + `]},
 {"type":"function","name":"submitJobInputs","stateMutability":"payable","inputs":[{"name":"spec","type":"bytes"},{"name":"maxPriceWeiPerGpuSecond","type":"uint256"},{"name":"inputs","type":"bytes"}],"outputs":[` + idInput + `]},
 {"type":"function","name":"submitJobCreditsInputs","stateMutability":"nonpayable","inputs":[{"name":"spec","type":"bytes"},{"name":"maxPriceWeiPerGpuSecond","type":"uint256"},{"name":"credits","type":"uint256"},{"name":"inputs","type":"bytes"}],"outputs":[` + idInput + `]},
 {"type":"function","name":"cancel","stateMutability":"nonpayable","inputs":[` + idInput + `],"outputs":[]},
 {"type":"function","name":"assign","stateMutability":"nonpayable","inputs":[` + idInput + `,{"name":"node","type":"address"}],"outputs":[]},
 {"type":"function","name":"accept","stateMutability":"nonpayable","inputs":[` + idInput + `],"outputs":[]},
 {"type":"function","name":"submitResult","stateMutability":"nonpayable","inputs":[` + idInput + `,{"name":"recordSHA256","type":"bytes32"},{"name":"gpuMillis","type":"uint64"},{"name":"exit","type":"int32"}],"outputs":[]},
 {"type":"function","name":"settle","stateMutability":"nonpayable","inputs":[` + idInput + `],"outputs":[]},
 {"type":"function","name":"getJob","stateMutability":"view","inputs":[` + idInput + `],"outputs":[` + jobOutputs + `]},
 {"type":"function","name":"jobsOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"},{"name":"offset","type":"uint256"},{"name":"limit","type":"uint256"}],"outputs":[{"name":"ids","type":"uint256[]"},{"name":"total","type":"uint256"}]},
 {"type":"function","name":"openJobs","stateMutability":"view","inputs":[{"name":"offset","type":"uint256"},{"name":"limit","type":"uint256"}],"outputs":[{"name":"ids","type":"uint256[]"},{"name":"total","type":"uint256"}]},
 {"type":"function","name":"assignedJobs","stateMutability":"view","inputs":[{"name":"offset","type":"uint256"},{"name":"limit","type":"uint256"}],"outputs":[{"name":"ids","type":"uint256[]"},{"name":"total","type":"uint256"}]},
 {"type":"function","name":"jobCount","stateMutability":"view","inputs":[],"outputs":[{"name":"count","type":"uint256"}]},
 {"type":"function","name":"providerStats","stateMutability":"view","inputs":[{"name":"node","type":"address"}],"outputs":[{"name":"succeeded","type":"uint64"},{"name":"failed","type":"uint64"},{"name":"timedOut","type":"uint64"}]},
 {"type":"event","name":"JobSubmitted","anonymous":false,"inputs":[{"name":"id","type":"uint256","indexed":true},{"name":"submitter","type":"address","indexed":true},{"name":"specHash","type":"bytes32","indexed":false},{"name":"spec","type":"bytes","indexed":false},{"name":"maxPriceWeiPerGpuSecond","type":"uint256","indexed":false},{"name":"escrowWei","type":"uint256","indexed":false}]},
 {"type":"event","name":"JobCreditsEscrowed","anonymous":false,"inputs":[{"name":"id","type":"uint256","indexed":true},{"name":"credits","type":"uint256","indexed":false}]},
 {"type":"event","name":"JobCancelled","anonymous":false,"inputs":[{"name":"id","type":"uint256","indexed":true},{"name":"refundWei","type":"uint256","indexed":false}]},
 {"type":"event","name":"JobAssigned","anonymous":false,"inputs":[{"name":"id","type":"uint256","indexed":true},{"name":"router","type":"address","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"priceWeiPerGpuSecond","type":"uint256","indexed":false},{"name":"attempt","type":"uint8","indexed":false}]},
 {"type":"event","name":"JobAccepted","anonymous":false,"inputs":[{"name":"id","type":"uint256","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"resultDeadline","type":"uint64","indexed":false}]},
 {"type":"event","name":"JobResult","anonymous":false,"inputs":[{"name":"id","type":"uint256","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"recordSHA256","type":"bytes32","indexed":false},{"name":"gpuMillis","type":"uint64","indexed":false},{"name":"exit","type":"int32","indexed":false}]},
 {"type":"event","name":"JobSettled","anonymous":false,"inputs":[{"name":"id","type":"uint256","indexed":true},{"name":"provider","type":"address","indexed":true},{"name":"costWei","type":"uint256","indexed":false},{"name":"burnedWei","type":"uint256","indexed":false},{"name":"refundWei","type":"uint256","indexed":false}]}
]`
