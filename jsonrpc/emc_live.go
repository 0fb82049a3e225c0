package jsonrpc

import (
	"context"
	"errors"

	"github.com/emc-network/emcd/router/heartbeat"
)

// LiveNodesBackend is the optional Backend capability behind
// emc_liveNodes: the live table of a router node (router/heartbeat).
type LiveNodesBackend interface {
	// LiveNodes returns the live compute nodes, sorted by peer id, or an
	// error saying why this node keeps no live table.
	LiveNodes() ([]heartbeat.Node, error)
}

// errNoLiveTable is emc_liveNodes' error on a backend without a live table.
var errNoLiveTable = errors.New("emc_liveNodes is served by router nodes only")

// LiveNodes returns the router's live table: per compute node its peer id,
// latest heartbeat (owner, sequence, sender time, free GPUs, per-GPU
// utilisation, queue length, image digests), when it was last seen (unix
// ms, this router's clock), missed intervals and round-trip-time estimate
// (nanoseconds; rttSamples 0 means not measured yet).
func (api *emcAPI) LiveNodes(ctx context.Context) ([]heartbeat.Node, error) {
	lb, ok := api.b.(LiveNodesBackend)
	if !ok {
		return nil, errNoLiveTable
	}
	nodes, err := lb.LiveNodes()
	if err != nil {
		return nil, err
	}
	if nodes == nil {
		nodes = []heartbeat.Node{}
	}
	return nodes, nil
}
