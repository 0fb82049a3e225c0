// Package operator serves the gRPC operator API: read-only node
// introspection for operators and their tools. Service
// emcd.operator.v1.Operator serves node identity, status, peers, GPU
// inventory and a stream of new chain heads; a Backend that also
// implements ChainBackend adds TxPoolService, ConsensusService (validators
// with stakes, round, candidates), StakingService and JobsService (chain.go,
// chain_service.go). Server reflection is registered, so grpcurl works
// without the .proto file. The `emcd operator` CLI is its client.
//
// It owns the wire schema (proto/emcd/operator/v1/operator.proto and the
// Go generated from it), the mapping from node state to that schema, and
// the server's limits. It does not own node state: the node implements
// Backend, a small interface of plain Go structs, so this package links
// neither the chain nor p2p and its tests run against a fake.
//
// Start reading at Backend (backend.go), then NewServer and Serve
// (server.go); watch.go explains how WatchHeads drops a slow client without
// ever blocking the node's head feed.
//
// # Limits
//
// Everything is bounded by Config: message sizes, connections, streams per
// connection, open WatchHeads streams, the heads a stream may fall behind,
// list lengths, and unary call time. Clients may ping at most every 10 s;
// the server pings idle clients every 2 min and closes connections that do
// not answer within 20 s. The API has no authentication: serve it on
// loopback (Serve logs a warning otherwise).
//
// # Regenerating the Go code
//
// The generated files are committed, so building needs no protoc. After
// editing operator.proto, regenerate with protoc 3.21.12 (Debian/Ubuntu:
// apt-get install -y protobuf-compiler), protoc-gen-go v1.36.12 and
// protoc-gen-go-grpc v1.6.2 on PATH:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//	cd operator/proto && protoc -I . \
//		--go_out=. --go_opt=paths=source_relative \
//		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
//		emcd/operator/v1/operator.proto
//
// (the Makefile's proto target runs the last command). Field numbers are
// the wire format: add fields with new numbers, never renumber or reuse.
package operator
