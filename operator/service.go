package operator

import (
	"context"

	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/emc-network/emcd/operator/proto/emcd/operator/v1"
)

// service implements pb.OperatorServer over the Server's Backend. Errors
// it returns are plain Go errors; the interceptors turn them into gRPC
// statuses with toStatus.
type service struct {
	pb.UnimplementedOperatorServer
	s *Server
}

var _ pb.OperatorServer = (*service)(nil)

func (v *service) GetNodeInfo(ctx context.Context, _ *pb.GetNodeInfoRequest) (*pb.GetNodeInfoResponse, error) {
	info, err := v.s.b.NodeInfo(ctx)
	if err != nil {
		return nil, err
	}
	addrs, _ := capList(info.ListenAddrs, v.s.cfg.MaxListItems)
	forks := make([]*pb.Fork, 0, len(info.Forks))
	for _, f := range info.Forks {
		forks = append(forks, &pb.Fork{Name: f.Name, Description: f.Description, Scheduled: f.Scheduled, Block: f.Block, Active: f.Active})
	}
	return &pb.GetNodeInfoResponse{
		Version:          info.Version,
		Role:             info.Role,
		ChainId:          info.ChainID,
		GenesisHash:      hashHex(info.GenesisHash),
		ValidatorAddress: addrHex(info.ValidatorAddress),
		PeerId:           info.PeerID,
		ListenAddrs:      addrs,
		Forks:            forks,
	}, nil
}

func (v *service) GetStatus(ctx context.Context, _ *pb.GetStatusRequest) (*pb.GetStatusResponse, error) {
	st, err := v.s.b.Status(ctx)
	if err != nil {
		return nil, err
	}
	vals, truncated := capList(st.Consensus.Validators, v.s.cfg.MaxListItems)
	c := &pb.Consensus{
		Engine:              st.Consensus.Engine,
		Height:              st.Consensus.Height,
		Round:               st.Consensus.Round,
		Proposer:            addrHex(st.Consensus.Proposer),
		Validators:          make([]string, len(vals)),
		ValidatorsTruncated: truncated,
		IsValidator:         st.Consensus.IsValidator,
	}
	for i, a := range vals {
		c.Validators[i] = addrHex(a)
	}
	if !st.Consensus.LastCommitTime.IsZero() {
		c.LastCommitTime = timestamppb.New(st.Consensus.LastCommitTime)
	}
	return &pb.GetStatusResponse{
		Head:          headPB(st.Head),
		Syncing:       st.Syncing,
		SyncTarget:    st.SyncTarget,
		Consensus:     c,
		PeerCount:     clampU32(st.PeerCount),
		TxpoolPending: clampU32(st.TxPoolPending),
		TxpoolQueued:  clampU32(st.TxPoolQueued),
	}, nil
}

func (v *service) ListPeers(ctx context.Context, _ *pb.ListPeersRequest) (*pb.ListPeersResponse, error) {
	peers, err := v.s.b.Peers(ctx)
	if err != nil {
		return nil, err
	}
	peers, truncated := capList(peers, v.s.cfg.MaxListItems)
	resp := &pb.ListPeersResponse{Peers: make([]*pb.Peer, len(peers)), Truncated: truncated}
	for i, p := range peers {
		addrs, _ := capList(p.Addrs, maxPeerAddrs)
		resp.Peers[i] = &pb.Peer{Id: p.ID, Addrs: addrs, HeadNumber: p.HeadNumber, HeadHash: hashHex(p.HeadHash)}
	}
	return resp, nil
}

func (v *service) GetGPUs(ctx context.Context, _ *pb.GetGPUsRequest) (*pb.GetGPUsResponse, error) {
	inv, err := v.s.b.GPUs(ctx)
	if err != nil {
		return nil, err
	}
	devs, truncated := capList(inv.Devices, v.s.cfg.MaxListItems)
	resp := &pb.GetGPUsResponse{
		Source:            inv.Source,
		Simulated:         inv.Simulated,
		Reason:            inv.Reason,
		DriverVersion:     inv.DriverVersion,
		CudaDriverVersion: inv.CUDADriverVersion,
		Devices:           make([]*pb.GPU, len(devs)),
		Truncated:         truncated,
	}
	for i, d := range devs {
		resp.Devices[i] = &pb.GPU{
			Index:            clampU32(d.Index),
			Uuid:             d.UUID,
			Name:             d.Name,
			MemoryTotalBytes: d.MemoryTotalBytes,
			Simulated:        d.Simulated,
		}
	}
	return resp, nil
}

// maxPeerAddrs caps one peer's addresses; a peer has a few connections.
const maxPeerAddrs = 16

func headPB(h Head) *pb.Head {
	return &pb.Head{Number: h.Number, Hash: hashHex(h.Hash), Time: h.Time, TxCount: clampU32(h.TxCount), GasUsed: h.GasUsed}
}

// hashHex is h in lowercase hex, or "" for the zero hash (unknown).
func hashHex(h common.Hash) string {
	if h == (common.Hash{}) {
		return ""
	}
	return h.Hex()
}

// addrHex is a in EIP-55 hex, or "" for the zero address (none).
func addrHex(a common.Address) string {
	if a == (common.Address{}) {
		return ""
	}
	return a.Hex()
}

// capList returns at most n items of s and whether it dropped any.
func capList[T any](s []T, n int) ([]T, bool) {
	if len(s) > n {
		return s[:n], true
	}
	return s, false
}

// clampU32 maps a count onto the wire's uint32, saturating.
func clampU32(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case uint64(n) > uint64(^uint32(0)):
		return ^uint32(0)
	}
	return uint32(n)
}
