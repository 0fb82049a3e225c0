package txpool

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"
)

// signedBatch returns accounts*perAccount signed transfers with their senders
// already recovered (cached in the tx), so the benchmarks measure the pool.
func signedBatch(b *testing.B, env *testEnv, accounts, perAccount int) []*types.Transaction {
	b.Helper()
	txs := make([]*types.Transaction, 0, accounts*perAccount)
	for i := range accounts {
		key := testKey(i)
		env.chain.set(cryptoAddr(key), 0, eth(1000))
		for n := range perAccount {
			tx := tipTx(key, uint64(n), uint64(1+(i*7+n)%50))
			if _, err := types.Sender(testSigner, tx); err != nil {
				b.Fatal(err)
			}
			txs = append(txs, tx)
		}
	}
	env.block(testBaseFee)
	return txs
}

// BenchmarkAdd measures admitting 10,000 transactions (100 accounts x 100
// nonces) into an empty pool, in batches of 100; reported per transaction.
func BenchmarkAdd(b *testing.B) {
	const accounts, perAccount = 100, 100
	env := newTestEnv(b, Config{})
	txs := signedBatch(b, env, accounts, perAccount)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		p, err := New(Config{}, env.chain, testSigner, env.clock, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < len(txs); i += 100 {
			for _, err := range p.Add(txs[i:i+100], false) {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		p.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(txs)), "ns/tx")
}

// BenchmarkOrdered measures building and draining the block-building
// iterator over 10,000 pending transactions (100 accounts x 100 nonces).
func BenchmarkOrdered(b *testing.B) {
	const accounts, perAccount = 100, 100
	env := newTestEnv(b, Config{})
	txs := signedBatch(b, env, accounts, perAccount)
	for _, err := range env.pool.Add(txs, false) {
		if err != nil {
			b.Fatal(err)
		}
	}
	baseFee := big.NewInt(testBaseFee)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		it := env.pool.Ordered(baseFee)
		n := 0
		for tx, _ := it.Peek(); tx != nil; tx, _ = it.Peek() {
			n++
			it.Shift()
		}
		if n != len(txs) {
			b.Fatalf("drained %d, want %d", n, len(txs))
		}
	}
}
