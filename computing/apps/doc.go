// Package apps is the EMC Hub's chain side, a chain-native module (see
// state/native) at native.AppsAddress: model developers publish apps
// (container images serving HTTP), users rent instances of them on compute
// nodes, and the usage the routers relay is settled from the user's escrow,
// with a royalty to the developer.
//
// Start reading at [Module] (the method table, the rules in the handlers,
// the EndBlock hook), then receipt.go (the usage receipt, [Meter],
// [Charge]), settle.go (the payment), state.go (storage layout, [App],
// [Instance] and the Go accessors [AppOf], [InstanceOf], [Apps],
// [InstancesOf], [InstancesOnNode]).
//
// Solidity interface:
//
//	function publishApp(bytes32 image, uint16 port, string healthPath, string name, string description,
//	    string paramsDoc, uint256 pricePerCallWei, uint256 pricePerGpuSecondWei, uint16 royaltyBps) returns (uint256 id);
//	function deploy(uint256 app, uint32 gpus, uint64 hours, bytes32 apiKeyHash) payable returns (uint256 instance);
//	function deployCredits(uint256 app, uint32 gpus, uint64 hours, bytes32 apiKeyHash, uint256 credits) returns (uint256 instance);
//	function place(uint256 instance, address node);
//	function ready(uint256 instance);
//	function stop(uint256 instance);
//	function reap(uint256 instance);
//	function settle(uint256 instance, bytes receipt);
//	function setRestart(uint256 instance, bool restart);
//	function getApp(uint256 id) view returns (bool found, address publisher, bytes32 image, uint16 port, ...);
//	function apps(uint256 offset, uint256 limit) view returns (uint256[] ids, uint256 total);
//	function getInstance(uint256 instance) view returns (bool found, uint256 app, address owner, uint8 state, ...);
//	function getRestart(uint256 instance) view returns (bool found, bool restart, uint8 restarts);
//	function instancesOf(address owner, uint256 offset, uint256 limit) view returns (uint256[] ids, uint256 total);
//	function instancesOnNode(address node, uint256 offset, uint256 limit) view returns (uint256[] ids, uint256 total);
//	function deployedInstances(uint256 offset, uint256 limit) view returns (uint256[] ids, uint256 total);
//	events AppPublished, InstanceDeployed, InstancePlaced, InstanceReady, InstanceSettled,
//	       InstanceReopened, InstanceEnding, InstanceClosed, InstanceRestartSet, InstanceRestarted
//
// Apps: published by their developer (the caller, the royalty payee);
// never edited: a new version is a new app. Image digest non-zero, port
// non-zero, health path starting with "/", name 1 to MaxNameBytes, texts
// printable ASCII within their limits, at least one price non-zero,
// royaltyBps ≤ 10,000. The texts are paid per word stored.
//
// Lifecycle of an instance (Params name the windows):
//
//	deploy (value > 0)           -> deployed: EMC escrow; the API key's hash only (the key
//	                                stays with the user); gpus ≤ registry.MaxGPUs, 1 ≤ hours ≤ MaxHours
//	deployCredits (credits > 0)  the same with Credits locked (credits module Lock)
//	place (active router, node)  deployed -> placed: the node registered, seen within
//	                                LivenessBlocks, holding the app's image and ≥ gpus GPUs;
//	                                router, node and owner three different accounts
//	ready (the placed node)      placed -> running, by block place + ReadyBlocks; the lease
//	                                runs hours × 3600 s of block time from here
//	EndBlock at place deadline   deployed -> closed (expired), refunded
//	EndBlock at ready deadline   placed -> deployed again (reopened, any router may place it),
//	reap (anyone, node dead)        or closed (expired) after MaxAttempts placements
//	EndBlock at lease end        running -> ending (lease-ended)
//	stop (owner)                 deployed|placed -> closed, refunded; running -> ending
//	reap (anyone)                running -> ending (node-dead) when the node is deregistered or
//	                                its registry.LastSeen is more than LivenessBlocks old;
//	                                with Restart set: running -> deployed instead (below)
//	setRestart (owner)           deployed|placed|running: sets or clears Restart
//	settle (anyone)              running|ending: pays the newest receipt's charge (below)
//	EndBlock SettleBlocks after  ending -> closed: the escrow not charged refunded
//	  the lease ended
//
// Instances waiting for placement (StateDeployed) are listed in an
// on-chain index kept O(1) per transition (append, swap-remove);
// deployedInstances and [DeployedInstances] page it, so routers read it
// instead of every instance.
//
// # Restart elsewhere
//
// An owner who wants a dead node's instance placed again calls
// setRestart(instance, true) (emcd app deploy --restart sends it right
// after the deploy). A separate owner-only method, rather than new deploy
// variants, because it leaves deploy and deployCredits as they were,
// covers both escrow kinds with one method, and lets the owner turn it on
// or off during the lease; the cost is a second transaction at deploy.
// Then reap of the running instance, instead of ending it, sends it back
// to deployed (listed for the routers, InstanceRestarted) when Restarts <
// the MaxRestarts param (default 3, at most 16) and its lease has time
// left: the escrow and the usage settled stay (the old node was paid for
// what was settled; the placing router settles its newest receipt before
// it reaps, node/hub_reap.go), ReadyTime and EndTime stay (the lease is
// not extended: it ran on while the instance was down), Restarts grows by
// one and the placement attempts start again at 0. The next ready makes it
// running until the same EndTime. No placement within PlaceBlocks closes
// it (expired) with the refund as usual; after MaxRestarts restarts, reap
// ends it (node-dead). Gas: reap's and ready's static gas already cover
// the restart path (a record write, the due entry, the deployed list, the
// later close and refund).
//
// Receipts of a restarted instance: Restarts is the placement epoch.
// Receipts of epoch e have sequence numbers above [EpochSeq](e) = e <<
// [EpochShift] (48) and settle refuses a receipt whose sequence is of
// another epoch than the instance's (ErrStaleReceipt). The new placement's
// meters (node and router, from [SettledReceipt]) start at sequence
// EpochSeq(e), with the settled counters (calls, GPU-ms: charges stay
// cumulative, the new node is paid only what its calls add) and a request
// chain of its own, h_0 = [EpochChainStart](chain, instance, e). So the
// dead placement's receipts, even those not settled, never settle after
// the restart, even if the instance returns to the same node and router,
// and no receipt of the new placement can be taken for an old one. The
// user's audit restarts its chain at the restart. The usage cap counts
// from the first ReadyTime (cumulative GPU-ms over the whole lease): a
// settlement in a block of time t may claim at most max(GPUs, 1) ×
// (min(t + 1, EndTime) − ReadyTime) s, the extra second because block
// times are rounded down to the second while the node meters wall time.
//
// # Metering (receipt.go)
//
// Every call relayed to an instance produces a cumulative usage receipt
// ([Receipt]): chain id, instance id, sequence n, cumulative calls,
// cumulative GPU-milliseconds, cumulative charge in wei, and h_n, the
// chained hash of the requests served (h_n = keccak256(h_{n-1} ‖
// RequestDigest(method, path, sha256(body))), h_0 = ChainStart(chain,
// instance)). One signature on receipt n covers everything before it;
// settlement needs only the newest receipt.
//
// Who vouches for the calls: the node alone cannot be trusted to count its
// own calls, and the caller holds only an API key (no signing key). So a
// receipt is valid on chain only with two signatures: the node owner's
// (RoleNode) and that of the staked router that placed the instance and
// relays its calls (RoleRouter). The router signs only the calls it relayed
// and saw answered, and GPU time no larger than the instance's GPUs × the
// wall time it measured for them; a router that co-signs calls that were
// not made puts its stake and its registration at risk, and a router and a
// node with the same owner are refused (self-dealing). The user audits: the
// relay returns each call's receipt, and the user recomputes h_n over the
// requests they sent; a receipt whose chain does not match theirs is proof
// of over-charging signed by both parties. (Calls are relayed by the
// placing router; a second router's receipts would need a receipt stream of
// their own, not implemented.)
//
// How the data path uses it (the relay, built against this format): the
// node and the router each keep a [Meter] per instance and feed it every
// relayed call's [RequestDigest] and the GPU-milliseconds the node
// measured; the node signs the new body as RoleNode and returns it with
// the response; the router checks that the body equals its own meter's
// (so calls it did not relay cannot appear), signs it as RoleRouter, and
// returns the [SignedReceipt] encoding (hex) to the caller with the
// response (the Emc-Receipt HTTP trailer); the router, which holds both
// signatures, keeps the newest and settles it from its wallet at least
// once an epoch and as soon as the lease ends (node/hub_meter.go). The
// node's receipt travels as one frame after the response body
// (computing/instance receipt.go); the router takes them in sequence
// order (concurrent calls end out of order) and countersigns one only if
// it adds exactly the call it came with (router/relay meter.go).
//
// Restarts and resync: the router keeps its newest countersigned receipt
// per instance on disk, written before the receipt leaves, and the node
// its meter; each reloads at start (the chain's last settled receipt is a
// lower bound for both). When the two meters disagree (one side
// restarted, lost its state, or a receipt was lost or refused), the
// router draws a fresh sync token and sends it with the next calls
// (computing/instance RequestHeader.SyncToken) together with its newest
// countersigned receipt; the node restarts its meter from that receipt
// after checking it carries its own and the instance router's signature
// for this chain and instance ([ResyncBase]; the chain's settled receipt
// when that is newer) and tags its receipts with the token; the router
// refuses receipts of any other token until one with the new token is
// countersigned. The router never adopts counters from the node: it
// resumes only from what it countersigned or what the chain settled, so
// calls the node numbered but the router never countersigned are dropped,
// never charged.
//
// settle checks, in order: the instance is running or ending; the chain
// has an id; the receipt decodes canonically; its chain id and instance
// are this chain's and this instance's; its sequence is non-zero; its
// charge equals [Charge] of its counters at the app's prices (so no
// receipt can state another price); the node signature recovers to the
// instance's node and the router signature to its router; its sequence is
// above the last settled one and its counters did not go down (replays and
// older receipts revert); its GPU-milliseconds are at most max(gpus, 1) ×
// (min(now, lease end) − ready time) × 1000.
//
// # Payment (settle.go)
//
// Charges are cumulative and rounded once, on the cumulative total: the
// charge of n calls and g GPU-ms is perCall × n + ⌊perGpuSecond × g /
// 1000⌋. EMC escrow: the charge is capped by the escrow; the part not yet
// paid, delta, is split in this order: royalty = ⌊delta × royaltyBps /
// 10,000⌋ to the developer; of rest = delta − royalty, node = ⌊rest × 80 %⌋
// to the node's owner; burn = rest − node, burned (native.BurnRent). The
// three add up to delta exactly. Credits escrow: the Credits due are
// ⌈charge / creditPrice⌉ capped by the escrow; of the Credits not yet
// spent, ⌊delta × royaltyBps / 10,000⌋ are spent with the developer as the
// provider and the rest with the node's owner, each through the credits
// module's Spend (its provider share to the payee, the rest burned: in
// Credits the royalty part is burned at the credits module's rate too).
// At close the escrow not charged (EMC) or not spent (Credits) goes back
// to the owner.
//
// Settle at least once an epoch: nothing on chain forces it, but the final
// window after a lease ends is SettleBlocks long, and a receipt not
// settled by then is worthless.
//
// Gas: every method's static gas covers its worst case and the work the
// EndBlock hook does for the deadlines it schedules (due-list entries,
// refunds), so hooks do only prepaid work; hooks emit no logs (the
// framework's rule): hook transitions are visible through getInstance.
//
// Invariants (checked after every step of the tests, the random walk
// included, with restarts): Restarts ≤ MaxRestarts and the settled
// sequence is of an epoch ≤ Restarts; the module's balance
// equals EscrowTotal, the sum over open EMC instances of escrow − charged;
// the Credits the credits module holds for native.AppsAddress equal
// CreditsEscrowTotal, the sum over open Credits instances of escrow −
// spent; the deployed list holds exactly the instances in StateDeployed;
// for every instance node + royalty + burned = charged, and a
// closed one's charged + refunded = its escrow; Σ balances + burned is
// the genesis supply, to the wei.
package apps
