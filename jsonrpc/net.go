package jsonrpc

import (
	"context"

	"github.com/ethereum/go-ethereum/common/hexutil"
)

// netAPI serves the net namespace.
type netAPI struct{ b Backend }

// Version returns the network id, which is the chain id, in decimal.
func (api *netAPI) Version(ctx context.Context) (string, error) {
	return api.b.ChainConfig().ChainID.String(), nil
}

// Listening is always true: the RPC server answering means the node is up.
func (api *netAPI) Listening(ctx context.Context) (bool, error) { return true, nil }

// PeerCount returns the number of connected peers.
func (api *netAPI) PeerCount(ctx context.Context) (hexutil.Uint, error) {
	return hexutil.Uint(api.b.PeerCount()), nil
}
