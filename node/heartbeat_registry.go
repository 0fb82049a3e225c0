package node

import (
	"log/slog"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/router/heartbeat"
)

// registryChain is what chainRegistry needs of the chain.
type registryChain interface {
	Head() *types.Header
	StateAt(root common.Hash) (*ethstate.StateDB, error)
}

// chainRegistry is the heartbeat table's Registry backed by the registry
// module: a peer counts when a compute node is registered with its peer ID
// in the head state, and its owner is the registration's. Answers are
// cached per head; the head's StateDB is opened once per head and used
// under the mutex only (a StateDB is not safe for concurrent readers).
type chainRegistry struct {
	chain registryChain
	log   *slog.Logger

	mu    sync.Mutex
	head  *types.Header
	state *ethstate.StateDB
	cache map[p2p.PeerID]registered
}

type registered struct {
	owner common.Address
	ok    bool
}

var _ heartbeat.Registry = (*chainRegistry)(nil)

// maxRegistryCache bounds the per-head answers kept (peers that send
// heartbeats); the cache restarts when full.
const maxRegistryCache = 1 << 16

// Registered implements heartbeat.Registry.
func (r *chainRegistry) Registered(id p2p.PeerID) (common.Address, bool) {
	head := r.chain.Head()
	r.mu.Lock()
	defer r.mu.Unlock()
	if head != r.head || len(r.cache) >= maxRegistryCache {
		r.head, r.state, r.cache = head, nil, make(map[p2p.PeerID]registered)
	}
	if a, ok := r.cache[id]; ok {
		return a.owner, a.ok
	}
	var ans registered
	if pid, err := peer.Decode(string(id)); err == nil {
		if r.state == nil {
			st, err := r.chain.StateAt(head.Root)
			if err != nil {
				// Nobody counts until the next head can be read.
				r.log.Warn("registry state unavailable", "number", head.Number, "err", err)
				return common.Address{}, false
			}
			r.state = st
		}
		ans.owner, ans.ok = registry.NodeOwnerOf(r.state, []byte(pid))
	}
	r.cache[id] = ans
	return ans.owner, ans.ok
}
