// Package apps is the EMC Hub's chain side: model developers publish apps
// (container images serving HTTP), users rent instances of them on compute
// nodes, and the usage served through the routers is settled from the
// user's escrow.
//
// # Metering (receipt.go)
//
// Every call relayed to an instance produces a cumulative usage receipt
// ([Receipt]): chain id, instance id, sequence n, cumulative calls,
// cumulative GPU-milliseconds, cumulative charge in wei, and h_n, the
// chained hash of the requests served (h_n = keccak256(h_{n-1} ‖
// RequestDigest(method, path, sha256(body)))). One signature on receipt n
// covers everything before it; settlement needs only the newest receipt.
//
// Who vouches for the calls: the node alone cannot be trusted to count its
// own calls, and the caller holds only an API key (no signing key). So a
// receipt is valid on chain only with two signatures: the node owner's
// (RoleNode) and the staked router's that placed the instance and relays
// its calls (RoleRouter). The router signs only the calls it relayed and
// saw answered, and GPU time no larger than the instance's GPUs × the wall
// time it measured for them; a router that co-signs calls that were not
// made puts its stake, and its registration, at risk, and a router and a
// node with the same owner are refused (self-dealing). The user audits: the
// relay returns each call's receipt, and the user recomputes h_n over the
// requests they sent; a receipt whose chain does not match theirs is proof
// of over-charging signed by both parties.
//
// The charge is computed from the cumulative counters at the app's prices
// ([Charge]; rounding on the cumulative total only), and the module
// recomputes and compares it, so a receipt can never state a price other
// than the app's.
package apps
