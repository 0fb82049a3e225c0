package main

import (
	"cmp"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/node"
)

// devGPUs is how many simulated GPUs a dev node offers when --gpu.mode is
// not set.
const devGPUs = 1

// devComputeDefaults: a dev node's compute side offers devGPUs simulated
// GPUs unless --gpu.mode says otherwise, so that jobs run on any machine,
// at the testnet's price (testnetGPUPriceWei per GPU-second, and per
// second of a CPU-only job) unless --compute.price-per-gpu-second and
// --compute.cpu-price say otherwise (flag, environment or config file).
func devComputeDefaults(cmd *cobra.Command, nf *nodeFlags) {
	if !cmd.Flags().Changed("gpu.mode") {
		nf.gpu.mode = string(gpu.ModeSimulated)
		if !cmd.Flags().Changed("gpu.simulated") {
			nf.gpu.simulated = devGPUs
		}
	}
	if !cmd.Flags().Changed("compute.price-per-gpu-second") {
		nf.prices = []string{testnetGPUPriceWei}
	}
	if !cmd.Flags().Changed("compute.cpu-price") {
		nf.cpuPrice = testnetGPUPriceWei
	}
}

// runNode starts the node in its role and blocks until SIGINT/SIGTERM.
func runNode(cmd *cobra.Command, g *globals, nf *nodeFlags) error {
	log, err := g.logger(os.Stderr)
	if err != nil {
		return err
	}
	dd := g.resolvedDataDir()
	if err := dd.Lock(); err != nil {
		return err
	}
	defer dd.Unlock()
	vhosts := nf.rpcVHosts
	if g.dev && !cmd.Flags().Changed("rpc.vhosts") {
		vhosts = []string{"*"}
	}
	executor := nf.executor
	if g.dev {
		devComputeDefaults(cmd, nf)
		if !cmd.Flags().Changed("compute.executor") {
			executor = "" // the dev node's default: process (node.Config.Executor)
		}
	}
	cfg := node.Config{
		Role:         nf.role,
		Dev:          g.dev,
		DataDir:      dd,
		RPCAddr:      nf.rpcAddr,
		CORSDomains:  nf.rpcCORS,
		VHosts:       vhosts,
		MetricsAddr:  nf.metricsAddr,
		Dashboard:    dashboardOn(cmd.Flags()),
		GRPCAddr:     nf.grpcAddr,
		PasswordFile: nf.password,
		P2PAddr:      nf.p2pAddr,
		P2PAnnounce:  nf.p2pAnnounce,
		P2PQUIC:      nf.p2pQUIC,
		Bootnodes:    nf.bootnodes,
		DevPeriod:    nf.devPeriod,
		DevAccounts:  g.dev && !nf.noDevAccounts,
		DevMarket:    g.dev,
		GPU:          func() (gpu.Provider, error) { return nf.gpu.open(g, os.Stderr) },
		Executor:     executor,
		ComputeFault: nf.computeFault,
		Storage:      g.storage.config(),
		Register: node.RegisterConfig{
			Auto: nf.autoRegister, PricesPerGPUSecond: nf.prices, CPUPriceWei: nf.cpuPrice, Images: nf.images,
		},
	}
	cfg.VerifyWorkers = nf.verifyWorkers
	cfg.VerifyProver, cfg.VerifyProverImage = nf.verifyProver, nf.proverImage
	if nf.verifyProver != node.ProverInProcess && nf.verifyProver != node.ProverSandbox {
		return fmt.Errorf("--verify.prover %q: want %s or %s", nf.verifyProver, node.ProverInProcess, node.ProverSandbox)
	}
	if g.storage.layers < 1 {
		return fmt.Errorf("--state.layers %d: want at least 1", g.storage.layers)
	}
	if err := checkRelayLimits(nf.relayRate, nf.relayBurst); err != nil {
		return err
	}
	cfg.RelayRate, cfg.RelayBurst = nf.relayRate, nf.relayBurst
	if nf.executor != "docker" && nf.executor != "process" {
		return fmt.Errorf("--compute.executor %q: want docker or process", nf.executor)
	}
	if nf.computeFault != "" && nf.computeFault != agent.FaultWrongOutput {
		return fmt.Errorf("--compute.fault %q: want %s (test only) or none", nf.computeFault, agent.FaultWrongOutput)
	}
	if g.dev {
		log.Info("dev node runs the compute market", "gpus", nf.gpu.mode, "executor", cmp.Or(executor, "process"))
	}
	log.Info("emcd starting", "version", versionString(), "role", nf.role, "dev", g.dev, "datadir", dd.Path)
	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		n.Close()
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var runErr error
	select {
	case s := <-sigs:
		log.Info("shutting down", "signal", s.String())
	case runErr = <-n.Err():
		log.Error("fatal error, shutting down", "err", runErr)
	}
	if err := n.Close(); err != nil && runErr == nil {
		runErr = err
	}
	log.Info("stopped")
	return runErr
}
