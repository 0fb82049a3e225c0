package node

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/event"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/results"
	"github.com/emc-network/emcd/computing/results/fetch"
	"github.com/emc-network/emcd/computing/telemetry"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/consensus/devseal"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/node/registrar"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/operator"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/router/assign"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/txpool"
)

// Roles a node can run.
const (
	RoleValidator = "validator"
	RoleRouter    = "router"
	RoleCompute   = "compute"
)

// Config is everything New needs to assemble a node.
type Config struct {
	Role    string
	Dev     bool
	DataDir *config.DataDir
	// Genesis initialises an empty data dir; nil uses DATADIR/genesis.json,
	// or the genesis stored in the chain database.
	Genesis *genesis.Genesis

	// PasswordFile unlocks the validator key in DATADIR/keystore.
	PasswordFile string
	// P2PAddr is the libp2p listen multiaddr; P2PAnnounce replaces the
	// advertised addresses; Bootnodes are dialed at start.
	P2PAddr     string
	P2PAnnounce []string
	// P2PQUIC also listens on QUIC (udp, same port) beside TCP.
	P2PQUIC   bool
	Bootnodes []string

	// GRPCAddr is the operator API listen address (empty disables).
	GRPCAddr string

	RPCAddr     string
	CORSDomains []string
	VHosts      []string
	MetricsAddr string
	// Dashboard serves the web dashboard on the RPC port under
	// /dashboard/ (package dashboard; `emcd --dev` sets it).
	Dashboard bool

	// DevPeriod makes the dev sealer also seal empty blocks this often.
	DevPeriod time.Duration
	// DevAccounts unlocks the test-mnemonic accounts (dev mode only).
	DevAccounts bool
	// DevMarket runs the whole compute market on the dev node (dev mode
	// only; `emcd --dev` sets it): besides its compute side, a router
	// that sends from the dev router account, fed by the compute side in
	// process (devmarket.go); programs loaded for the process executor are
	// listed as images; the sealer seals while jobs hold escrow; and the
	// executor defaults to process.
	DevMarket bool

	// GPU opens the compute role's GPU provider (compute role and dev mode).
	GPU func() (gpu.Provider, error)
	// Executor is how the compute agent runs jobs: "docker" (the default,
	// "" too) or "process" (development only: no isolation). With
	// DevMarket "" is process: the dev chain runs programs loaded with
	// `emcd compute images load --executor process` on any machine.
	Executor string
	// ComputeFault is a TEST-ONLY fault injection for the compute agent
	// (agent.Config.Fault): agent.FaultWrongOutput makes it corrupt the
	// outputs of deterministic jobs, so multi-process tests have a
	// cheating node. "" (the default): none.
	ComputeFault string
	// TelemetryInterval is the GPU/host sampling period (default 5s).
	TelemetryInterval time.Duration

	// Storage chooses the state scheme, history window and cache sizes
	// (zero: the data dir's scheme, path for a new one, and defaults).
	// Its Metrics are replaced by ones on the node's registry.
	Storage state.StorageConfig

	// Register is the compute or router node's own registration in the
	// compute registry.
	Register RegisterConfig
	// VerifyWorkers bounds the goroutines a compute node computes its
	// proof-of-work challenge on (CPU reference; default 2).
	VerifyWorkers int
	// RelayRate and RelayBurst are the EMC Hub relay's token bucket per
	// API key on a router (calls per second and burst; 0: the relay's
	// defaults, relay.DefaultRate and relay.DefaultBurst). Negative values
	// are refused by New.
	RelayRate  float64
	RelayBurst int
	// VerifyProver is where the compute node's challenge is computed:
	// "inprocess" (the default, "" too: pow.Prove on VerifyWorkers
	// goroutines inside the node) or "sandbox" (the prover program run
	// through the compute executor, see node/prover.go).
	VerifyProver string
	// VerifyProverImage is the prover's image with the Docker executor
	// (default DefaultProverImage).
	VerifyProverImage string
	// InventoryRecheck is how often a registering compute node re-reads
	// its GPU inventory (default 5 minutes).
	InventoryRecheck time.Duration

	// heartbeatRegistry overrides which peers a router's live table counts
	// (tests whose chain does not move); nil: the registry module.
	heartbeatRegistry heartbeat.Registry
	// assignLive overrides a router's live table for job assignment (a
	// fake in tests); nil: the heartbeat tracker.
	assignLive assign.Live
	// hubStreams is the stream transport of the dev node's app relay
	// (hub.go; tests): the dev node has no libp2p host.
	hubStreams p2p.Streamer
	// devHeartbeatInterval is the dev compute side's heartbeat period
	// (tests; zero: heartbeat.DefaultInterval).
	devHeartbeatInterval time.Duration
}

