package credits_test

// Property test: seeded random sequences of purchases (valid and invalid),
// spends (valid and invalid) and plain transfers from a few accounts, with
// after every step:
//   - balance == reserve == totalCredits × price == Σ creditsOf × price,
//   - reserve + burned + paid to providers == all wei paid in,
//   - Σ account balances + module balance + burned + fees == genesis total
//     (nothing created; the burn is the only way out besides fees),
//   - a plain-map model agrees with every account's credits.
// Failures print SEED=<n>.

import (
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

func TestPropertyRandomSequences(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 42, 1337} {
		runSequence(t, seed, 150)
	}
}

func runSequence(t *testing.T, seed uint64, steps int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	f := newFixture(t, `{"creditPriceWei":"1000","providerSharePercent":80}`)
	accounts := []common.Address{alice, bob}
	everyone := []common.Address{alice, bob, provider, common.HexToAddress("0xd0d0"), f.Coinbase}
	genesisTotal := new(uint256.Int)
	for _, a := range everyone {
		genesisTotal.Add(genesisTotal, f.State.GetBalance(a))
	}
	model := map[common.Address]uint64{}
	paidIn := new(uint256.Int)
	baseFeeBurn := new(uint256.Int)
	for step := 0; step < steps; step++ {
		from := accounts[rng.IntN(len(accounts))]
		to := everyone[rng.IntN(3)]
		var gasUsed uint64
		switch rng.IntN(4) {
		case 0, 1: // buy: a multiple of the price, or not, or zero, or to 0x0
			n := rng.Uint64N(50)
			value := uint256.NewInt(n * 1000)
			ok := n > 0
			switch rng.IntN(6) {
			case 0:
				value.AddUint64(value, 1+rng.Uint64N(999))
				ok = false
			case 1:
				to = common.Address{}
				ok = false
			}
			res, _ := f.buy(from, value, to)
			gasUsed = res.gasUsed
			if (res.err == nil) != ok {
				t.Fatalf("SEED=%d step %d: buy %s wei to %s: err %v (%s), want ok=%t", seed, step, value, to, res.err, res.reason(), ok)
			}
			if ok {
				model[to] += n
				paidIn.Add(paidIn, value)
			}
		case 2: // spend, sometimes more than the balance
			holder := everyone[rng.IntN(3)]
			n := rng.Uint64N(model[holder] + 3)
			res, _ := f.spend(from, holder, provider, n)
			gasUsed = res.gasUsed
			ok := n > 0 && n <= model[holder]
			if (res.err == nil) != ok {
				t.Fatalf("SEED=%d step %d: spend %d of %s (has %d): err %v (%s)", seed, step, n, holder, model[holder], res.err, res.reason())
			}
			if ok {
				model[holder] -= n
			}
		default: // a plain transfer between accounts
			res, _ := f.Apply(f.Msg(from, &everyone[3], uint256.NewInt(rng.Uint64N(1000)), nil))
			gasUsed = res.UsedGas
		}
		baseFeeBurn.Add(baseFeeBurn, new(uint256.Int).Mul(uint256.NewInt(gasUsed), uint256.NewInt(nativetest.BaseFeeWei)))
		f.checkInvariant(t, everyone, paidIn)
		for a, n := range model {
			if got := credits.CreditsOf(f.State, a); got.Uint64() != n || !got.IsUint64() {
				t.Fatalf("SEED=%d step %d: %s has %s credits, model %d", seed, step, a, got, n)
			}
		}
		sum := new(uint256.Int).Add(f.State.GetBalance(native.CreditsAddress), credits.Burned(f.State))
		sum.Add(sum, baseFeeBurn)
		for _, a := range everyone {
			sum.Add(sum, f.State.GetBalance(a))
		}
		if !sum.Eq(genesisTotal) {
			t.Fatalf("SEED=%d step %d: Σ balances + burned = %s, genesis %s", seed, step, sum, genesisTotal)
		}
	}
}
