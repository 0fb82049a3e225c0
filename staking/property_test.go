package staking_test

// Property tests: seeded random sequences of stake and unstake transactions
// (valid and invalid) from a few accounts, with these checked after every
// step:
//   - sum of stakes == totalStake == module balance,
//   - the stakers list holds exactly the accounts with non-zero stake, each
//     once, and every non-zero stake is at least the minimum,
//   - each account's balance + stake + fees paid == its genesis balance
//     (nothing is created or lost; no balance goes negative: uint256 would
//     wrap to a huge number and break the equation),
//   - a slow model (a plain map) agrees with the module.
// The same seed twice gives the same state root. Failures print SEED=<n>.

import (
	"flag"
	"math/rand/v2"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

var seedFlag = flag.Uint64("seed", 0, "run the property test with this seed only")

func TestPropertyRandomSequences(t *testing.T) {
	seeds := []uint64{1, 2, 3, 42, 1337}
	if *seedFlag != 0 {
		seeds = []uint64{*seedFlag}
	}
	for _, seed := range seeds {
		r1 := runSequence(t, seed, 120)
		r2 := runSequence(t, seed, 120)
		if r1 != r2 {
			t.Fatalf("SEED=%d: state roots differ between identical runs: %x %x", seed, r1, r2)
		}
	}
}

func runSequence(t *testing.T, seed uint64, steps int) common.Hash {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	f := newFixture(t, `{"minStakeWei":"1000","maxStakers":3}`)
	accounts := []common.Address{alice, bob, carol, common.HexToAddress("0xd0d0")}
	// d0d0 has no funds of its own: fund it so it can pay fees.
	genesis := map[common.Address]*uint256.Int{}
	for _, a := range accounts[:3] {
		genesis[a] = f.State.GetBalance(a).Clone()
	}
	res, _ := f.Apply(f.Msg(alice, &accounts[3], emc(10), nil))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	genesis[alice].Sub(genesis[alice], new(uint256.Int).Add(emc(10), nativetest.Fee(res.UsedGas)))
	genesis[accounts[3]] = emc(10)

	model := map[common.Address]*uint256.Int{}
	fees := map[common.Address]*uint256.Int{}
	for _, a := range accounts {
		model[a], fees[a] = new(uint256.Int), new(uint256.Int)
	}
	amount := func() *uint256.Int {
		switch rng.IntN(4) {
		case 0:
			return uint256.NewInt(rng.Uint64N(2000)) // around the minimum
		case 1:
			return new(uint256.Int).Mul(uint256.NewInt(rng.Uint64N(5)+1), emc(1))
		case 2:
			return uint256.NewInt(0)
		default:
			return uint256.NewInt(rng.Uint64N(1_000_000))
		}
	}
	oks, reverts, exits := 0, 0, 0
	for step := range steps {
		a := accounts[rng.IntN(len(accounts))]
		var (
			data  []byte
			value *uint256.Int
			isStk = rng.IntN(2) == 0
			amt   = amount()
		)
		if !isStk && rng.IntN(3) == 0 && !model[a].IsZero() {
			amt = model[a].Clone() // full exit, exercises list removal
		}
		if isStk {
			data, value = f.pack("stake"), amt
		} else {
			data = f.pack("unstake", amt.ToBig())
		}
		if value != nil && value.Gt(f.State.GetBalance(a)) {
			continue // ApplyMessage would reject it; not interesting
		}
		res, _ := f.Apply(f.Msg(a, &native.StakingAddress, value, data))
		fees[a].Add(fees[a], nativetest.Fee(res.UsedGas))

		// Model: what should have happened.
		old, n := model[a], 0
		for _, s := range model {
			if !s.IsZero() {
				n++
			}
		}
		var next *uint256.Int
		if isStk {
			next = new(uint256.Int).Add(old, amt)
			if amt.IsZero() || next.Lt(uint256.NewInt(1000)) || (old.IsZero() && n >= 3) {
				next = nil
			}
		} else if !amt.IsZero() && !amt.Gt(old) {
			next = new(uint256.Int).Sub(old, amt)
			if !next.IsZero() && next.Lt(uint256.NewInt(1000)) {
				next = nil
			}
		}
		if next == nil {
			if res.Err != vm.ErrExecutionReverted {
				t.Fatalf("SEED=%d step %d: %s stake=%t amt=%s old=%s: err %v, model says revert", seed, step, a, isStk, amt, old, res.Err)
			}
		} else {
			if res.Err != nil {
				t.Fatalf("SEED=%d step %d: %s stake=%t amt=%s old=%s: err %v, model says ok", seed, step, a, isStk, amt, old, res.Err)
			}
			model[a] = next
			oks++
			if next.IsZero() {
				exits++
			}
		}
		if next == nil {
			reverts++
		}
		checkInvariants(t, f, seed, step, accounts, model, fees, genesis)
	}
	if oks < steps/10 || reverts < steps/10 || exits == 0 {
		t.Fatalf("SEED=%d: sequence too one-sided: %d ok (%d full exits), %d reverted", seed, oks, exits, reverts)
	}
	return f.Root()
}

func checkInvariants(t *testing.T, f *fixture, seed uint64, step int, accounts []common.Address,
	model, fees, genesis map[common.Address]*uint256.Int) {
	t.Helper()
	sum := new(uint256.Int)
	nonZero := 0
	for _, a := range accounts {
		s := staking.StakeOf(f.State, a)
		if !s.Eq(model[a]) {
			t.Fatalf("SEED=%d step %d: stake of %s = %s, model %s", seed, step, a, s, model[a])
		}
		if !s.IsZero() {
			nonZero++
			if s.Lt(uint256.NewInt(1000)) {
				t.Fatalf("SEED=%d step %d: stake %s below minimum", seed, step, s)
			}
		}
		sum.Add(sum, s)
		total := new(uint256.Int).Add(f.State.GetBalance(a), s)
		total.Add(total, fees[a])
		if !total.Eq(genesis[a]) {
			t.Fatalf("SEED=%d step %d: %s balance+stake+fees = %s, genesis %s", seed, step, a, total, genesis[a])
		}
	}
	if total := staking.TotalStake(f.State); !total.Eq(sum) {
		t.Fatalf("SEED=%d step %d: totalStake %s != sum %s", seed, step, total, sum)
	}
	if bal := f.State.GetBalance(native.StakingAddress); !bal.Eq(sum) {
		t.Fatalf("SEED=%d step %d: module balance %s != sum %s", seed, step, bal, sum)
	}
	list := staking.Stakers(f.State, 0, 1000)
	if len(list) != nonZero || staking.StakerCount(f.State) != uint64(nonZero) {
		t.Fatalf("SEED=%d step %d: list %v, %d non-zero stakes", seed, step, list, nonZero)
	}
	seen := map[common.Address]bool{}
	for _, s := range list {
		if seen[s.Address] || s.StakeWei.IsZero() {
			t.Fatalf("SEED=%d step %d: bad list %v", seed, step, list)
		}
		seen[s.Address] = true
	}
}
