package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/inventory"
	"github.com/emc-network/emcd/node/registrar"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/p2p/libp2p"
)

// RegisterConfig is how a compute or router node registers itself in the
// compute registry (node/registrar).
type RegisterConfig struct {
	// Auto keeps the node's registration current through the node wallet,
	// from the wallet's key as owner: a compute node registers (or updates)
	// its inventory and offer, a router registers once its owner holds a
	// router stake. Validators register nothing.
	Auto bool
	// PricesPerGPUSecond are wei per GPU-second: WEI for the node's GPU
	// model, or MODEL=WEI.
	PricesPerGPUSecond []string
	// CPUPriceWei is wei per second of a CPU-only job ("" or "0": none).
	CPUPriceWei string
	// Images are the digests of the container images the node holds.
	Images []string
}

// startRegistrar starts the registrar of a compute or router node with
// auto-registration on. A bad offer (a price that does not parse, GPUs
// without a price) fails Start: it is the operator's config. The dev node
// runs two: its compute node's (the node wallet, nodekey) and its
// router's (the dev router's wallet, router-nodekey), its compute node
// listing the loaded programs too (devOffer).
func (n *Node) startRegistrar(ctx context.Context) error {
	rc := n.cfg.Register
	role := n.cfg.Role
	if !rc.Auto || (role != RoleCompute && role != RoleRouter && n.dev == nil) {
		return nil
	}
	if n.wallet == nil {
		n.log.Warn("auto-registration off: this node has no key of its own to send from (create one with `emcd account new`)")
		return nil
	}
	if n.backend.registry == nil {
		n.log.Warn("auto-registration off: this chain has no compute registry module")
		return nil
	}
	if n.dev != nil {
		if _, err := n.runRegistrar(ctx, RoleRouter, n.dev.routerWallet, n.dev.routerKey, nil); err != nil {
			return err
		}
		if n.gpus == nil {
			return nil // no compute side
		}
		role = RoleCompute
	}
	// The same node key the libp2p host runs with (a dev node runs no host:
	// the key is created for the registration, as `emcd node register` does).
	key, err := libp2p.LoadOrCreateKey(n.cfg.DataDir.NodeKey())
	if err != nil {
		return fmt.Errorf("node: registration: %w", err)
	}
	r, err := n.runRegistrar(ctx, role, n.wallet, key, registrar.NewMetrics(n.reg))
	if err != nil || r == nil {
		return err
	}
	n.registrar = r
	if role == RoleCompute && n.gpus != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.recheckInventory(ctx, r, rc)
		}()
	}
	return nil
}

// runRegistrar starts one registrar for role, sending from w with key as
// its peer ID; nil (and no error) when a compute node has nothing to sell.
func (n *Node) runRegistrar(ctx context.Context, role string, w *wallet.Wallet, key crypto.PrivKey, m *registrar.Metrics) (*registrar.Registrar, error) {
	mod := n.backend.registry
	cfg := registrar.Config{
		Role: role, PeerKey: key, Chain: n.chain, Wallet: w, Estimate: n.estimateGas,
		Policy: w.Policy(), RouterStaked: mod.RouterStaked,
		Metrics: m, Log: n.baseLog,
	}
	if n.jobs != nil {
		// Three pings per liveness window: one lost or late ping leaves
		// the node live.
		cfg.PingEveryBlocks = max(1, n.jobs.Params().LivenessBlocks/3)
	}
	if role == RoleCompute {
		var err error
		if cfg.Listing, err = n.listing(ctx, n.cfg.Register); err != nil {
			if errors.Is(err, errNoPrice) {
				// Auto-registration is on by default: a node nobody priced
				// runs unregistered rather than refusing to start.
				n.log.Warn("auto-registration off: this node has GPUs and no price (set --compute.price-per-gpu-second, or [compute] price-per-gpu-second in config.toml)", "gpus", cfg.Listing.GPUCount)
				return nil, nil
			}
			return nil, err
		}
		if !cfg.Listing.Sells() {
			n.log.Warn("auto-registration off: this node sells nothing (no GPUs, and no --compute.cpu-price for CPU-only jobs)")
			return nil, nil
		}
	}
	r, err := registrar.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("node: registration: %w", err)
	}
	n.spawn(func() error { return r.Run(ctx) })
	return r, nil
}

// defaultInventoryRecheck is how often a compute node re-reads its GPU
// inventory for its registration (Config.InventoryRecheck).
const defaultInventoryRecheck = 5 * time.Minute

// recheckInventory re-reads the GPU inventory until ctx ends and hands a
// changed listing to the registrar, which sends updateNode on its next
// head. A listing that can no longer be registered (GPUs of mixed models,
// say) is logged and the last good one kept.
func (n *Node) recheckInventory(ctx context.Context, r *registrar.Registrar, rc RegisterConfig) {
	every := n.cfg.InventoryRecheck
	if every <= 0 {
		every = defaultInventoryRecheck
		if n.dev != nil {
			every = devInventoryRecheck // programs loaded by hand are listed at once
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l, err := n.listing(ctx, rc)
		if err == nil && !l.Sells() {
			err = errors.New("the node would sell nothing")
		}
		if err != nil {
			n.log.Warn("GPU inventory re-read: registration kept as it was", "err", err)
			continue
		}
		if old := r.Listing(); old.Summary != l.Summary || !slices.Equal(old.Images, l.Images) {
			n.log.Info("GPU inventory changed: updating the registration", "was", old.Summary, "now", l.Summary,
				"images_was", len(old.Images), "images_now", len(l.Images))
			if err := r.SetListing(l); err != nil {
				n.log.Warn("GPU inventory re-read: registration kept as it was", "err", err)
			}
		}
	}
}

// errNoPrice is listing's error for a node with GPUs and no price.
var errNoPrice = errors.New("node: GPUs without a price")

// listing is what this compute node registers: its GPU inventory (none
// without a GPU provider) and its configured offer.
func (n *Node) listing(ctx context.Context, rc RegisterConfig) (inventory.Listing, error) {
	if n.dev != nil {
		var err error
		if rc, err = n.devOffer(rc); err != nil {
			return inventory.Listing{}, fmt.Errorf("node: registration: %w", err)
		}
	}
	inv := &gpu.Inventory{Devices: []gpu.Device{}}
	if n.gpus != nil {
		var err error
		if inv, err = n.gpus.Inventory(ctx); err != nil {
			return inventory.Listing{}, fmt.Errorf("node: GPU inventory: %w", err)
		}
	}
	s, err := inventory.Summarize(inv)
	if err != nil {
		return inventory.Listing{}, fmt.Errorf("node: registration: %w", err)
	}
	if s.GPUCount > 0 && len(rc.PricesPerGPUSecond) == 0 {
		return inventory.Listing{Summary: s}, errNoPrice
	}
	o, err := inventory.ParseOffer(s, rc.PricesPerGPUSecond, rc.CPUPriceWei, rc.Images)
	if err != nil {
		return inventory.Listing{}, fmt.Errorf("node: registration (--compute.price-per-gpu-second, --compute.cpu-price, --compute.image): %w", err)
	}
	return inventory.Listing{Summary: s, Offer: o}, nil
}

// Registrar returns the node's registrar, nil when the node does not
// register itself.
func (n *Node) Registrar() *registrar.Registrar { return n.registrar }
