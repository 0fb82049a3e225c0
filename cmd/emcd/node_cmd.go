package main

import (
	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/node"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/router/relay"
)

// nodeFlags are the flags of the root command, which runs a node.
type nodeFlags struct {
	role          string
	rpcAddr       string
	rpcCORS       []string
	rpcVHosts     []string
	password      string
	devPeriod     time.Duration
	p2pAddr       string
	p2pAnnounce   []string
	p2pQUIC       bool
	bootnodes     []string
	metricsAddr   string
	grpcAddr      string
	noDevAccounts bool
	gpu           gpuFlags
	autoRegister  bool
	prices        []string
	cpuPrice      string
	images        []string
	executor      string
	verifyWorkers int
	verifyProver  string
	proverImage   string
	dashboard     bool
	computeFault  string
	relayRate     float64
	relayBurst    int
}

func (nf *nodeFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&nf.role, "role", "validator", "node role: validator, router or compute (--dev runs all roles)")
	f.StringVar(&nf.rpcAddr, "rpc.addr", params.DefaultRPCAddr, "JSON-RPC listen address, HTTP and WebSocket on the same port (empty disables)")
	f.StringSliceVar(&nf.rpcCORS, "rpc.corsdomain", nil, "origins allowed to call JSON-RPC from a browser (dev mode default: *)")
	f.StringSliceVar(&nf.rpcVHosts, "rpc.vhosts", []string{"localhost"}, "Host headers accepted by JSON-RPC (* for any)")
	f.StringVar(&nf.password, "password", "", "file holding the password of the node key")
	f.DurationVar(&nf.devPeriod, "dev.period", 0, "dev mode: also seal a block every period even without transactions (0: only when txs are pending)")
	f.StringVar(&nf.p2pAddr, "p2p.addr", params.DefaultP2PAddr, "libp2p listen multiaddr")
	f.BoolVar(&nf.p2pQUIC, "p2p.quic", false, "also listen on QUIC (udp, same port as --p2p.addr); TCP is cheaper on CPU")
	f.StringSliceVar(&nf.p2pAnnounce, "p2p.announce", nil, "multiaddrs to announce instead of the listen address (NAT)")
	f.StringSliceVar(&nf.bootnodes, "bootnodes", nil, "bootstrap peers: multiaddrs ending in /p2p/PEERID (comma-separated)")
	f.StringVar(&nf.metricsAddr, "metrics.addr", "", "Prometheus metrics listen address (empty disables)")
	f.StringVar(&nf.grpcAddr, "grpc.addr", params.DefaultGRPCAddr, "gRPC operator API listen address (empty disables; no authentication: keep it on loopback)")
	f.BoolVar(&nf.dashboard, "dashboard", false, "serve the web dashboard on the JSON-RPC port under /dashboard/ (default on with --dev)")
	f.BoolVar(&nf.noDevAccounts, "no-dev-accounts", false, "dev mode: do not unlock the test-mnemonic accounts")
	nf.gpu.register(cmd)
	f.BoolVar(&nf.autoRegister, "auto-register", true, "compute and router roles: keep this node's entry in the compute registry current through the node wallet (its own key is the owner; a router registers once it holds a router stake)")
	f.StringSliceVar(&nf.prices, "compute.price-per-gpu-second", nil, "compute role: price in wei per GPU-second, WEI for this host's GPU model or MODEL=WEI (comma-separated or repeated, at most 8 models; required with GPUs for auto-registration)")
	f.StringVar(&nf.cpuPrice, "compute.cpu-price", "0", "compute role: price in wei per second of a CPU-only job (0: take none)")
	f.StringVar(&nf.executor, "compute.executor", "docker", "compute role (and --dev): how the job agent runs assigned jobs: docker (isolated containers; the job's image digest is a Docker image ID) or process (development only, NO isolation: the digest names a program loaded with `emcd compute images load`); --dev without this flag: process")
	f.IntVar(&nf.verifyWorkers, "verify.workers", 2, "compute role: CPU goroutines that compute this node's proof-of-work challenge (the CPU reference; validators check on one goroutine a check)")
	f.StringVar(&nf.verifyProver, "verify.prover", node.ProverInProcess, "compute role: where the proof-of-work challenge is computed: inprocess (inside emcd, --verify.workers goroutines) or sandbox (`emcd pow prove`, or a GPU prover image, run through --compute.executor with the jobs' sandbox and GPUs)")
	f.StringVar(&nf.proverImage, "verify.prover-image", node.DefaultProverImage, "compute role, --verify.prover sandbox with --compute.executor docker: the image holding the prover (its entrypoint runs `pow prove`; present on the node, nothing is pulled)")
	f.StringVar(&nf.computeFault, "compute.fault", "", "TEST ONLY, hidden: fault injection for multi-process tests; wrong-output makes the job agent corrupt the outputs (and digests) of deterministic jobs and re-executions, so the node cheats and gets slashed. Never set it on a real node")
	_ = f.MarkHidden("compute.fault")
	f.Float64Var(&nf.relayRate, "relay.rate", float64(relay.DefaultRate), "router role (and --dev): EMC Hub relay calls per second allowed per API key (token bucket refill; > 0)")
	f.IntVar(&nf.relayBurst, "relay.burst", relay.DefaultBurst, "router role (and --dev): EMC Hub relay calls one API key may make at once above the rate (token bucket size; ≥ 1)")
	f.StringSliceVar(&nf.images, "compute.image", nil, "compute role: digests of the container images this node holds, sha256:HEX (comma-separated or repeated, at most 16)")
}

// checkRelayLimits refuses a per-key relay rate or burst that would stop
// every call or is not a number.
func checkRelayLimits(rate float64, burst int) error {
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate <= 0 {
		return fmt.Errorf("--relay.rate %v: want calls per second per API key above 0 (default %d)", rate, relay.DefaultRate)
	}
	if burst < 1 {
		return fmt.Errorf("--relay.burst %d: want at least 1 call (default %d)", burst, relay.DefaultBurst)
	}
	return nil
}
