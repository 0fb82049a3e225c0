package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/node"
)

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
	cfg := node.Config{
		Role:         nf.role,
		Dev:          g.dev,
		DataDir:      dd,
		RPCAddr:      nf.rpcAddr,
		CORSDomains:  nf.rpcCORS,
		VHosts:       vhosts,
		MetricsAddr:  nf.metricsAddr,
		GRPCAddr:     nf.grpcAddr,
		PasswordFile: nf.password,
		P2PAddr:      nf.p2pAddr,
		P2PAnnounce:  nf.p2pAnnounce,
		P2PQUIC:      nf.p2pQUIC,
		Bootnodes:    nf.bootnodes,
		DevPeriod:    nf.devPeriod,
		DevAccounts:  g.dev && !nf.noDevAccounts,
		GPU:          func() (gpu.Provider, error) { return nf.gpu.open(g, os.Stderr) },
		Executor:     nf.executor,
		Storage:      g.storage.config(),
		Register: node.RegisterConfig{
			Auto: nf.autoRegister, PricesPerGPUSecond: nf.prices, CPUPriceWei: nf.cpuPrice, Images: nf.images,
		},
	}
	if nf.executor != "docker" && nf.executor != "process" {
		return fmt.Errorf("--compute.executor %q: want docker or process", nf.executor)
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
