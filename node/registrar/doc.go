// Package registrar keeps a node's own entry in the compute registry
// (computing/registry) up to date through the node wallet: a compute node
// registers itself from its own key as owner, with its libp2p peer ID
// proven by its node key, and sends updateNode when its inventory, prices
// or images differ from what the chain holds; a router registers as a
// router once its owner holds a router stake. A registration that already
// matches sends nothing, except a compute node's ping (the registry's
// cheap liveness refresh) every Config.PingEveryBlocks blocks, so the
// jobs module keeps counting the node as live.
//
// Start reading at [Registrar.Step], the decision made at each head: what
// the chain holds decides whether to send registerNode, updateNode,
// registerRouter or nothing. A node short of gas logs one line per attempt
// (its balance and what the transaction needs), counts it in a metric, and
// tries again later; refusals (estimation fails, a router without stake,
// a peer ID registered under another key) back off the same way: the next
// attempt waits 1, 2, 4 … up to [MaxBackoffBlocks] blocks. The node keeps
// running whatever happens here.
package registrar
