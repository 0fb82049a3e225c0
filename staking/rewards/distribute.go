package rewards

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum/common"
)

// MaxNodes bounds DistributeNodeRewards' input; the staking module bounds
// its stakers far below this.
const MaxNodes = 1 << 20

// NodeWork is one node's claim on an epoch's node reward: its credits E
// for the epoch and its role stake s at the epoch's snapshot.
type NodeWork struct {
	Node     common.Address
	Credits  uint64
	StakeWei *big.Int
}

// NodeShare is what one node is paid.
type NodeShare struct {
	Node      common.Address
	AmountWei *big.Int
}

// NodeRewards is the outcome of DistributeNodeRewards. Money is conserved:
// Σ Shares + DustWei + UnpaidWei == the reward distributed.
type NodeRewards struct {
	// Shares holds every eligible node (credits > 0 and stake > 0), in
	// ascending address order, including those whose share rounds to 0.
	Shares []NodeShare
	// DustWei is what rounding the shares down left over (less than one
	// wei per eligible node); it carries to the next epoch's reward.
	DustWei *big.Int
	// UnpaidWei is the whole reward when no node is eligible (it stays in
	// the pool), else 0.
	UnpaidWei *big.Int
}

// DistributeNodeRewards splits rewardWei among nodes in proportion to
// credits × stake:
//
//	share_i = ⌊ rewardWei · E_i·s_i / Σ_j E_j·s_j ⌋   (round down)
//
// All products are exact big integers; the one division per node rounds
// down, so Σ shares ≤ rewardWei and the difference is DustWei. Nodes with
// zero credits or zero stake are left out; if none is left, the whole
// reward is UnpaidWei. The input order does not matter: shares are computed
// and returned in ascending address order. Errors: ErrNegativeAmount (nil or
// negative reward or stake), ErrDuplicateNode, ErrTooManyNodes.
func DistributeNodeRewards(rewardWei *big.Int, nodes []NodeWork) (NodeRewards, error) {
	if rewardWei == nil || rewardWei.Sign() < 0 {
		return NodeRewards{}, fmt.Errorf("%w: reward %v", ErrNegativeAmount, rewardWei)
	}
	if len(nodes) > MaxNodes {
		return NodeRewards{}, fmt.Errorf("%w: %d > %d", ErrTooManyNodes, len(nodes), MaxNodes)
	}
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b NodeWork) int { return bytes.Compare(a.Node[:], b.Node[:]) })
	eligible := sorted[:0]
	for i, n := range sorted {
		if i > 0 && n.Node == sorted[i-1].Node {
			return NodeRewards{}, fmt.Errorf("%w: %s", ErrDuplicateNode, n.Node)
		}
		if n.StakeWei == nil || n.StakeWei.Sign() < 0 {
			return NodeRewards{}, fmt.Errorf("%w: stake of %s is %v", ErrNegativeAmount, n.Node, n.StakeWei)
		}
		if n.Credits > 0 && n.StakeWei.Sign() > 0 {
			eligible = append(eligible, n)
		}
	}
	if len(eligible) == 0 {
		return NodeRewards{DustWei: new(big.Int), UnpaidWei: new(big.Int).Set(rewardWei)}, nil
	}
	weights := make([]*big.Int, len(eligible))
	total := new(big.Int)
	for i, n := range eligible {
		weights[i] = new(big.Int).Mul(new(big.Int).SetUint64(n.Credits), n.StakeWei)
		total.Add(total, weights[i])
	}
	out := NodeRewards{Shares: make([]NodeShare, len(eligible)), DustWei: new(big.Int).Set(rewardWei), UnpaidWei: new(big.Int)}
	for i, n := range eligible {
		share := weights[i].Mul(weights[i], rewardWei)
		share.Quo(share, total) // round down
		out.Shares[i] = NodeShare{Node: n.Node, AmountWei: share}
		out.DustWei.Sub(out.DustWei, share)
	}
	return out, nil
}
