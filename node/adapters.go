package node

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/txpool"
)

// poolChain shows the chain to the pool through the pool's narrow interface.
type poolChain struct{ c *state.Chain }

func (p poolChain) Head() *types.Header { return p.c.Head() }
func (p poolChain) StateAt(root common.Hash) (txpool.State, error) {
	st, err := p.c.StateAt(root)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// orderedSource adapts the pool's block-building iterator to state.TxSource.
type orderedSource struct{ o *txpool.Ordered }

func (s orderedSource) Peek() *types.Transaction { tx, _ := s.o.Peek(); return tx }
func (s orderedSource) Shift()                   { s.o.Shift() }
func (s orderedSource) Pop()                     { s.o.Pop() }

// sealPool adapts the pool to what the dev sealer needs.
type sealPool struct{ p *txpool.Pool }

func (s sealPool) Source() state.TxSource { return orderedSource{s.p.Ordered(nil)} }
func (s sealPool) Get(hash common.Hash) *types.Transaction {
	return s.p.Get(hash)
}
func (s sealPool) PendingCount() int {
	n, _ := s.p.Stats()
	return n
}
func (s sealPool) Reset(head *types.Header) error { return s.p.Reset(head) }
func (s sealPool) Notify() (<-chan struct{}, func()) {
	txs := make(chan []*types.Transaction, 64)
	out := make(chan struct{}, 1)
	done := make(chan struct{})
	unsub := s.p.SubscribeNewTxs(txs)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-txs:
				select {
				case out <- struct{}{}:
				default: // a wake-up is already queued
				}
			}
		}
	}()
	return out, func() { unsub(); close(done) }
}
