// Package registry is the compute registry module: a chain-native module
// (see state/native) at native.RegistryAddress where compute nodes list
// their peer ID, GPU inventory, prices and images, and routers list their
// peer ID, so the jobs module and the routers know who can run what.
//
// Start reading at [Module] (the method table with each method's gas and
// the rules in its handlers), then state.go (the storage layout and the Go
// accessors other modules and the node use: [NodeOf], [NodeByPeer],
// [Nodes], [RouterOf], [Module.ActiveRouter]), then proof.go (the peer-ID
// proof).
//
// Solidity interface:
//
//	function registerNode(bytes peerId, bytes peerSig, bytes32 inventoryHash, uint32 gpuCount,
//	    string gpuModel, uint64 memoryMiB, bool simulated, string[] priceModels,
//	    uint256[] pricesWeiPerGpuSecond, uint256 cpuPriceWei, bytes32[] images);
//	function updateNode(bytes32 inventoryHash, uint32 gpuCount, string gpuModel, uint64 memoryMiB,
//	    bool simulated, string[] priceModels, uint256[] pricesWeiPerGpuSecond, uint256 cpuPriceWei,
//	    bytes32[] images);
//	function deregisterNode();
//	function ping();                                  // the node's liveness refresh
//	function lastSeen(address owner) view returns (bool registered, uint64 block);
//	function registerRouter(bytes peerId, bytes peerSig);
//	function deregisterRouter();
//	function nodeOf(address owner) view returns (bool registered, bytes peerId, <node fields>,
//	    uint64 registeredBlock, uint64 updatedBlock);
//	function nodeByPeer(bytes peerId) view returns (address owner, bytes peerId, <node fields>,
//	    uint64 registeredBlock, uint64 updatedBlock);
//	function nodes(uint256 offset, uint256 limit) view returns (address[] owners, uint256 total);
//	function routerOf(address owner) view returns (bool registered, bytes peerId, uint64 registeredBlock, bool staked);
//	function routers(uint256 offset, uint256 limit) view returns (address[] owners, uint256 total);
//	event NodeRegistered(address indexed owner, bytes peerId, bytes32 inventoryHash, uint32 gpuCount, bool simulated);
//	event NodeUpdated(address indexed owner, bytes32 inventoryHash, uint32 gpuCount, bool simulated);
//	event NodeDeregistered(address indexed owner, bytes peerId);
//	event RouterRegistered(address indexed owner, bytes peerId);
//	event RouterDeregistered(address indexed owner, bytes peerId);
//
// Rules (decided here):
//   - The owner is the transaction's sender. One owner has at most one node
//     and at most one router; one peer ID belongs to at most one owner, as
//     a node or a router (the same owner may use one peer ID for both).
//   - A peer ID is proven by its libp2p key (Ed25519 or secp256k1, inlined
//     in the ID) signing [PeerDigest]: keccak256("emcd:registerPeer" ‖
//     chainId (32 bytes) ‖ owner (20 bytes) ‖ peerId). The proof binds the
//     chain and the owner, so it cannot be used by another account or on
//     another chain; reusing it for the same owner on the same chain (after
//     a deregistration) only registers what it already proved.
//   - The inventory is a summary of `emcd gpus --json`: keccak256 of the
//     payload (non-zero), the GPU count (≤ MaxGPUs), one model string
//     (printable ASCII, ≤ MaxModelBytes), memory per GPU in MiB and whether
//     the GPUs are simulated. A node with GPUs gives a model, memory and at
//     least one price; a CPU-only node (0 GPUs) gives none of them.
//     Simulated inventories are refused unless the genesis param
//     allowSimulatedGPUs is true (dev and `emcd testnet` chains).
//   - Prices are wei per GPU-second per GPU model (≤ MaxPrices, positive,
//     distinct models); cpuPriceWei is wei per second of a CPU-only job,
//     zero meaning the node takes none. Images are ≤ MaxImages distinct,
//     non-zero digests.
//   - updateNode replaces everything but the peer ID and the registration
//     block; a new peer ID needs deregisterNode and a new registerNode.
//   - A router needs a router-role staking position, not jailed, with at
//     least the staking module's router minimum both now and effective in
//     the current epoch (a stake made this epoch counts from the next).
//     Registration checks it; [Module.ActiveRouter] checks it again for
//     every use, so a router that unstakes stops counting at once.
//   - Liveness: [LastSeen] is the block of a node's last on-chain update
//     (registerNode, updateNode, or ping, a one-slot write for a node whose
//     listing has not changed). The jobs module refuses to assign to a node
//     not seen within its LivenessBlocks; the node's registrar pings every
//     third of that window. Deregistering clears the ping.
//   - Registration data only otherwise: live status (heartbeats, free GPUs)
//     is not on chain.
package registry
