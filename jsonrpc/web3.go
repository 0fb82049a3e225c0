package jsonrpc

import (
	"context"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/params"
)

// web3API serves the web3 namespace.
type web3API struct{}

// ClientVersion returns "emcd/v<version>/<os>-<arch>/<go>", shaped like geth's.
func (web3API) ClientVersion(ctx context.Context) (string, error) {
	return params.ClientVersion(), nil
}

// Sha3 returns keccak256 of the input.
func (web3API) Sha3(ctx context.Context, input hexutil.Bytes) (hexutil.Bytes, error) {
	return crypto.Keccak256(input), nil
}
