// Package outbox sends one-way messages to peers without ever blocking the
// sender: each peer has a bounded FIFO queue (messages and bytes) drained by
// one worker goroutine that makes one p2p.Requester call at a time. When a
// queue is full the oldest messages are dropped (for consensus the newest
// matter most); drops, failures and sends are counted in Metrics and
// failures logged at debug.
//
// Start reading at Outbox.Send. Workers start on a peer's first message and
// exit after IdleTimeout with nothing to send, so peers that went away do
// not keep goroutines; MaxPeers bounds how many run at once. Close cancels
// in-flight requests and waits for every worker.
package outbox
