package params

// DevChainID is the chain id of the `emcd --dev` chain. It is fixed so a
// wallet configured once keeps working across restarts and wipes.
const DevChainID = 1337

// Default listen addresses. Everything binds loopback unless told otherwise.
const (
	DefaultRPCAddr     = "127.0.0.1:8545"
	DefaultP2PAddr     = "/ip4/127.0.0.1/tcp/30333"
	DefaultGRPCAddr    = "127.0.0.1:9632"
	DefaultMetricsAddr = "127.0.0.1:6060"
)

// Token denominations. EMC has 18 decimals, like ether.
const (
	Wei = 1
	EMC = 1_000_000_000_000_000_000
)
