package jsonrpc

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
)

// txpoolAPI serves the txpool namespace in geth's shapes.
type txpoolAPI struct{ b Backend }

// Status returns the number of pending and queued transactions.
func (api *txpoolAPI) Status(ctx context.Context) (map[string]hexutil.Uint, error) {
	pending, queued := api.b.PoolStatus()
	return map[string]hexutil.Uint{
		"pending": hexutil.Uint(pending),
		"queued":  hexutil.Uint(queued),
	}, nil
}

// Content returns every pooled transaction, by sender and nonce.
func (api *txpoolAPI) Content(ctx context.Context) (map[string]map[string]map[string]*rpcTransaction, error) {
	pending, queued := api.b.PoolContent()
	head := api.b.CurrentHeader()
	content := map[string]map[string]map[string]*rpcTransaction{
		"pending": make(map[string]map[string]*rpcTransaction, len(pending)),
		"queued":  make(map[string]map[string]*rpcTransaction, len(queued)),
	}
	for account, txs := range pending {
		content["pending"][account.Hex()] = api.flatten(txs, head)
	}
	for account, txs := range queued {
		content["queued"][account.Hex()] = api.flatten(txs, head)
	}
	return content, nil
}

// ContentFrom returns the pooled transactions of one sender.
func (api *txpoolAPI) ContentFrom(ctx context.Context, addr common.Address) (map[string]map[string]*rpcTransaction, error) {
	pending, queued := api.b.PoolContent()
	head := api.b.CurrentHeader()
	return map[string]map[string]*rpcTransaction{
		"pending": api.flatten(pending[addr], head),
		"queued":  api.flatten(queued[addr], head),
	}, nil
}

func (api *txpoolAPI) flatten(txs []*types.Transaction, head *types.Header) map[string]*rpcTransaction {
	out := make(map[string]*rpcTransaction, len(txs))
	for _, tx := range txs {
		out[fmt.Sprint(tx.Nonce())] = newRPCPendingTransaction(tx, head, api.b.ChainConfig())
	}
	return out
}

// Inspect returns a one-line summary of every pooled transaction.
func (api *txpoolAPI) Inspect(ctx context.Context) (map[string]map[string]map[string]string, error) {
	pending, queued := api.b.PoolContent()
	content := map[string]map[string]map[string]string{
		"pending": make(map[string]map[string]string, len(pending)),
		"queued":  make(map[string]map[string]string, len(queued)),
	}
	format := func(tx *types.Transaction) string {
		if to := tx.To(); to != nil {
			return fmt.Sprintf("%s: %v wei + %v gas × %v wei", to.Hex(), tx.Value(), tx.Gas(), tx.GasPrice())
		}
		return fmt.Sprintf("contract creation: %v wei + %v gas × %v wei", tx.Value(), tx.Gas(), tx.GasPrice())
	}
	for kind, set := range map[string]map[common.Address][]*types.Transaction{"pending": pending, "queued": queued} {
		for account, txs := range set {
			dump := make(map[string]string, len(txs))
			for _, tx := range txs {
				dump[fmt.Sprint(tx.Nonce())] = format(tx)
			}
			content[kind][account.Hex()] = dump
		}
	}
	return content, nil
}
