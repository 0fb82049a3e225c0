package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/results"
	"github.com/emc-network/emcd/computing/results/fetch"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/router/relay"
	"github.com/emc-network/emcd/state"
)

// chainResults answers the results protocol's chain questions from the
// head state: the job, and the peer id its node registered. Each call opens
// its own StateDB (never shared between goroutines).
type chainResults struct{ chain *state.Chain }

var (
	_ fetch.Jobs  = chainResults{}
	_ fetch.Peers = chainResults{}
)

// Job implements fetch.Jobs.
func (c chainResults) Job(id uint64) (jobs.Job, bool, error) {
	st, err := c.chain.StateAt(c.chain.Head().Root)
	if err != nil {
		return jobs.Job{}, false, err
	}
	return jobs.JobOf(st, id)
}

// NodePeer implements fetch.Peers.
func (c chainResults) NodePeer(owner common.Address) (p2p.PeerID, bool, error) {
	st, err := c.chain.StateAt(c.chain.Head().Root)
	if err != nil {
		return "", false, err
	}
	rec, ok, err := registry.NodeOf(st, owner)
	if err != nil || !ok {
		return "", false, err
	}
	id, err := peer.IDFromBytes(rec.PeerID)
	if err != nil {
		return "", false, fmt.Errorf("node: registered peer id of %s: %w", owner, err)
	}
	return p2p.PeerID(id.String()), true, nil
}

// setupResults wires the results protocol (computing/results/fetch) of a
// networked node on a chain with the jobs module: a compute node with a key
// of its own serves its store (DATADIR/compute/store) for the jobs it ran
// under that key; a router relays over HTTP (GET /results/...) and
// emc_getResult. Validators do neither. The dev node does both, its relay
// reaching its own results server in process (devPeers).
func (n *Node) setupResults() error {
	if n.jobs == nil {
		return nil
	}
	chainID := uint256.MustFromBig(n.chain.Config().ChainID)
	spec := fetch.Spec(p2p.Names{ChainID: chainID.Uint64()}, 0)
	if n.dev != nil {
		if err := n.serveResults(chainID, spec, n.wallet.Address(), n.dev.peers, nil); err != nil {
			return err
		}
		return n.relayResults(chainID, spec, n.dev.peers)
	}
	if n.net == nil {
		return nil
	}
	switch n.cfg.Role {
	case RoleCompute:
		if n.wallet == nil {
			n.log.Warn("results not served: this compute node has no key of its own (the jobs it runs are named by that owner account)")
			return nil
		}
		return n.serveResults(chainID, spec, n.wallet.Address(), n.net.host, n.net.host)
	case RoleRouter:
		if err := n.relayResults(chainID, spec, n.net.host); err != nil {
			return err
		}
		return n.serveProbes(n.net.host)
	}
	return nil
}

// relayResults sets up the router's results relay over req.
func (n *Node) relayResults(chainID *uint256.Int, spec p2p.Spec, req p2p.Requester) error {
	relay, err := fetch.NewRelay(fetch.RelayConfig{
		ChainID: chainID, Jobs: chainResults{n.chain}, Peers: chainResults{n.chain}, Requester: req, Spec: spec,
		Probers: n.probers(), Now: time.Now, Metrics: n.fetchMetrics(), Log: n.baseLog,
	})
	if err != nil {
		return fmt.Errorf("node: results relay: %w", err)
	}
	n.backend.relay = relay
	return nil
}

// serveResults opens the compute node's result store and serves it on srv
// for the jobs that name owner as their node; pen (nil: none) hears of
// malformed requests.
func (n *Node) serveResults(chainID *uint256.Int, spec p2p.Spec, owner common.Address, srv p2p.Server, pen p2p.Penalizer) error {
	store, err := n.openResultStore()
	if err != nil {
		return err
	}
	s, err := fetch.NewServer(fetch.ServerConfig{
		ChainID: chainID, Owner: owner, Store: store, Jobs: chainResults{n.chain}, Probers: n.probers(), Now: time.Now,
		Penalizer: pen, Metrics: n.fetchMetrics(), Log: n.baseLog,
	})
	if err != nil {
		return fmt.Errorf("node: results server: %w", err)
	}
	return s.Register(srv, spec)
}

// fetchMetrics registers the results protocol's metrics once (the dev
// node runs both its server and its relay).
func (n *Node) fetchMetrics() *fetch.Metrics {
	n.fetchMetricsOnce.Do(func() { n.fetchM = fetch.NewMetrics(n.reg) })
	return n.fetchM
}

// openResultStore opens the compute side's result store
// (DATADIR/compute/store) once: the agent writes results into it and the
// results server reads them, through one Store (its size accounting is
// per object).
func (n *Node) openResultStore() (*results.Store, error) {
	n.resultStoreOnce.Do(func() {
		n.resultStore, n.resultStoreErr = results.Open(filepath.Join(n.cfg.DataDir.Compute(), "store"), results.Config{}, n.baseLog)
		if n.resultStoreErr != nil {
			n.resultStoreErr = fmt.Errorf("node: result store: %w", n.resultStoreErr)
		}
	})
	return n.resultStore, n.resultStoreErr
}

// ResultStore is a compute node's result store (nil on other nodes, and on
// a compute node without a key of its own).
func (n *Node) ResultStore() *results.Store { return n.resultStore }

// rpcHandler is what the RPC listener serves: a router's results relay
// under fetch.HTTPPrefix (on other nodes a 404 saying only routers relay),
// JSON-RPC for everything else.
func (n *Node) rpcHandler() http.Handler {
	var files http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetch.WriteError(w, http.StatusNotFound, "no_relay", errNoRelay)
	})
	if relay := n.backend.relay; relay != nil {
		files = relay.Handler()
	}
	return n.withDashboard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, fetch.HTTPPrefix) {
			files.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, relay.Prefix) {
			n.appsHandler().ServeHTTP(w, r)
			return
		}
		n.rpcSrv.ServeHTTP(w, r)
	}))
}

// errNoRelay is emc_getResult's answer on a node that relays no results.
var errNoRelay = errors.New("node: only router nodes relay job results")

var _ jsonrpc.ResultsBackend = (*backend)(nil)

// Result is emc_getResult's relay.
func (b *backend) Result(ctx context.Context, id uint64, path string, auth fetch.Auth) (*fetch.SmallFile, error) {
	if b.relay == nil {
		return nil, errNoRelay
	}
	return b.relay.Small(ctx, id, path, auth)
}
