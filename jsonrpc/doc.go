// Package jsonrpc serves the Ethereum JSON-RPC API of an emcd node over HTTP
// and WebSocket on one port, using go-ethereum's rpc package as the server.
//
// The package owns the wire contract: the eth, net, web3, txpool, debug and
// emc namespaces, their parameter decoding, response shapes (identical to
// geth's, so ethers.js, viem, web3.js and MetaMask work unmodified) and error
// codes. Everything it knows about the node comes through the Backend
// interface in backend.go, which the node package implements.
//
// Where to start reading:
//   - backend.go: the seam to the node.
//   - server.go: NewServer, Config, the http.Handler (HTTP POST, WebSocket
//     upgrade, CORS, virtual hosts, body/batch/connection limits).
//   - eth.go, filters.go: the bulk of the API; resolve.go turns block tags
//     (latest, pending, safe, finalized, earliest, numbers, EIP-1898 hashes)
//     into headers and state; marshal.go shapes blocks, transactions and
//     receipts exactly as geth's internal/ethapi does.
//   - call.go: eth_call and eth_estimateGas through Backend.ApplyMessage, so
//     chain-native modules behave the same in calls as in blocks.
//   - errors.go: the one table mapping sentinel errors to JSON-RPC codes.
//   - emc_*.go: the emc namespace beyond emc.go (emc_signers reads who
//     signed the commit certificates in a range of headers).
//   - sameorigin.go: Config.SameOriginWS, which lets a page served by the
//     same port (the node's dashboard) open the WebSocket without a CORS
//     entry, still subject to the virtual-host check.
//   - metrics.go: Config.Metrics times HTTP requests by method
//     (emcd_rpc_request_duration_seconds); method labels are bounded (served
//     namespaces only, at most 200 names, then "other").
//
// Tests replay golden transcripts (testdata/*.txt, "-->" request and "<--"
// response lines) against an in-memory fake backend; run with -rewrite to
// regenerate them and review the diff like code.
package jsonrpc