// Node is a running emcd node.
type Node struct {
	cfg     Config
	log     *slog.Logger // component=node
	baseLog *slog.Logger // for components, which tag themselves
	db      ethdb.Database
	chain   *state.Chain
	pool    *txpool.Pool
	backend *backend
	sealer  *devseal.Sealer
	reg     *prometheus.Registry

	rpcSrv     *jsonrpc.Server
	rpcHTTP    *http.Server
	rpcAddr    net.Addr
	metricHTTP *http.Server

	net     *network
	gpus    gpu.Provider
	sampler *telemetry.Sampler
	// alloc hands out the compute role's GPUs to jobs; its free count is
	// what heartbeats report.
	alloc     *gpu.Allocator
	wallet    *wallet.Wallet    // nil for a node without a key of its own
	walletKey *ecdsa.PrivateKey // the wallet's key (nil without one): signs verifiers' requests
	// agent is the compute agent once started (heartbeats read its load).
	agent atomic.Pointer[agent.Service]
	// registrar keeps the node's registry entry current; nil when off.
	registrar *registrar.Registrar
	// execKind is the compute agent's executor (Config.Executor resolved).
	execKind string
	// dev is the dev node's router side and in-process market links; nil
	// on other nodes.
	dev     *devMarket
	metrics *chainMetrics
	// jobs and epochLength are for the router's assignment service.
	jobs        *jobs.Module
	epochLength uint64
	// mods are the chain's native modules.
	mods Modules
	// resultStore is a compute node's result store, which the results
	// protocol serves.
	resultStore      *results.Store
	resultStoreErr   error
	resultStoreOnce  sync.Once
	fetchM           *fetch.Metrics
	fetchMetricsOnce sync.Once
	opHeads          event.Feed // operator.Head, for the operator API's WatchHeads
	// appRelay is a router's EMC Hub relay under relay.Prefix (apps.go).
	appRelay atomic.Pointer[http.Handler]
	// hub is the compute side's app instances (hub_compute.go).
	hub atomic.Pointer[hubCompute]

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errCh  chan error
}

