package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
	"github.com/emc-network/emcd/router/heartbeat"
)

// heartbeatBuffer bounds the heartbeat topic's delivery queue; deliveries
// are only drained (the validator already applied them to the table).
const heartbeatBuffer = 64

// heartbeats is the heartbeat side of a compute or router node: the topic,
// the tracker that validates it (every subscriber must, so that replays and
// forgeries are not forwarded) and, on a compute node, the publisher.
type heartbeats struct {
	role    string
	topic   p2p.Topic
	tracker *heartbeat.Tracker
	key     crypto.PrivKey
	chainID uint64
	metrics *heartbeat.Metrics
}

// setupHeartbeats joins the heartbeat topic for the compute and router
// roles (nil for a validator). A router's tracker also pings the nodes in
// its table; a compute node answers pings.
//
// Which peers count is the registry module's business: only compute nodes
// registered with their peer ID in the head state, under their registered
// owner (chainRegistry).
func (n *Node) setupHeartbeats(host *libp2p.Host, key crypto.PrivKey, names p2p.Names) (*heartbeats, error) {
	role := n.cfg.Role
	if role != RoleCompute && role != RoleRouter {
		return nil, nil
	}
	hb := &heartbeats{role: role, key: key, chainID: names.ChainID, metrics: heartbeat.NewMetrics(n.reg)}
	cfg := heartbeat.TrackerConfig{ChainID: names.ChainID, Metrics: hb.metrics, Log: n.baseLog}
	cfg.Table.Registry = n.cfg.heartbeatRegistry
	if cfg.Table.Registry == nil {
		cfg.Table.Registry = &chainRegistry{chain: n.chain, log: n.baseLog.With("component", "heartbeat")}
	}
	if role == RoleRouter {
		cfg.Requester, cfg.PingSpec = host, heartbeat.PingSpec(names)
	} else if err := heartbeat.ServePing(host, heartbeat.PingSpec(names)); err != nil {
		return nil, fmt.Errorf("node: ping protocol: %w", err)
	}
	hb.tracker = heartbeat.NewTracker(cfg)
	topic, err := host.Join(names.HeartbeatTopic(), p2p.TopicOptions{MaxSize: heartbeat.MaxSize, Buffer: heartbeatBuffer, Validate: hb.tracker.Validate})
	if err != nil {
		return nil, fmt.Errorf("node: heartbeat topic: %w", err)
	}
	hb.topic = topic
	return hb, nil
}

// startHeartbeats runs the tracker, and on a compute node the publisher.
func (n *Node) startHeartbeats(ctx context.Context) {
	hb := n.net.beats
	if hb == nil {
		return
	}
	n.spawn(func() error { return ignoreCanceled(hb.tracker.Run(ctx, hb.topic)) })
	if hb.role != RoleCompute {
		return
	}
	cfg := heartbeat.PublisherConfig{
		ChainID: hb.chainID, Key: hb.key, Topic: hb.topic, Source: n.heartbeatStatus,
		Metrics: hb.metrics, Log: n.baseLog,
	}
	if n.wallet != nil {
		cfg.Owner = n.wallet.Address()
	}
	pub, err := heartbeat.NewPublisher(cfg)
	if err != nil {
		n.fail("heartbeat publisher", err)
		return
	}
	n.spawn(func() error { return ignoreCanceled(pub.Run(ctx)) })
}

// heartbeatStatus is the compute node's heartbeat: free units from the GPU
// allocator, less those the compute agent promised to jobs it accepted and
// has not started; the agent's jobs as the queue length; per-GPU
// utilisation from the latest telemetry sample. The image list stays
// empty (the registry record lists the images).
func (n *Node) heartbeatStatus(context.Context) (heartbeat.Status, error) {
	var st heartbeat.Status
	if n.alloc != nil {
		used := n.alloc.Held()
		if a := n.agent.Load(); a != nil {
			promised, jobs := a.Load()
			used = max(used, int(promised))
			st.QueueLen = jobs
		}
		st.FreeGPUs = uint32(max(0, n.alloc.Total()-used))
	}
	if n.sampler != nil {
		if snap, ok := n.sampler.Latest(); ok {
			for _, g := range snap.GPUs {
				u := uint32(heartbeat.UtilUnknown)
				if g.UtilizationPercent != nil {
					u = *g.UtilizationPercent
				}
				st.GPUUtil = append(st.GPUUtil, u)
			}
		}
	}
	return st, nil
}

// errNoLiveTable is emc_liveNodes' answer on a node that keeps no table.
var errNoLiveTable = errors.New("node: only router nodes keep a live table of compute nodes")

var _ jsonrpc.LiveNodesBackend = (*backend)(nil)

// LiveNodes is the router's live table (emc_liveNodes).
func (b *backend) LiveNodes() ([]heartbeat.Node, error) {
	if b.devLive != nil {
		return b.devLive.Snapshot(), nil // the dev node's router
	}
	if b.net == nil {
		return nil, fmt.Errorf("%w (this dev node runs no compute market)", errNoLiveTable)
	}
	if b.net.beats == nil {
		return nil, fmt.Errorf("%w (this node is a %s)", errNoLiveTable, RoleValidator)
	}
	if b.net.beats.role != RoleRouter {
		return nil, fmt.Errorf("%w (this node is a %s)", errNoLiveTable, b.net.beats.role)
	}
	return b.net.beats.tracker.Snapshot(), nil
}
