package state

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/genesis"
)

// benchChain is a dev chain whose genesis funds n fresh accounts.
func benchChain(b *testing.B, n int, dir string) (*Chain, []*ecdsa.PrivateKey) {
	b.Helper()
	g := genesis.Dev()
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		keys[i], _ = crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("bench-%d", i))))
		g.Alloc[crypto.PubkeyToAddress(keys[i].PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1e6), big.NewInt(1e18))}
	}
	db := OpenMemoryStore()
	if dir != "" {
		var err error
		if db, err = OpenStore(dir); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
	}
	c, err := Open(db, g, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c, keys
}

// benchmarkBlock measures building + inserting (re-executing, committing,
// syncing) blocks of txsPerBlock plain transfers.
func benchmarkBlock(b *testing.B, txsPerBlock int, dir string) {
	c, keys := benchChain(b, txsPerBlock, dir)
	signerKey := genesis.DevSignerKey()
	signer := types.LatestSignerForChainID(c.Config().ChainID)
	nonce := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		txs := make([]*types.Transaction, txsPerBlock)
		for j, k := range keys {
			to := common.Address{byte(j)}
			txs[j], _ = types.SignNewTx(k, signer, &types.DynamicFeeTx{
				ChainID: c.Config().ChainID, Nonce: nonce, GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(100e9),
				Gas: 21000, To: &to, Value: big.NewInt(1),
			})
			// Warm the sender cache as the pool does on admission.
			_, _ = types.Sender(signer, txs[j])
		}
		nonce++
		parentCert := (*certificateT)(nil)
		if h := c.Head(); h.Number.Sign() > 0 {
			parentCert, _ = c.Certificate(h.Number.Uint64(), h.Hash())
		}
		b.StartTimer()
		blk, err := c.BuildBlock(context.Background(), &listSource{txs: txs}, BuildParams{Coinbase: crypto.PubkeyToAddress(signerKey.PublicKey), Time: time.Now(), ParentCommit: parentCert})
		if err != nil {
			b.Fatal(err)
		}
		if blk.Transactions().Len() != txsPerBlock {
			b.Fatalf("built %d txs, want %d", blk.Transactions().Len(), txsPerBlock)
		}
		if err := c.InsertBlock(context.Background(), blk, sealFor(b, blk.Hash(), signerKey)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(txsPerBlock*b.N)/b.Elapsed().Seconds(), "tx/s")
}

func BenchmarkBlock100Transfers(b *testing.B)        { benchmarkBlock(b, 100, "") }
func BenchmarkBlock1000Transfers(b *testing.B)       { benchmarkBlock(b, 1000, "") }
func BenchmarkBlock1000TransfersPebble(b *testing.B) { benchmarkBlock(b, 1000, b.TempDir()) }