// New opens the data dir's chain and builds the node's components. The
// caller must hold the data dir lock.
func New(cfg Config, log *slog.Logger) (*Node, error) {
	switch cfg.Role {
	case RoleValidator, RoleRouter, RoleCompute:
	default:
		return nil, fmt.Errorf("node: unknown role %q (want validator, router or compute)", cfg.Role)
	}
	if math.IsNaN(cfg.RelayRate) || math.IsInf(cfg.RelayRate, 0) || cfg.RelayRate < 0 || cfg.RelayBurst < 0 {
		return nil, fmt.Errorf("node: relay rate %v and burst %d per API key: want positive numbers (0: the defaults)", cfg.RelayRate, cfg.RelayBurst)
	}
	g := cfg.Genesis
	if g == nil && cfg.Dev {
		g = genesis.Dev()
	}
	if g == nil {
		if _, err := os.Stat(cfg.DataDir.GenesisFile()); err == nil {
			if g, err = genesis.FromFile(cfg.DataDir.GenesisFile()); err != nil {
				return nil, err
			}
		}
	}
	db, err := state.OpenStore(cfg.DataDir.ChainData())
	if err != nil {
		return nil, err
	}
	if g == nil {
		if g, err = state.StoredGenesis(db); err != nil {
			db.Close()
			return nil, err
		}
		if g == nil {
			db.Close()
			return nil, fmt.Errorf("%w: run `emcd init --genesis FILE --datadir %s` first, or use --dev", state.ErrNoGenesis, cfg.DataDir.Path)
		}
	}
	modules, err := LoadModules(g)
	if err != nil {
		db.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	storage := cfg.Storage
	storage.Metrics = state.NewMetrics(reg)
	chain, err := state.OpenWithStorage(db, g, modules, log, storage)
	if err != nil {
		db.Close()
		if cfg.Dev && errors.Is(err, state.ErrGenesisMismatch) {
			// The dev genesis changes between versions (new modules); the
			// dev chain is disposable.
			return nil, fmt.Errorf("%w\nthis dev data dir was made by another emcd version's dev genesis: remove it (rm -rf %s) to start a fresh dev chain, or pass another --datadir", err, cfg.DataDir.Path)
		}
		return nil, err
	}
	poolCfg := txpool.DefaultConfig()
	poolCfg.ChainConfig = chain.Config()
	poolCfg.NextBaseFee = chain.NextBaseFee
	poolCfg.Metrics = txpool.NewMetrics(reg)
	// The pool recovers senders with the chain's own signer: the sender it
	// caches in each transaction is then reused by the block executor (a
	// different signer value would miss that cache and recover again).
	pool, err := txpool.New(poolCfg, poolChain{chain}, types.LatestSigner(chain.Config()), mclock.System{}, log)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("node: %w", err)
	}

	n := &Node{cfg: cfg, log: log.With("component", "node"), baseLog: log, db: db, chain: chain, pool: pool, reg: reg, errCh: make(chan error, 4)}
	n.registerMetrics(reg)
	n.jobs, n.epochLength, n.mods = modules.jobs(), modules.epochLength(), modules
	if n.jobs != nil {
		if n.metrics.jobs, err = newJobsMetrics(reg, n.jobs.ABI()); err != nil {
			n.closeStores()
			return nil, err
		}
	}
	n.backend = &backend{chain: chain, pool: pool, contracts: modules.contracts(), forks: forkSchedule(g), rewards: modules.rewards(), registry: modules.registry(), verify: modules.verify(), status: n.consensusStatus}
	if cfg.Dev && cfg.DevAccounts {
		keys, err := genesis.DevAccountKeys(genesis.DevAccountCount)
		if err != nil {
			n.closeStores()
			return nil, err
		}
		n.backend.accounts = newDevAccounts(keys)
	}
	var walletKey *ecdsa.PrivateKey
	if cfg.Dev {
		sc := devseal.Config{Key: genesis.DevSignerKey(), Period: cfg.DevPeriod}
		if cfg.DevMarket {
			sc.Busy, sc.BusyPeriod = func() bool { return n.jobsInFlight() || n.appsInFlight() }, devBusyPeriod
		}
		n.sealer = devseal.New(sc, chain, sealPool{pool}, log)
		if walletKey, err = devWalletKey(); err != nil {
			n.closeStores()
			return nil, err
		}
	}
	if !cfg.Dev {
		key, err := LoadValidatorKey(cfg.DataDir, cfg.PasswordFile)
		if err == nil {
			walletKey = key
		}
		if err != nil {
			if cfg.Role == RoleValidator || !errors.Is(err, ErrNoValidatorKey) {
				n.closeStores()
				return nil, err
			}
			// A follower without a key observes consensus with a throwaway one.
			if key, err = crypto.GenerateKey(); err != nil {
				n.closeStores()
				return nil, err
			}
		}
		if err := n.setupNetwork(key); err != nil {
			n.closeStores()
			return nil, err
		}
		n.backend.net = n.net
	}
	if walletKey != nil {
		n.walletKey = walletKey
		if err := n.setupWallet(walletKey); err != nil {
			n.closeStores()
			return nil, err
		}
	}
	n.execKind = cfg.Executor
	if n.execKind == "" {
		n.execKind = agent.ExecutorDocker
		if cfg.Dev && cfg.DevMarket {
			n.execKind = agent.ExecutorProcess
		}
	}
	if err := n.setupDevMarket(); err != nil {
		n.closeStores()
		return nil, err
	}
	if err := n.setupResults(); err != nil {
		n.closeStores()
		return nil, err
	}
	if cfg.RPCAddr != "" {
		cors := cfg.CORSDomains
		if cfg.Dev && len(cors) == 0 {
			cors = []string{"*"}
		}
		srv, err := jsonrpc.NewServer(jsonrpc.Config{CORSDomains: cors, VHosts: cfg.VHosts, SameOriginWS: cfg.Dashboard, Metrics: jsonrpc.NewMetrics(n.reg)}, n.backend, log)
		if err != nil {
			n.closeStores()
			return nil, err
		}
		n.rpcSrv = srv
	}
	return n, nil
}

