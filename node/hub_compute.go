package node

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/moby/moby/client"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/instance"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// The EMC Hub's compute side (issue 13): the node follows the instances
// the chain places on it (instancesOnNode of its owner), starts each with
// the instance Manager (computing/instance; the process runner with the
// process executor, Docker otherwise, as the jobs), reports ready on chain
// once the health check passes, stops an instance when the chain ends its
// lease (stop, reap, lease end: Spec.Until stops it on time too), and
// serves the app relay protocol for the ready ones.

// hubFollowScan bounds how many of the newest instancesOnNode entries one
// pass reads.
const hubFollowScan = 256

// hubCompute is the compute side's follower.
type hubCompute struct {
	chain    *state.Chain
	abi      abi.ABI
	wallet   *wallet.Wallet
	mgr      *instance.Manager
	programs *agent.Programs // process runner: the program of an image; nil for Docker
	now      func() time.Time
	log      *slog.Logger
	nudge    chan struct{}
	receipts *hubReceipts // nil: calls unmetered

	mu        sync.Mutex
	started   map[uint64]bool
	readySent map[uint64]*wallet.Handle
}

// spec builds the Manager's spec of a placed or running instance.
func (h *hubCompute) spec(in *apps.Instance, app *apps.App) (instance.Spec, error) {
	s := instance.Spec{
		ID: in.ID, Port: app.Port, HealthPath: app.HealthPath, KeyHash: in.APIKeyHash,
		GPUCount: int(in.GPUs),
	}
	if in.State == apps.StateRunning {
		s.Until = time.Unix(int64(in.EndTime), 0)
	} else { // placed: the lease starts at ready
		s.Until = h.now().Add(time.Duration(in.Hours) * time.Hour)
	}
	if h.programs != nil {
		if !h.programs.Has(app.Image) {
			return s, fmt.Errorf("node: app %d image %s is not a loaded program", app.ID, app.Image)
		}
		s.Command = h.programs.Path(app.Image)
	} else {
		s.Image = "sha256:" + strings.TrimPrefix(app.Image.Hex(), "0x")
	}
	return s, nil
}

// pass reconciles the instances placed on this node with the Manager.
func (h *hubCompute) pass(ctx context.Context, head *types.Header) error {
	st, err := h.chain.StateAt(head.Root)
	if err != nil {
		return fmt.Errorf("node: app instances: state at %d: %w", head.Number.Uint64(), err)
	}
	owner := h.wallet.Address()
	_, total := apps.InstancesOnNode(st, owner, 0, 0)
	offset := uint64(0)
	if total > hubFollowScan {
		offset = total - hubFollowScan
	}
	ids, _ := apps.InstancesOnNode(st, owner, offset, hubFollowScan)
	statuses := make(map[uint64]instance.State)
	for _, s := range h.mgr.List() {
		statuses[s.ID] = s.State
	}
	for _, id := range ids {
		in, ok, err := apps.InstanceOf(st, id)
		if err != nil || !ok {
			continue
		}
		mine := in.Node == owner
		h.mu.Lock()
		started := h.started[id]
		h.mu.Unlock()
		switch {
		case mine && (in.State == apps.StatePlaced || in.State == apps.StateRunning) && !started:
			app, ok, err := apps.AppOf(st, in.App)
			if err != nil || !ok {
				continue
			}
			spec, err := h.spec(&in, &app)
			if err == nil {
				err = h.mgr.Start(spec)
			}
			h.mu.Lock()
			h.started[id] = true // one try: a failed start is left to the chain's ready deadline
			h.mu.Unlock()
			if err != nil {
				h.log.Warn("app instance not started", "instance", id, "err", err)
			}
		case mine && in.State == apps.StatePlaced && statuses[id] == instance.StateReady:
			h.mu.Lock()
			hd := h.readySent[id]
			h.mu.Unlock()
			if hd != nil {
				select {
				case <-hd.Done():
					if r, err := hd.Wait(ctx); err == nil && r.Status == types.ReceiptStatusSuccessful {
						continue // mined; the state catches up
					}
				default:
					continue
				}
			}
			data, err := h.abi.Pack("ready", new(big.Int).SetUint64(id))
			if err != nil {
				return fmt.Errorf("node: pack ready: %w", err)
			}
			to := native.AppsAddress
			hd, err = h.wallet.Submit(ctx, wallet.Request{To: &to, Data: data, Label: "app ready"})
			if err != nil {
				h.log.Warn("app ready not sent", "instance", id, "err", err)
				continue
			}
			h.mu.Lock()
			h.readySent[id] = hd
			h.mu.Unlock()
		case started && (!mine || in.State == apps.StateEnding || in.State == apps.StateClosed):
			s, ok := statuses[id]
			if ok && !s.Terminal() {
				if err := h.mgr.Stop(id); err != nil {
					h.log.Warn("app instance not stopped", "instance", id, "err", err)
				}
			} else if in.State == apps.StateClosed || !mine {
				// final, or gone elsewhere (a restart): forget it, so a
				// later placement here starts afresh (a new meter too)
				h.mu.Lock()
				delete(h.started, id)
				delete(h.readySent, id)
				h.mu.Unlock()
				if h.receipts != nil {
					h.receipts.forget(id)
				}
			}
		}
	}
	return nil
}

