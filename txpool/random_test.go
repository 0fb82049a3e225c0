package txpool

// Method: a seeded random walk over every operation the node performs (add
// remote or local, replace, fill gaps, mine a block from the ordered
// iterator, move the base fee, let time pass) on a deliberately tiny pool so
// eviction, truncation and demotion happen often. checkInternals runs after
// every step; a failure prints SEED=<n> and replays with -txpool.seed=<n>.

import (
	"flag"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
	dto "github.com/prometheus/client_model/go"
)

var seedFlag = flag.Uint64("txpool.seed", 0, "replay TestRandomOps with this seed")

func TestRandomOps(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	if *seedFlag != 0 {
		seeds = []uint64{*seedFlag}
	}
	m := NopMetrics()
	for _, seed := range seeds {
		ok := t.Run("", func(t *testing.T) { randomOps(t, m, seed, 400) })
		if !ok {
			t.Logf("SEED=%d", seed)
		}
	}
	// The walk is only worth something if it reaches every removal path.
	if *seedFlag == 0 {
		for _, reason := range []string{"mined", "evicted", "truncated", "stale"} {
			var out dto.Metric
			if err := m.Dropped.WithLabelValues(reason).Write(&out); err != nil {
				t.Fatal(err)
			}
			if out.GetCounter().GetValue() == 0 {
				t.Errorf("random walk never dropped a tx as %q", reason)
			}
		}
		var out dto.Metric
		if err := m.Replaced.Write(&out); err != nil || out.GetCounter().GetValue() == 0 {
			t.Errorf("random walk never replaced a tx")
		}
	}
}

func randomOps(t *testing.T, m *Metrics, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed))
	env := newTestEnv(t, Config{Metrics: m, GlobalSlots: 12, GlobalQueue: 5, AccountSlots: 4, AccountQueue: 3,
		Lifetime: 10 * time.Minute, EvictionInterval: time.Minute})
	const accounts = 6
	baseFee := uint64(testBaseFee)
	for i := range accounts {
		env.chain.set(cryptoAddr(testKey(i)), 0, eth(1))
	}
	env.block(baseFee)
	for range steps {
		switch op := rng.IntN(10); {
		case op < 6: // add (sometimes a replacement, sometimes a gap)
			k := rng.IntN(accounts)
			key := testKey(k)
			nonce := env.pool.Nonce(cryptoAddr(key)) + uint64(rng.IntN(4)) - uint64(rng.IntN(2))
			feeCap := baseFee + uint64(rng.IntN(20))*gwei/4
			tip := min(feeCap, uint64(rng.IntN(8))*gwei/4)
			tx := types.MustSignNewTx(key, testSigner, &types.DynamicFeeTx{ChainID: big.NewInt(testChainID), Nonce: nonce,
				GasFeeCap: new(big.Int).SetUint64(feeCap), GasTipCap: new(big.Int).SetUint64(tip), Gas: transferGas,
				To: &recipient, Value: big.NewInt(int64(rng.IntN(3)))})
			env.add(rng.IntN(5) == 0, tx)
		case op < 8: // mine: execute up to 5 txs from the ordered iterator
			it := env.pool.Ordered(new(big.Int).SetUint64(baseFee))
			for n := 0; n < 5; n++ {
				tx, from := it.Peek()
				if tx == nil {
					break
				}
				bal := env.chain.cur.GetBalance(from)
				cost, _ := uint256.FromBig(tx.Cost())
				if env.chain.cur.GetNonce(from) != tx.Nonce() || bal.Lt(cost) {
					t.Fatalf("builder offered tx nonce %d for state nonce %d", tx.Nonce(), env.chain.cur.GetNonce(from))
				}
				env.chain.set(from, tx.Nonce()+1, bal.Sub(bal, cost))
				it.Shift()
			}
			if rng.IntN(2) == 0 {
				baseFee = max(gwei/2, baseFee+uint64(rng.IntN(3))*gwei/2-gwei/2)
			}
			env.block(baseFee)
		default:
			env.advance(time.Duration(1+rng.IntN(5)) * time.Minute)
		}
	}
}