// Chain returns the node's chain.
func (n *Node) Chain() *state.Chain { return n.chain }

// Registry returns the node's Prometheus registry, for other components'
// metrics (compute telemetry, for one).
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// RPCAddr returns the address JSON-RPC listens on (after Start).
func (n *Node) RPCAddr() net.Addr { return n.rpcAddr }

// Start opens the listeners and starts the background loops.
func (n *Node) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if n.rpcSrv != nil {
		ln, err := net.Listen("tcp", n.cfg.RPCAddr)
		if err != nil {
			return fmt.Errorf("node: JSON-RPC listen on %s: %w", n.cfg.RPCAddr, err)
		}
		n.rpcAddr = ln.Addr()
		n.rpcHTTP = &http.Server{Handler: n.rpcHandler(), ReadHeaderTimeout: 10 * time.Second}
		n.goServe("json-rpc", func() error { return n.rpcHTTP.Serve(ln) })
		n.log.Info("JSON-RPC listening", "http", "http://"+ln.Addr().String(), "ws", "ws://"+ln.Addr().String())
	}
	if n.cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", n.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("node: metrics listen on %s: %w", n.cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{}))
		// Profiles for operators chasing a slow node; the metrics address is
		// loopback unless the operator chose otherwise.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		n.metricHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		n.goServe("metrics", func() error { return n.metricHTTP.Serve(ln) })
		n.log.Info("metrics listening", "addr", "http://"+ln.Addr().String()+"/metrics")
	}
	if err := n.startCompute(ctx); err != nil {
		return err
	}
	if n.cfg.GRPCAddr != "" {
		ln, err := net.Listen("tcp", n.cfg.GRPCAddr)
		if err != nil {
			return fmt.Errorf("node: operator API listen on %s: %w", n.cfg.GRPCAddr, err)
		}
		srv := operator.NewServer(opBackend{n}, operator.Config{}, n.baseLog)
		n.goServe("grpc", func() error { return srv.Serve(ctx, ln) })
		n.log.Info("operator API listening", "grpc", ln.Addr().String())
	}
	n.startEventLoops(ctx)
	if n.net != nil {
		n.runNetwork(ctx)
	}
	if n.wallet != nil {
		n.spawn(func() error { return n.wallet.Run(ctx) })
	}
	n.startDevMarket(ctx)
	if err := n.startRegistrar(ctx); err != nil {
		return err
	}
	n.startEvidenceReports(ctx)
	if err := n.startAssigner(ctx); err != nil {
		return err
	}
	if err := n.startHub(ctx); err != nil {
		return err
	}
	if err := n.startAgent(ctx); err != nil {
		return err
	}
	if err := n.startChallenges(ctx); err != nil {
		return err
	}
	if n.sealer != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.sealer.Run(ctx); err != nil {
				n.fail("dev sealer stopped", err)
			}
		}()
	}
	return nil
}

// Err delivers a fatal error of a background component.
func (n *Node) Err() <-chan error { return n.errCh }

// spawn runs fn in the node's wait group; an error is fatal for the node.
func (n *Node) spawn(fn func() error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := fn(); err != nil {
			n.fail("component stopped", err)
		}
	}()
}

func (n *Node) goServe(name string, serve func() error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.fail("server stopped", fmt.Errorf("%s server: %w", name, err))
		}
	}()
}

// fail reports a fatal error of a background component on Err. It never
// blocks: the first errors fill the channel (whoever runs the node stops on
// the first), later ones are only logged.
func (n *Node) fail(msg string, err error) {
	n.log.Error(msg, "err", err)
	select {
	case n.errCh <- err:
	default:
	}
}