// run reconciles on every head, on every Manager change, and once a
// second (the dev chain may not move while an instance gets healthy).
func (h *hubCompute) run(ctx context.Context) error {
	return state.PassOnHeads(ctx, h.chain, time.Second, h.nudge, h.pass)
}

// startHubCompute runs the compute side's follower and the app server on
// streams. It needs the compute role (or the dev node), GPUs opened, a key
// and the apps module.
func (n *Node) startHubCompute(ctx context.Context, streams p2p.Streamer) error {
	if (n.cfg.Role != RoleCompute && !n.cfg.Dev) || n.alloc == nil || n.wallet == nil {
		return nil
	}
	mod := n.mods.apps()
	if mod == nil {
		return nil
	}
	if streams == nil {
		n.log.Warn("app instances off: no stream transport to serve the relay on")
		return nil
	}
	parsed, err := abi.JSON(strings.NewReader(mod.ABI()))
	if err != nil {
		return fmt.Errorf("node: apps ABI: %w", err)
	}
	dir := n.cfg.DataDir.Compute()
	h := &hubCompute{
		chain: n.chain, abi: parsed, wallet: n.wallet, now: time.Now, log: n.baseLog.With("component", "app_instances"), nudge: make(chan struct{}, 1),
		started: make(map[uint64]bool), readySent: make(map[uint64]*wallet.Handle),
	}
	var runner instance.Runner
	switch n.execKind {
	case agent.ExecutorProcess:
		h.programs = agent.NewPrograms(filepath.Join(dir, "programs"))
		runner = &instance.Process{Dir: filepath.Join(dir, "apps"), Log: n.baseLog}
	default:
		cli, err := client.New(client.FromEnv)
		if err != nil {
			return fmt.Errorf("node: app instances: docker client: %w", err)
		}
		runner = &instance.Docker{Client: cli, Log: n.baseLog}
	}
	mgr, err := instance.NewManager(instance.Config{
		Runner: runner, GPUs: n.alloc, Log: n.baseLog,
		OnChange: func(instance.Change) {
			select {
			case h.nudge <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return fmt.Errorf("node: app instances: %w", err)
	}
	h.mgr = mgr
	n.hub.Store(h)
	scfg := instance.ServerConfig{Local: mgr, Log: n.baseLog}
	if n.walletKey != nil { // the node owner signs each call's usage receipt
		h.receipts = n.newHubReceipts(ctx)
		scfg.Receipts = h.receipts
	}
	srv, err := instance.NewServer(scfg)
	if err != nil {
		return fmt.Errorf("node: app server: %w", err)
	}
	if err := srv.Register(streams, p2p.Names{ChainID: n.chain.Config().ChainID.Uint64()}); err != nil {
		return fmt.Errorf("node: app server: %w", err)
	}
	n.spawn(func() error {
		defer mgr.Close()
		return h.run(ctx)
	})
	return nil
}

// hubInstances lists the compute side's app instances (nil without one).
func (n *Node) hubInstances() []instance.Status {
	h := n.hub.Load()
	if h == nil {
		return nil
	}
	return h.mgr.List()
}
