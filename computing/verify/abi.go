package verify

// abiJSON is the module's Solidity ABI.
const abiJSON = `[
 {"type":"function","name":"commitRoot","stateMutability":"nonpayable","inputs":[{"name":"epoch","type":"uint64"},{"name":"root","type":"bytes32"}],"outputs":[]},
 {"type":"function","name":"attest","stateMutability":"nonpayable","inputs":[{"name":"epoch","type":"uint64"},{"name":"node","type":"address"},{"name":"openings","type":"bytes"}],"outputs":[]},
 {"type":"function","name":"attestFail","stateMutability":"nonpayable","inputs":[{"name":"epoch","type":"uint64"},{"name":"node","type":"address"}],"outputs":[]},
 {"type":"function","name":"rebut","stateMutability":"nonpayable","inputs":[{"name":"epoch","type":"uint64"},{"name":"verifier","type":"address"},{"name":"openings","type":"bytes"}],"outputs":[]},
 {"type":"function","name":"recordMiss","stateMutability":"nonpayable","inputs":[{"name":"epoch","type":"uint64"},{"name":"node","type":"address"}],"outputs":[]},
 {"type":"function","name":"challengeOf","stateMutability":"view","inputs":[{"name":"epoch","type":"uint64"},{"name":"node","type":"address"}],"outputs":[{"name":"status","type":"uint8"},{"name":"root","type":"bytes32"},{"name":"n","type":"uint32"},{"name":"commitBlock","type":"uint64"},{"name":"deadlineBlock","type":"uint64"},{"name":"windowEndBlock","type":"uint64"},{"name":"verifiers","type":"address[]"},{"name":"slots","type":"uint8[]"},{"name":"passesNeeded","type":"uint8"}]},
 {"type":"function","name":"faultsOf","stateMutability":"view","inputs":[{"name":"account","type":"address"}],"outputs":[{"name":"passed","type":"uint64"},{"name":"failed","type":"uint64"},{"name":"missed","type":"uint64"},{"name":"missedDuties","type":"uint64"},{"name":"falseFails","type":"uint64"}]},
 {"type":"function","name":"missRecorded","stateMutability":"view","inputs":[{"name":"epoch","type":"uint64"},{"name":"node","type":"address"}],"outputs":[{"name":"recorded","type":"bool"}]},
 {"type":"function","name":"historyOf","stateMutability":"view","inputs":[{"name":"node","type":"address"}],"outputs":[{"name":"outcomes","type":"uint8[]"}]},
 {"type":"function","name":"epochSeed","stateMutability":"view","inputs":[{"name":"epoch","type":"uint64"}],"outputs":[{"name":"set","type":"bool"},{"name":"seed","type":"bytes32"},{"name":"startTime","type":"uint64"},{"name":"validators","type":"uint256"}]},
 {"type":"event","name":"RootCommitted","anonymous":false,"inputs":[{"name":"epoch","type":"uint64","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"root","type":"bytes32","indexed":false},{"name":"n","type":"uint32","indexed":false},{"name":"verifiers","type":"address[]","indexed":false}]},
 {"type":"event","name":"Attested","anonymous":false,"inputs":[{"name":"epoch","type":"uint64","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"verifier","type":"address","indexed":true},{"name":"pass","type":"bool","indexed":false}]},
 {"type":"event","name":"Rebutted","anonymous":false,"inputs":[{"name":"epoch","type":"uint64","indexed":true},{"name":"node","type":"address","indexed":true},{"name":"verifier","type":"address","indexed":true},{"name":"falseFail","type":"bool","indexed":false}]},
 {"type":"function","name":"probeFail","stateMutability":"nonpayable","inputs":[{"name":"epoch","type":"uint64"},{"name":"router","type":"address"}],"outputs":[]},
 {"type":"function","name":"probeOf","stateMutability":"view","inputs":[{"name":"epoch","type":"uint64"},{"name":"router","type":"address"}],"outputs":[{"name":"probers","type":"address[]"},{"name":"failed","type":"bool[]"},{"name":"failsNeeded","type":"uint8"},{"name":"routerFailed","type":"bool"}]},
 {"type":"function","name":"routerProbesOf","stateMutability":"view","inputs":[{"name":"router","type":"address"}],"outputs":[{"name":"failReports","type":"uint64"},{"name":"failedEpochs","type":"uint64"}]},
 {"type":"event","name":"ProbeFailed","anonymous":false,"inputs":[{"name":"epoch","type":"uint64","indexed":true},{"name":"router","type":"address","indexed":true},{"name":"prober","type":"address","indexed":true},{"name":"routerFailed","type":"bool","indexed":false}]},
 {"type":"event","name":"MissRecorded","anonymous":false,"inputs":[{"name":"epoch","type":"uint64","indexed":true},{"name":"node","type":"address","indexed":true}]}
]`