// startEventLoops forwards chain and pool events to RPC subscribers.
func (n *Node) startEventLoops(ctx context.Context) {
	heads := make(chan state.HeadEvent, 256)
	headSub := n.chain.SubscribeHead(heads)
	txs := make(chan []*types.Transaction, 256)
	unsubTxs := n.pool.SubscribeNewTxs(txs)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer headSub.Unsubscribe()
		defer unsubTxs()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-heads:
				n.metrics.blocks.Inc()
				n.metrics.txs.Add(float64(ev.Block.Transactions().Len()))
				n.metrics.gasUsed.Add(float64(ev.Block.GasUsed()))
				n.metrics.blockTxs.Observe(float64(ev.Block.Transactions().Len()))
				n.metrics.observeHead(time.Now(), ev.Receipts)
				if n.sealer == nil {
					// The dev sealer resets the pool itself before sealing
					// the next block; other producers rely on this loop.
					if err := n.pool.Reset(ev.Block.Header()); err != nil {
						n.log.Error("pool reset failed", "err", err)
					}
				}
				n.backend.headFeed.Send(jsonrpc.ChainHeadEvent{Block: ev.Block, Receipts: ev.Receipts})
				n.opHeads.Send(operator.Head{Number: ev.Block.NumberU64(), Hash: ev.Block.Hash(), Time: ev.Block.Time(),
					TxCount: ev.Block.Transactions().Len(), GasUsed: ev.Block.GasUsed()})
			case batch := <-txs:
				n.backend.txFeed.Send(batch)
			}
		}
	}()
}

// startCompute opens the GPU provider and starts telemetry sampling for the
// compute role (and dev mode, which runs every role).
func (n *Node) startCompute(ctx context.Context) error {
	if n.cfg.GPU == nil || (n.cfg.Role != RoleCompute && !n.cfg.Dev) {
		return nil
	}
	p, err := n.cfg.GPU()
	if err != nil {
		return fmt.Errorf("node: GPUs: %w", err)
	}
	n.gpus = p
	inv, err := p.Inventory(ctx)
	if err != nil {
		return fmt.Errorf("node: GPU inventory: %w", err)
	}
	if len(inv.Devices) == 0 {
		n.log.Warn("no GPUs offered", "source", inv.Source, "reason", inv.Reason)
	} else {
		n.log.Info("GPUs found", "source", inv.Source, "count", len(inv.Devices), "simulated", inv.Simulated, "driver", inv.DriverVersion)
	}
	n.alloc = gpu.NewAllocator(inv)
	interval := n.cfg.TelemetryInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	n.sampler = telemetry.NewSampler(p, interval, nil, telemetry.ProcHost{FS: os.DirFS("/proc")}, n.log)
	if err := telemetry.Register(n.reg, n.sampler); err != nil {
		return fmt.Errorf("node: telemetry metrics: %w", err)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.sampler.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			n.log.Error("telemetry sampler stopped", "err", err)
		}
	}()
	return nil
}

func (n *Node) consensusStatus() (any, error) {
	if n.net != nil {
		st := n.net.engine.Status()
		return map[string]any{
			"engine": "ibft", "height": st.Height, "round": st.Round, "validators": st.Validators,
			"proposer": st.Proposer, "self": st.Self, "isValidator": st.IsValidator,
			"peers": n.net.host.PeerCount(), "lastCommitTime": st.LastCommitTime.UTC().Format(time.RFC3339Nano),
		}, nil
	}
	head := n.chain.Head()
	vals, err := n.chain.ValidatorsFor(head.Number.Uint64() + 1)
	if err != nil {
		return nil, err
	}
	st := map[string]any{
		"height":         head.Number.Uint64() + 1,
		"round":          0,
		"validators":     vals,
		"peers":          0,
		"lastCommitTime": time.Unix(int64(head.Time), 0).UTC().Format(time.RFC3339),
	}
	if n.sealer != nil {
		st["engine"] = "dev"
		st["proposer"] = n.sealer.Address()
	}
	return st, nil
}

// Close stops everything and flushes the store. Safe to call once after Start
// or after a failed Start.
func (n *Node) Close() error {
	if n.cancel != nil {
		n.cancel()
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.rpcHTTP != nil {
		_ = n.rpcHTTP.Shutdown(shutdown)
	}
	if n.rpcSrv != nil {
		n.rpcSrv.Close()
	}
	if n.metricHTTP != nil {
		_ = n.metricHTTP.Shutdown(shutdown)
	}
	n.wg.Wait()
	if n.gpus != nil {
		_ = n.gpus.Close()
	}
	return n.closeStores()
}

func (n *Node) closeStores() error {
	if n.net != nil {
		n.net.close()
	}
	n.pool.Close()
	// The chain journals its in-memory state layers into the store first.
	if err := n.chain.Close(); err != nil {
		n.log.Error("closing chain state", "err", err)
	}
	if err := n.db.Close(); err != nil {
		return fmt.Errorf("node: close store: %w", err)
	}
	return nil
}
