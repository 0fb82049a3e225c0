// Package node assembles an emcd node from its parts: it opens the data dir's
// store and chain, creates the transaction pool, the block producer for the
// node's role, the JSON-RPC server and the metrics endpoint, and connects
// them (chain head events reset the pool and feed RPC subscriptions).
//
// Start reading at New and Node.Start. backend.go implements the
// jsonrpc.Backend interface over the chain and the pool; wallet.go builds
// the node/wallet service that sends the node's own transactions;
// devmarket.go runs the compute market's router side on the dev node,
// linked to its compute side in process. The JSON-RPC port also serves
// the results relay (results.go, rpcHandler) and, with Config.Dashboard,
// the web dashboard under /dashboard/ (dashboard.go; package dashboard),
// whose page may then open the WebSocket from the port's own origin
// (jsonrpc.Config.SameOriginWS). metrics.go, state_metrics.go and
// disk_metrics.go define the node-level metrics: chain and block interval,
// peers, sync distance, IBFT round, the jobs and rewards gauges read from a
// fresh head StateDB per scrape, and the data dir's filesystem space.
// challenges.go runs the
// proof-of-work challenge services (prover.go: the compute side's prover
// in process or, with Config.VerifyProver "sandbox", through the
// executor); a networked validator also runs the
// miss reporter (challenges_miss.go) and the router prober (probes.go:
// probes each router it is drawn for through the router's relay, the
// fetch probe protocol, and sends probeFail when the record never comes;
// routers serve that protocol). The dev node does not probe.
//
// The EMC Hub (issue 13): hub.go is the router's side, the chain-backed
// relay.Directory (hubDirectory: a fresh head state per lookup) behind the
// app relay mounted under /apps/ on the RPC port (apps.go), and the
// placement service (hubPlacer) that places deployed instances on live
// nodes of the heartbeat table that the apps module's Fit accepts, from the
// router wallet. hub_compute.go is the compute side: it follows
// instancesOnNode of its owner, starts placed instances with the instance
// Manager (computing/instance; the process runner with the process
// executor, Docker otherwise), sends ready once healthy, stops them when
// the chain ends the lease, and serves the app protocol. The dev node runs
// both, linked by loopback TCP streams (hub_streams.go). Metering
// (hub_meter.go): the compute side signs each answered call's cumulative
// receipt with the node owner's key (hubReceipts, its meters kept in
// DATADIR/compute/app-meters, else resuming from the newest settled
// receipt); the router countersigns it with its wallet's key
// (relay.Countersigner over hubMetered; the dev router's key on the dev
// node), keeps the newest in DATADIR/router/app-receipts (reloaded at
// start and settled at once) and settles the newest from its wallet an
// epoch after an instance's first receipt, every epoch after, and as
// soon as the lease ends (hubSettler). After either side restarts, the
// router's resync request on the next call (a sync token and its newest
// doubly-signed receipt) puts the two meters back in step. Automatic reap
// (hub_reap.go, run by the settler): the placing router settles the
// newest receipt, then sends reap for a running instance whose node the
// apps module would reap (deregistered, or unseen for livenessBlocks),
// once per instance with a doubling backoff after a failure; any other
// active router does it after a grace (hubReapGrace blocks), so a dead
// router does not block it. An instance deployed with restart goes back
// to the routers and is placed elsewhere.
package node
