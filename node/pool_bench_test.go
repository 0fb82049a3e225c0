package node

import (
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/txpool"
)

// benchPoolChain opens a dev chain in memory whose genesis also funds
// accounts keys, and a pool config for it: the pool then reads a real
// go-ethereum StateDB, as in the node (txpool's own benchmarks use a map).
func benchPoolChain(b *testing.B, accounts int) (*state.Chain, txpool.Config, []*ecdsa.PrivateKey) {
	b.Helper()
	g := genesis.Dev()
	keys := make([]*ecdsa.PrivateKey, accounts)
	for i := range keys {
		k, err := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("pool bench key %d", i))))
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = k
		g.Alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))}
	}
	if err := g.Validate(); err != nil {
		b.Fatal(err)
	}
	chain, err := state.Open(state.OpenMemoryStore(), g, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := txpool.DefaultConfig()
	cfg.ChainConfig = chain.Config()
	cfg.NextBaseFee = chain.NextBaseFee
	return chain, cfg, keys
}

// BenchmarkPoolAddRealState measures admitting 10,000 transactions (100
// accounts x 100 nonces) in batches of 100 into an empty pool whose head
// state is a real StateDB; reported per transaction.
func BenchmarkPoolAddRealState(b *testing.B) {
	const accounts, perAccount = 100, 100
	chain, cfg, keys := benchPoolChain(b, accounts)
	signer := types.LatestSigner(chain.Config())
	to := common.HexToAddress("0xb0b0")
	txs := make([]*types.Transaction, 0, accounts*perAccount)
	for _, k := range keys {
		for n := range uint64(perAccount) {
			tx := types.MustSignNewTx(k, signer, &types.DynamicFeeTx{
				ChainID: chain.Config().ChainID, Nonce: n, GasTipCap: big.NewInt(1e9 + int64(n)),
				GasFeeCap: big.NewInt(100e9), Gas: 21_000, To: &to, Value: big.NewInt(1),
			})
			if _, err := types.Sender(signer, tx); err != nil {
				b.Fatal(err)
			}
			txs = append(txs, tx)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		p, err := txpool.New(cfg, poolChain{chain}, signer, mclock.System{}, nil)
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

// BenchmarkPoolNonceParallel measures eth_getTransactionCount(addr,
// "pending") for accounts the pool does not hold, from GOMAXPROCS
// goroutines: every call reads the head StateDB (before the txpool fix
// this crashed the process).
func BenchmarkPoolNonceParallel(b *testing.B) {
	const accounts = 1000
	chain, cfg, keys := benchPoolChain(b, accounts)
	addrs := make([]common.Address, accounts)
	for i, k := range keys {
		addrs[i] = crypto.PubkeyToAddress(k.PublicKey)
	}
	p, err := txpool.New(cfg, poolChain{chain}, types.LatestSigner(chain.Config()), mclock.System{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if n := p.Nonce(addrs[i%accounts]); n != 0 {
				b.Errorf("nonce %d", n)
				return
			}
			i += 7
		}
	})
}
