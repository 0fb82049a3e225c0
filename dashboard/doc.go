// Package dashboard is the node's web dashboard: a static page (one
// index.html, app.js and style.css, embedded in the binary: no CDN, no
// build step, works offline) that the node serves on its JSON-RPC port
// under /dashboard/ when node.Config.Dashboard is set (`emcd --dev` sets
// it; `--dashboard` elsewhere).
//
// The page holds no data of its own: app.js opens a WebSocket to the
// port it was loaded from and reads everything through the node's public
// JSON-RPC API (eth_subscribe newHeads, eth_getBlockByNumber, emc_signers,
// emc_validators, emc_consensusStatus, net_peerCount, txpool_status,
// emc_epochInfo, emc_supply, emc_computeNodes (with each node's
// reliability score and challenge history), emc_liveNodes, emc_jobs,
// emc_apps, emc_instances, and the lookups behind the search box). A method a node does not serve (emc_liveNodes off a router,
// emc_apps before the apps module, emc_epochInfo without rewards) leaves
// its panel saying so; nothing else breaks.
//
// It is a package of its own, not part of jsonrpc, because it is a client
// of the API (it could be served from anywhere that may open the
// WebSocket), and the node mounts it beside the other non-RPC paths of the
// port (the results relay, apps).
//
// The handler serves GET and HEAD only, with a Content-Security-Policy
// that allows scripts, styles and images from the page's own origin alone
// and connections to its own origin (the WebSocket). The page is tested in
// a real headless Chromium by node/dashboard_test.go.
package dashboard
