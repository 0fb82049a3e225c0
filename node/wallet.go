package node

import (
	"context"
	"crypto/ecdsa"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/node/wallet"
)

// Wallet returns the wallet that sends this node's own transactions, from
// its key: the validator key of a networked node, the dev compute owner
// (genesis.DevComputeKey) in dev mode. It is nil for a node without a key (a follower that
// observes consensus with a throwaway key has no funds to send with).
func (n *Node) Wallet() *wallet.Wallet { return n.wallet }

// setupWallet builds the wallet over the chain, the pool and the backend's
// SendTx (local pool add, then gossip); Start runs it.
func (n *Node) setupWallet(key *ecdsa.PrivateKey) error {
	w, err := wallet.New(wallet.Config{
		Key: key, Chain: n.chain, Pool: n.pool, Send: n.backend.SendTx, Estimate: n.estimateGas,
		Policy: wallet.DefaultPolicy(), Metrics: wallet.NewMetrics(n.reg),
	}, n.baseLog)
	if err != nil {
		return fmt.Errorf("node: wallet: %w", err)
	}
	n.wallet = w
	return nil
}

// estimateGas is eth_estimateGas on the latest block, for the wallet.
func (n *Node) estimateGas(ctx context.Context, from common.Address, req wallet.Request) (uint64, error) {
	data := hexutil.Bytes(req.Data)
	return jsonrpc.EstimateGas(ctx, n.backend, jsonrpc.TransactionArgs{
		From: &from, To: req.To, Value: (*hexutil.Big)(req.Value), Data: &data,
	})
}

// devWalletKey is the dev node's wallet key: the dev compute owner
// (genesis.DevComputeKey, funded for gas in the dev genesis), which
// accepts and reports the dev chain's jobs and is paid for them. It is
// none of the test-mnemonic accounts, which stay the users'.
func devWalletKey() (*ecdsa.PrivateKey, error) {
	return genesis.DevComputeKey(), nil
}
