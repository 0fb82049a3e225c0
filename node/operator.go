package node

import (
	"context"
	"fmt"
	"time"

	"github.com/emc-network/emcd/operator"
	"github.com/emc-network/emcd/params"
)

// opBackend implements operator.Backend over the node.
type opBackend struct{ n *Node }

var _ operator.Backend = opBackend{}

func (o opBackend) NodeInfo(context.Context) (operator.NodeInfo, error) {
	n := o.n
	info := operator.NodeInfo{
		Version:     params.VersionWithCommit(),
		Role:        n.cfg.Role,
		ChainID:     n.chain.Config().ChainID.Uint64(),
		GenesisHash: n.chain.GenesisBlock().Hash(),
	}
	if n.cfg.Dev {
		info.Role = "dev"
	}
	for _, s := range params.ForkStates(n.backend.forks, n.chain.Head().Number.Uint64()) {
		info.Forks = append(info.Forks, operator.Fork{Name: s.Name, Description: s.Doc, Scheduled: s.Scheduled, Block: s.Block, Active: s.Active})
	}
	switch {
	case n.net != nil:
		info.ValidatorAddress = n.net.engine.Address()
		info.PeerID = string(n.net.host.Self())
		info.ListenAddrs = n.net.host.Addrs()
	case n.sealer != nil:
		info.ValidatorAddress = n.sealer.Address()
	}
	return info, nil
}

func (o opBackend) Status(context.Context) (operator.Status, error) {
	n := o.n
	head := n.chain.Head()
	st := operator.Status{Head: operator.Head{Number: head.Number.Uint64(), Hash: head.Hash(), Time: head.Time, GasUsed: head.GasUsed}}
	if b := n.chain.BlockByNumber(head.Number.Uint64()); b != nil {
		st.Head.TxCount = b.Transactions().Len()
	}
	if p, syncing := n.backend.Syncing(); syncing {
		st.Syncing, st.SyncTarget = true, p.HighestBlock
	}
	st.TxPoolPending, st.TxPoolQueued = n.pool.Stats()
	if n.net != nil {
		es := n.net.engine.Status()
		st.PeerCount = n.net.host.PeerCount()
		st.Consensus = operator.Consensus{Engine: "ibft", Height: es.Height, Round: es.Round, Proposer: es.Proposer,
			Validators: es.Validators, IsValidator: es.IsValidator, LastCommitTime: es.LastCommitTime}
	} else if n.sealer != nil {
		vals, err := n.chain.ValidatorsFor(head.Number.Uint64() + 1)
		if err != nil {
			return operator.Status{}, err
		}
		st.Consensus = operator.Consensus{Engine: "dev", Height: head.Number.Uint64() + 1, Proposer: n.sealer.Address(),
			Validators: vals, IsValidator: true, LastCommitTime: time.Unix(int64(head.Time), 0)}
	}
	return st, nil
}

func (o opBackend) Peers(context.Context) ([]operator.Peer, error) {
	n := o.n
	if n.net == nil {
		return nil, nil
	}
	var out []operator.Peer
	for _, id := range n.net.host.Peers() {
		p := operator.Peer{ID: string(id)}
		if s, ok := n.net.host.PeerStatus(id); ok {
			p.HeadNumber, p.HeadHash = s.HeadNumber, s.HeadHash
		}
		out = append(out, p)
	}
	return out, nil
}

func (o opBackend) GPUs(ctx context.Context) (operator.GPUs, error) {
	n := o.n
	if n.gpus == nil {
		return operator.GPUs{Source: "none", Reason: fmt.Sprintf("not a compute node (role %s)", n.cfg.Role)}, nil
	}
	inv, err := n.gpus.Inventory(ctx)
	if err != nil {
		return operator.GPUs{}, fmt.Errorf("node: GPU inventory: %w", err)
	}
	out := operator.GPUs{Source: string(inv.Source), Simulated: inv.Simulated, Reason: inv.Reason,
		DriverVersion: inv.DriverVersion, CUDADriverVersion: inv.CUDADriverVersion}
	for _, d := range inv.Devices {
		g := operator.GPU{Index: d.Index, UUID: d.UUID, Name: d.Name, Simulated: d.Simulated}
		if d.MemoryTotalBytes != nil {
			g.MemoryTotalBytes = *d.MemoryTotalBytes
		}
		out.Devices = append(out.Devices, g)
	}
	return out, nil
}

func (o opBackend) SubscribeHeads(ch chan<- operator.Head) operator.Subscription {
	return o.n.opHeads.Subscribe(ch)
}
