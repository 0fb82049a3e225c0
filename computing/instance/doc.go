// Package instance runs app instances on a compute node (EMC Hub, issue
// 13) and serves the node's side of the app relay protocol.
//
// An instance is a long-running app (a model's HTTP API) rented for a
// lease. Manager (instance.go) starts it through a Runner, polls its health
// path (GET, 2xx) until it is ready or ReadyTimeout passes, and stops it on
// lease end (Spec.Until), on Stop, or at Close. There is no restart: an app
// that exits or never gets healthy is failed, and the router may place it
// elsewhere. Every state change (starting, ready, failed, stopped) goes to
// Config.OnChange, the hook the node reports to the chain with.
//
// Runners:
//
//   - Docker (docker.go): the jobs' sandbox (computing/executor): read-only
//     root, all capabilities dropped, no-new-privileges, an unprivileged
//     user, a small /tmp tmpfs, CPU, memory (no swap) and pids limits,
//     capped logs, GPUs by UUID, restart policy "no", and no network at
//     all (--network none: a loopback only). The node reaches the app's
//     port by dialing 127.0.0.1:PORT from inside the container's network
//     namespace (netns_linux.go: the socket is made on a thread that joined
//     it), so the app can reach nothing, not even the host, and nothing but
//     the node can reach the app. Why not the alternatives the Docker API
//     offers: a port cannot be published from a --network none container;
//     a published port needs a bridge network, which routes out; an
//     --internal bridge has no route out but still lets the app reach
//     every port the host serves on its bridge address (the node's RPC,
//     p2p and metrics ports) — the Docker test checks that the app reaches
//     none. The price: the node must run on the Docker host with
//     CAP_SYS_ADMIN (Start says so otherwise).
//   - Process (process.go): a child process on a free 127.0.0.1 port given
//     as $PORT; tests and development only, no isolation.
//
// The relay protocol (p2p.Names.App: /emcd/<chain>/app/1, raw streams of
// p2p.Streamer, frames of p2p.WriteFrame; wire.go): the router opens one
// stream per call and sends a RequestHeader frame (instance, method, path,
// query, allow-listed headers, the caller's API key, the body's length if
// known), then the body as frames of at most MaxChunk and an empty end
// frame. The node (Server, server.go) answers a ResponseHeader frame
// (status and allow-listed headers, or a refusal Code: unknown instance,
// not ready, bad key, too large, app unreachable or timed out, busy,
// malformed), then the app's body as frames sent as they are read (a
// server-sent event reaches the router as the app flushes it) and an end
// frame. A stream reset either way means the call broke: a body without
// its end frame is never taken as whole. A metering node (ServerConfig.
// Receipts) then sends one receipt frame (receipt.go: version, the
// cumulative apps.Receipt body, the node owner's RoleNode signature, and
// in version 2 the router's sync token its meter follows) for the call it
// just answered in whole, numbered in the order calls end; the stream's
// end instead of it means the call was not metered. A RequestHeader may
// carry the router's resync request (SyncToken, SyncBase: optional RLP
// fields, absent otherwise), handed to Receipts with the Call. Headers are bounded
// (MaxHeaderFrame, MaxHeaders, MaxPath...), bodies by MaxBody on both
// sides, waits by HeaderTimeout, AppTimeout and IdleTimeout per frame.
//
// The node checks everything the router checked that it can: the instance
// runs here and is ready, and the key hashes to the instance's KeyHash
// (keccak256 of the key as apps.APIKeyHash, compared in constant time; only the hash is ever
// published). A router may relay at most MaxCalls calls at once. Every call
// that reached the app goes to the Meter with a digest of the request
// (header without key, and body), its status, duration and sizes: the
// input of usage receipts.
//
// Start reading at Manager, then Server.Handle, then wire.go.
package instance
