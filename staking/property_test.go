package staking_test

// Property tests: seeded random sequences of stake, unstake, withdraw and
// setSigner transactions (valid and invalid, setSigner with valid, stale and
// misdirected signer consents) from a few accounts across many epochs, with
// these checked after every step:
//   - each transaction succeeds exactly when the rules, evaluated on the
//     state before it, say so;
//   - module balance == Σ role totals + total unbonding == Σ positions'
//     amounts and unbonding entries;
//   - each account's balance + stake + unbonding + fees paid == its genesis
//     balance (nothing is created or lost);
//   - snapshot: EffectiveStake at the current epoch is the amount the
//     position had when the epoch began, and at the next epoch the amount
//     now;
//   - the owners list holds exactly the non-empty positions; every amount
//     is zero or at least its role's minimum.
// The same seed twice gives the same state root. Failures print SEED=<n>.

import (
	"crypto/ecdsa"
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

const propParams = `{"minValidatorStakeWei":"1000","minRouterStakeWei":"500","minComputeStakeWei":"0",
 "unbondingEpochs":2,"lockEpochs":[0,1,2,3,5],"maxPositions":3,"maxUnbonding":3}`

func TestPropertyRandomSequences(t *testing.T) {
	seeds := []uint64{1, 2, 3, 42, 1337}
	if *seedFlag != 0 {
		seeds = []uint64{*seedFlag}
	}
	steps := 1500
	if testing.Short() {
		steps = 300
	}
	for i, seed := range seeds {
		r1 := runSequence(t, seed, steps)
		if i == 0 {
			if r2 := runSequence(t, seed, steps); r1 != r2 {
				t.Fatalf("SEED=%d: state roots differ between identical runs: %x %x", seed, r1, r2)
			}
		}
	}
}

// op is one scripted operation, shared with the fuzz target.
type op struct {
	kind  int // 0 stake, 1 unstake, 2 withdraw, 3 setSigner, 4 advance blocks
	actor int
	role  uint8
	lock  uint8
	amt   *uint256.Int
	other int    // setSigner's target in sim.signers
	adv   uint64 // blocks to advance; for setSigner, adv % 16 picks the consent (see consentFor)
}

type sim struct {
	t       testing.TB
	f       *fixture
	actors  []common.Address
	signers []common.Address
	keys    map[common.Address]*ecdsa.PrivateKey // of every signer but the zero address
	genesis map[common.Address]*uint256.Int
	fees    map[common.Address]*uint256.Int
	start   map[common.Address]*uint256.Int // amount when the current epoch began
	epoch   uint64
	tag     string
	oks     map[int]int
	reverts int
}

func newSim(t *testing.T, tag string) *sim {
	f := newFixture(t, propParams)
	f.at(1, 0)
	s := &sim{t: t, f: f, actors: []common.Address{alice, bob, carol, dave}, tag: tag,
		genesis: map[common.Address]*uint256.Int{}, fees: map[common.Address]*uint256.Int{},
		start: map[common.Address]*uint256.Int{}, epoch: 1, oks: map[int]int{}}
	s.keys = map[common.Address]*ecdsa.PrivateKey{alice: aliceKey, bob: bobKey, carol: carolKey, dave: daveKey}
	for _, k := range []*ecdsa.PrivateKey{testKey(t, 51), testKey(t, 52)} {
		s.keys[keyAddr(k)] = k
	}
	s.signers = append(append([]common.Address{}, s.actors...), keyAddr(testKey(t, 51)), keyAddr(testKey(t, 52)), common.Address{})
	for _, a := range s.actors {
		s.genesis[a] = f.State.GetBalance(a).Clone()
		s.fees[a] = new(uint256.Int)
		s.start[a] = new(uint256.Int)
	}
	return s
}

// predict evaluates the rules on the state before o.
func (s *sim) predict(o op, a common.Address) bool {
	f, p := s.f, staking.PositionOf(s.f.State, a)
	e := f.epoch()
	params := f.params
	switch o.kind {
	case 0:
		if o.role >= staking.NumRoles || o.lock >= 5 || o.amt.IsZero() {
			return false
		}
		if so, ok := staking.SignerOwner(f.State, a); ok && so != a && o.role == uint8(staking.RoleValidator) {
			return false
		}
		if p.HasRole && p.Role != staking.Role(o.role) {
			return false
		}
		if new(uint256.Int).Add(p.AmountWei, o.amt).Lt(params.MinStakeWei[o.role]) {
			return false
		}
		return p.HasRole || staking.OwnerCount(f.State) < params.MaxPositions
	case 1:
		if o.amt.IsZero() || o.amt.Gt(p.AmountWei) || e < p.UnlockEpoch {
			return false
		}
		rest := new(uint256.Int).Sub(p.AmountWei, o.amt)
		if !rest.IsZero() && rest.Lt(params.MinStakeWei[p.Role]) {
			return false
		}
		n := len(p.Unbonding)
		return uint64(n) < params.MaxUnbonding || p.Unbonding[n-1].ReleaseEpoch == e+1+params.UnbondingEpochs
	case 2:
		return len(p.Unbonding) > 0 && p.Unbonding[0].ReleaseEpoch <= e
	case 3:
		sg := s.signers[o.other]
		if !p.HasRole || p.Role != staking.RoleValidator || p.AmountWei.IsZero() || sg == (common.Address{}) {
			return false
		}
		if sg == a {
			return true // clearing: empty signature
		}
		if so, ok := staking.SignerOwner(f.State, sg); ok && so != a {
			return false
		}
		return !staking.PositionOf(f.State, sg).HasRole && o.adv%16 >= 2
	}
	return false
}

func (s *sim) apply(step int, o op) {
	f := s.f
	if o.kind == 4 {
		f.Number += o.adv
		if e := f.epoch(); e != s.epoch {
			s.epoch = e
			for _, a := range s.actors {
				s.start[a] = staking.PositionOf(f.State, a).AmountWei
			}
		}
		s.check(step)
		return
	}
	a := s.actors[o.actor]
	var (
		data  []byte
		value *uint256.Int
	)
	switch o.kind {
	case 0:
		data, value = packRaw(f, "stake", o.role, o.lock), o.amt
		if value.Gt(new(uint256.Int).Rsh(f.State.GetBalance(a), 1)) {
			return // ApplyMessage would reject it or leave no gas money
		}
	case 1:
		data = f.pack("unstake", o.amt.ToBig())
	case 2:
		data = f.pack("withdraw")
	case 3:
		data = f.pack("setSigner", s.signers[o.other], s.consentFor(o, a))
	}
	want := s.predict(o, a)
	res, _ := f.Apply(f.Msg(a, &native.StakingAddress, value, data))
	s.fees[a].Add(s.fees[a], nativetest.Fee(res.UsedGas))
	if want && res.Err != nil || !want && res.Err != vm.ErrExecutionReverted {
		s.t.Fatalf("%s step %d: %s op %+v in epoch %d: err %v, model says ok=%t (position %+v)",
			s.tag, step, a, o, f.epoch(), res.Err, want, staking.PositionOf(f.State, a))
	}
	if want {
		s.oks[o.kind]++
	} else {
		s.reverts++
	}
	s.check(step)
}

// consentFor is the signature a setSigner op sends: empty when the actor
// sets itself or the signer has no key; else by adv % 16: 0 a consent at
// the next nonce (not yet valid; a replay has the same shape), 1 a consent
// given to another owner, 2 to 15 a valid consent.
func (s *sim) consentFor(o op, a common.Address) []byte {
	sg := s.signers[o.other]
	k, ok := s.keys[sg]
	if sg == a || !ok {
		return []byte{}
	}
	nonce, owner := staking.SignerNonce(s.f.State, sg), a
	switch o.adv % 16 {
	case 0:
		nonce++
	case 1:
		owner = common.Address{0x0e}
	}
	return s.f.consentAt(owner, k, nonce)
}

// packRaw packs stake's two uint8 arguments without the ABI's range
// checks (out-of-range roles and locks are still uint8s).
func packRaw(f *fixture, name string, role, lock uint8) []byte {
	return f.pack(name, role, lock)
}

func (s *sim) check(step int) {
	f := s.f
	e := f.epoch()
	sum, unb := new(uint256.Int), new(uint256.Int)
	roleSum := make([]*uint256.Int, staking.NumRoles)
	for i := range roleSum {
		roleSum[i] = new(uint256.Int)
	}
	nonEmpty := 0
	for _, a := range s.actors {
		p := staking.PositionOf(f.State, a)
		mine := new(uint256.Int)
		for _, u := range p.Unbonding {
			mine.Add(mine, u.AmountWei)
		}
		unb.Add(unb, mine)
		sum.Add(sum, p.AmountWei)
		if p.HasRole {
			nonEmpty++
			roleSum[p.Role].Add(roleSum[p.Role], p.AmountWei)
			if !p.AmountWei.IsZero() && p.AmountWei.Lt(f.params.MinStakeWei[p.Role]) {
				s.t.Fatalf("%s step %d: %s amount %s below the %s minimum", s.tag, step, a, p.AmountWei, p.Role)
			}
		} else if !p.AmountWei.IsZero() || len(p.Unbonding) != 0 {
			s.t.Fatalf("%s step %d: %s has no role but %+v", s.tag, step, a, p)
		}
		total := new(uint256.Int).Add(f.State.GetBalance(a), p.AmountWei)
		total.Add(total, mine).Add(total, s.fees[a])
		if !total.Eq(s.genesis[a]) {
			s.t.Fatalf("%s step %d: %s balance+stake+unbonding+fees = %s, genesis %s", s.tag, step, a, total, s.genesis[a])
		}
		now, err := staking.EffectiveStake(f.State, a, e)
		if err != nil || !now.Eq(s.start[a]) {
			s.t.Fatalf("%s step %d: %s effective in epoch %d = %v (%v), amount at the epoch's start %s", s.tag, step, a, e, now, err, s.start[a])
		}
		if next, err := staking.EffectiveStake(f.State, a, e+1); err != nil || !next.Eq(p.AmountWei) {
			s.t.Fatalf("%s step %d: %s effective in epoch %d = %v (%v), amount %s", s.tag, step, a, e+1, next, err, p.AmountWei)
		}
	}
	for r := range roleSum {
		if got := staking.TotalStake(f.State, staking.Role(r)); !got.Eq(roleSum[r]) {
			s.t.Fatalf("%s step %d: totalStake(%d) %s != Σ %s", s.tag, step, r, got, roleSum[r])
		}
	}
	if got := staking.TotalUnbonding(f.State); !got.Eq(unb) {
		s.t.Fatalf("%s step %d: total unbonding %s != Σ %s", s.tag, step, got, unb)
	}
	if bal, want := f.State.GetBalance(native.StakingAddress), new(uint256.Int).Add(sum, unb); !bal.Eq(want) {
		s.t.Fatalf("%s step %d: module balance %s != Σ stakes + unbonding %s", s.tag, step, bal, want)
	}
	if n := staking.OwnerCount(f.State); n != uint64(nonEmpty) || len(staking.Owners(f.State, 0, 100)) != nonEmpty {
		s.t.Fatalf("%s step %d: %d owners listed, %d non-empty positions", s.tag, step, n, nonEmpty)
	}
}

func randomOp(rng *rand.Rand, nActors, nSigners int) op {
	o := op{kind: rng.IntN(5), actor: rng.IntN(nActors), other: rng.IntN(nSigners)}
	switch rng.IntN(10) {
	case 0:
		o.role = uint8(rng.IntN(256))
	default:
		o.role = uint8(rng.IntN(3))
	}
	o.lock = uint8(rng.IntN(6))
	switch rng.IntN(5) {
	case 0:
		o.amt = new(uint256.Int)
	case 1:
		o.amt = uint256.NewInt(rng.Uint64N(3000))
	case 2:
		o.amt = emc(rng.Uint64N(3) + 1)
	default:
		o.amt = uint256.NewInt(rng.Uint64N(1500))
	}
	o.adv = rng.Uint64N(2 * testEpochLength)
	return o
}

func runSequence(t *testing.T, seed uint64, steps int) common.Hash {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := newSim(t, "SEED="+itoa(seed))
	for step := range steps {
		o := randomOp(rng, len(s.actors), len(s.signers))
		if o.kind == 1 && rng.IntN(3) == 0 {
			o.amt = staking.PositionOf(s.f.State, s.actors[o.actor]).AmountWei // full exit
		}
		if o.kind == 3 { // setSigner: prefer a validator
			for i, a := range s.actors {
				if p := staking.PositionOf(s.f.State, a); p.HasRole && p.Role == staking.RoleValidator && rng.IntN(2) == 0 {
					o.actor = i
				}
			}
		}
		if p := staking.PositionOf(s.f.State, s.actors[o.actor]); o.kind == 0 && p.HasRole && rng.IntN(2) == 0 {
			o.role = uint8(p.Role) // fewer role mismatches
		}
		s.apply(step, o)
	}
	// A short sequence may miss a kind for one seed (SEED=42 has no
	// successful setSigner in its first 600 steps): the check needs the
	// full length.
	for k := range 4 {
		if !testing.Short() && s.oks[k] < steps/200 {
			t.Logf("SEED=%d: successes %v, %d reverts", seed, s.oks, s.reverts)
			t.Fatalf("SEED=%d: sequence too one-sided: successes %v, %d reverts", seed, s.oks, s.reverts)
		}
	}
	t.Logf("SEED=%d: %d steps to epoch %d: successes by kind %v, %d reverts", seed, steps, s.f.epoch(), s.oks, s.reverts)
	if s.reverts < steps/10 {
		t.Fatalf("SEED=%d: only %d reverts", seed, s.reverts)
	}
	return s.f.Root()
}

func itoa(v uint64) string { return new(uint256.Int).SetUint64(v).Dec() }
