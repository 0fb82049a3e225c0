package rewards_test

// Lock-expiry tests: a lock's multiplier ends at its unlock epoch without
// anyone touching the position.
//
// Method: a per-epoch model of the two staking pools (the hand
// computation) holds every owner's weight in every epoch as segments the
// test writes down as it acts, distributes each epoch's budget with the
// Pool formula over those weights, one epoch at a time, nothing lazy, and
// accumulates each owner's scaled reward. After every block and
// transaction the module's state must match it exactly: each position's
// weight in each epoch from the next to distribute up to `horizon` epochs
// ahead, the pool totals epoch by epoch (TotalWeight plus the scheduled
// deltas, which must equal Σ positions' weights: the recomputation
// helper), what each owner is owed, the pools' balances, and per pool
// Outstanding·S == Σ owed + dust (money conservation; fixture.block also
// checks the module's balance every block).

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
)

// horizon is how many epochs ahead of the next distribution the weight
// schedules are checked (covers a 180-day lock).
const horizon = 200

const (
	sp = rewards.PoolStaking
	lt = rewards.PoolLongTerm
)

// wt is the weight of n EMC at bps (10,000 = 1×).
func wt(n uint64, bps int64) *big.Int {
	return new(big.Int).Mul(emc(n).ToBig(), big.NewInt(bps))
}

// seg is a weight from an epoch on.
type seg struct {
	from uint64
	w    *big.Int
}

type model struct {
	t      *testing.T
	owners []common.Address
	sched  map[common.Address]*[2][]seg
	budget [2]*big.Int
	left   [2]*big.Int
	dust   [2]*big.Int
	owed   map[common.Address]*[2]*big.Int // scaled, claims taken off
	next   uint64                          // next epoch to distribute
}

func newModel(f *fixture, owners ...common.Address) *model {
	p := f.mod.Params()
	pools := rewards.PoolsOf(f.State)
	m := &model{
		t: f.t, owners: owners, sched: map[common.Address]*[2][]seg{},
		budget: [2]*big.Int{p.StakingEpochWei.ToBig(), p.LongTermEpochWei.ToBig()},
		left:   [2]*big.Int{pools.StakingWei.ToBig(), pools.LongTermWei.ToBig()},
		dust:   [2]*big.Int{new(big.Int), new(big.Int)},
		owed:   map[common.Address]*[2]*big.Int{},
	}
	for _, o := range owners {
		m.sched[o] = &[2][]seg{}
		m.owed[o] = &[2]*big.Int{new(big.Int), new(big.Int)}
	}
	return m
}

// set makes o weigh w in pool p from epoch from on, replacing what was
// written for later epochs.
func (m *model) set(o common.Address, p int, from uint64, w *big.Int) {
	s := m.sched[o][p]
	for len(s) > 0 && s[len(s)-1].from >= from {
		s = s[:len(s)-1]
	}
	m.sched[o][p] = append(s, seg{from, w})
}

func (m *model) weight(o common.Address, p int, e uint64) *big.Int {
	w := new(big.Int)
	for _, s := range m.sched[o][p] {
		if s.from <= e {
			w = s.w
		}
	}
	return new(big.Int).Set(w)
}

// distributeTo distributes every epoch before d, one at a time.
func (m *model) distributeTo(d uint64) {
	S := rewards.AccScale()
	for ; m.next < d; m.next++ {
		for p := range 2 {
			total := new(big.Int)
			for _, o := range m.owners {
				total.Add(total, m.weight(o, p, m.next))
			}
			b := new(big.Int).Set(m.budget[p])
			if m.left[p].Cmp(b) < 0 {
				b.Set(m.left[p])
			}
			if total.Sign() == 0 || b.Sign() == 0 {
				continue // the budget stays in the pool
			}
			num := new(big.Int).Add(new(big.Int).Mul(b, S), m.dust[p])
			rise := new(big.Int)
			rise.QuoRem(num, total, m.dust[p]) // round down, remainder carried
			m.left[p].Sub(m.left[p], b)
			for _, o := range m.owners {
				m.owed[o][p].Add(m.owed[o][p], new(big.Int).Mul(rise, m.weight(o, p, m.next)))
			}
		}
	}
}

// check compares the module's state with the model (see the file comment).
func (m *model) check(f *fixture) {
	m.t.Helper()
	s := f.State
	d := rewards.NextDistribute(s)
	m.distributeTo(d)
	pools := rewards.PoolsOf(s)
	S := rewards.AccScale()
	for p := range 2 {
		left := pools.StakingWei
		if p == lt {
			left = pools.LongTermWei
		}
		if left.ToBig().Cmp(m.left[p]) != 0 {
			m.t.Fatalf("block %d pool %d: %s left, want %s", f.Number, p, left, m.left[p])
		}
		// Money: Outstanding·S == Σ owed + dust, and each owner owed what
		// the model says.
		sum := rewards.DustScaled(s, uint64(p)).ToBig()
		for _, o := range m.owners {
			owed := rewards.OwedScaled(s, uint64(p), o).ToBig()
			if owed.Cmp(m.owed[o][p]) != 0 {
				m.t.Fatalf("block %d pool %d: %s owed %s scaled, want %s", f.Number, p, o, owed, m.owed[o][p])
			}
			sum.Add(sum, owed)
		}
		if out := new(big.Int).Mul(rewards.Outstanding(s, uint64(p)).ToBig(), S); out.Cmp(sum) != 0 {
			m.t.Fatalf("block %d pool %d: outstanding·S %s != Σ owed + dust %s", f.Number, p, out, sum)
		}
		// Weights: the total of the last epoch distributed is the sum of
		// the model's weights then; from d on the total plus each epoch's
		// scheduled delta is the sum of the positions' weights, and each
		// position's weight is the model's.
		running := rewards.TotalWeight(s, uint64(p)).ToBig()
		if d > 0 {
			want := new(big.Int)
			for _, o := range m.owners {
				want.Add(want, m.weight(o, p, d-1))
			}
			if running.Cmp(want) != 0 {
				m.t.Fatalf("block %d pool %d: total weight %s in epoch %d, want %s", f.Number, p, running, d-1, want)
			}
		}
		pos := make([]rewards.StakePosition, len(m.owners))
		for i, o := range m.owners {
			pos[i] = rewards.StakePositionOf(s, uint64(p), o)
			if pos[i].Settled > d || (pos[i].ExpiryEpoch != 0 && pos[i].ExpiryEpoch <= pos[i].ChangeEpoch) {
				m.t.Fatalf("block %d pool %d: %s position %+v", f.Number, p, o, pos[i])
			}
		}
		for x := d; x < d+horizon; x++ {
			add, sub := rewards.WeightDelta(s, uint64(p), x)
			running.Add(running, add.ToBig())
			running.Sub(running, sub.ToBig())
			sumW := new(big.Int)
			for i, o := range m.owners {
				w := pos[i].WeightAt(x).ToBig()
				if want := m.weight(o, p, x); w.Cmp(want) != 0 {
					m.t.Fatalf("block %d pool %d: %s weighs %s in epoch %d, want %s", f.Number, p, o, w, x, want)
				}
				sumW.Add(sumW, w)
			}
			if running.Cmp(sumW) != 0 {
				m.t.Fatalf("block %d pool %d: total %s in epoch %d != Σ weights %s", f.Number, p, running, x, sumW)
			}
		}
	}
}

// claim claims everything o is owed and takes it off the model.
func (m *model) claim(f *fixture, o common.Address) *uint256.Int {
	m.t.Helper()
	S := rewards.AccScale()
	want := rewards.NodeAccrued(f.State, o).ToBig()
	var paid [2]*big.Int
	for p := range 2 {
		paid[p] = new(big.Int).Quo(rewards.OwedScaled(f.State, uint64(p), o).ToBig(), S)
		want.Add(want, paid[p])
	}
	m.distributeTo(rewards.NextDistribute(f.State))
	got := f.claim(o)
	if got.ToBig().Cmp(want) != 0 {
		m.t.Fatalf("%s claimed %s, want %s", o, got, want)
	}
	for p := range 2 {
		m.owed[o][p].Sub(m.owed[o][p], new(big.Int).Mul(paid[p], S))
	}
	m.check(f)
	return got
}

// blocks runs blocks from..to (every step-th, and to) with no validators,
// checking the model after each.
func (m *model) blocks(f *fixture, from, to, step uint64) {
	m.t.Helper()
	for n := from; n <= to; n += step {
		f.block(n, nil, nil)
		m.check(f)
	}
	if (to-from)%step != 0 {
		f.block(to, nil, nil)
		m.check(f)
	}
}

// lockPools is the test pools: 1,000 EMC a staking epoch from 1M EMC,
// long-term 3 EMC an epoch from 1,000 EMC.
const lockPools = `{"stakingWei":"1000000000000000000000000","stakingEpochWei":"1000000000000000000000",
	"longTermStakingWei":"1000000000000000000000","longTermEpochWei":"3000000000000000000"}`

// TestLockEndsAt7Days: alice stakes 100 EMC locked 7 days (7 epochs) and
// bob 50 EMC unlocked in epoch 0. Alice weighs 1.4× in epochs 1–6 (the
// stake counts from the epoch after the stake) and 1× from her unlock
// epoch 7 on, with no transaction; bob 1× throughout. Pinned against the
// model and, for epochs 1–7, the docs' worked example.
func TestLockEndsAt7Days(t *testing.T) {
	f := newFixture(t, lockPools)
	m := newModel(f, alice, bob)
	f.block(1, nil, nil)
	f.stake(alice, staking.RoleCompute, rewards.Lock7Days, emc(100))
	if p := staking.PositionOf(f.State, alice); p.UnlockEpoch != 7 {
		t.Fatalf("alice's unlock epoch %d, want 7", p.UnlockEpoch)
	}
	m.set(alice, sp, 1, wt(100, 14_000))
	m.set(alice, sp, 7, wt(100, 10_000))
	m.check(f)
	f.stake(bob, staking.RoleCompute, rewards.LockNone, emc(50))
	m.set(bob, sp, 1, wt(50, 10_000))
	m.check(f)
	if pos := rewards.StakePositionOf(f.State, sp, alice); pos.ExpiryEpoch != 7 || pos.AfterWeight.ToBig().Cmp(wt(100, 10_000)) != 0 {
		t.Fatalf("alice's staking position %+v", pos)
	}
	if _, sub := rewards.WeightDelta(f.State, sp, 7); sub.ToBig().Cmp(wt(100, 4_000)) != 0 {
		t.Fatalf("drop scheduled at epoch 7: %s", sub)
	}
	var at70 rewards.Rewards
	for n := uint64(2); n <= 100; n++ {
		f.block(n, nil, nil)
		m.check(f)
		if n == 70 {
			at70 = rewards.RewardsOf(f.State, alice)
			// Epoch 6 distributed: 1.4× + 1×.
			if got := rewards.TotalWeight(f.State, sp); got.ToBig().Cmp(wt(190, 10_000)) != 0 {
				t.Fatalf("total weight in epoch 6: %s", got)
			}
		}
	}
	if got := rewards.TotalWeight(f.State, sp); got.ToBig().Cmp(wt(150, 10_000)) != 0 {
		t.Fatalf("total weight in epoch 9: %s, want 150 EMC at 1×", got)
	}
	// Nothing touched alice's position since her stake: the expiry is
	// still stored, and read as 1× from epoch 7.
	if pos := rewards.StakePositionOf(f.State, sp, alice); pos.WeightAt(9).ToBig().Cmp(wt(100, 10_000)) != 0 {
		t.Fatalf("alice weighs %s in epoch 9", pos.WeightAt(9))
	}

	// Hand computation of epochs 1–7 (block 80 has distributed epoch 7):
	// epochs 1–6 split 1,000 EMC 140:50 (the rise rounds down and carries
	// its remainder), epoch 7 splits it 100:50.
	S := rewards.AccScale()
	B := emc(1000).ToBig()
	num, dust := new(big.Int), new(big.Int)
	riseLocked := new(big.Int)
	for e := 1; e <= 6; e++ {
		num.Add(new(big.Int).Mul(B, S), dust)
		r := new(big.Int)
		r.QuoRem(num, wt(190, 10_000), dust)
		riseLocked.Add(riseLocked, r)
	}
	rise7 := new(big.Int).Quo(new(big.Int).Add(new(big.Int).Mul(B, S), dust), wt(150, 10_000))
	aliceWei := new(big.Int).Add(new(big.Int).Mul(riseLocked, wt(100, 14_000)), new(big.Int).Mul(rise7, wt(100, 10_000)))
	bobWei := new(big.Int).Mul(new(big.Int).Add(riseLocked, rise7), wt(50, 10_000))
	aliceWei.Quo(aliceWei, S)
	bobWei.Quo(bobWei, S)
	aliceEpoch7 := new(big.Int).Quo(new(big.Int).Mul(rise7, wt(100, 10_000)), S)
	if d := new(big.Int).Sub(aliceEpoch7, new(big.Int).Quo(new(big.Int).Mul(B, big.NewInt(2)), big.NewInt(3))); d.CmpAbs(big.NewInt(1)) > 0 {
		t.Fatalf("alice's epoch-7 share %s, want 2/3 of 1,000 EMC", aliceEpoch7)
	}
	at70Want := new(big.Int).Quo(new(big.Int).Mul(riseLocked, wt(100, 14_000)), S)
	if at70.StakingWei.ToBig().Cmp(at70Want) != 0 {
		t.Fatalf("alice owed %s after epoch 6, want %s", at70.StakingWei, at70Want)
	}
	// Replay the model to block 80 for the example's figures.
	g := newFixture(t, lockPools)
	g.block(1, nil, nil)
	g.stake(alice, staking.RoleCompute, rewards.Lock7Days, emc(100))
	g.stake(bob, staking.RoleCompute, rewards.LockNone, emc(50))
	g.block(80, nil, nil)
	ra, rb := rewards.RewardsOf(g.State, alice), rewards.RewardsOf(g.State, bob)
	if ra.StakingWei.ToBig().Cmp(aliceWei) != 0 || rb.StakingWei.ToBig().Cmp(bobWei) != 0 {
		t.Fatalf("after epoch 7: alice %s bob %s, want %s %s", ra.StakingWei, rb.StakingWei, aliceWei, bobWei)
	}
	docShows(t, at70Want, aliceWei, bobWei, aliceEpoch7)
	m.claim(f, alice)
	m.claim(f, bob)
}

// TestLongTermPoolDropsAt90Days: a 90-day position (default lock epochs)
// leaves the long-term pool at its unlock epoch 90 and weighs 1× in the
// staking pool from then on; a 180-day one stays (until 180). alice
// unstakes everything in epoch 90, which her lock now allows.
func TestLongTermPoolDropsAt90Days(t *testing.T) {
	f := newFixture(t, lockPools)
	m := newModel(f, alice, bob)
	f.block(1, nil, nil)
	f.stake(alice, staking.RoleCompute, rewards.Lock90Days, emc(100))
	m.set(alice, sp, 1, wt(100, 62_000))
	m.set(alice, sp, 90, wt(100, 10_000))
	m.set(alice, lt, 1, wt(100, 62_000))
	m.set(alice, lt, 90, new(big.Int))
	f.stake(bob, staking.RoleCompute, rewards.Lock180Days, emc(50))
	m.set(bob, sp, 1, wt(50, 100_000))
	m.set(bob, sp, 180, wt(50, 10_000))
	m.set(bob, lt, 1, wt(50, 100_000))
	m.set(bob, lt, 180, new(big.Int))
	m.check(f)
	m.blocks(f, 10, 890, 10)
	f.block(895, nil, nil) // epoch 89
	_, err, _, _ := f.send(stakingAddr, f.stABI, alice, nil, "unstake", emc(100).ToBig())
	if !errors.Is(err, vm.ErrExecutionReverted) {
		t.Fatalf("unstake in epoch 89 (locked until 90): %v", err)
	}
	m.blocks(f, 896, 900, 1) // epoch 89 distributed
	if got, want := rewards.TotalWeight(f.State, lt), new(big.Int).Add(wt(100, 62_000), wt(50, 100_000)); got.ToBig().Cmp(want) != 0 {
		t.Fatalf("long-term weight in epoch 89: %s, want %s", got, want)
	}
	ltAlice := rewards.RewardsOf(f.State, alice).LongTermWei
	m.blocks(f, 901, 905, 1)
	f.must(stakingAddr, f.stABI, alice, nil, "unstake", emc(100).ToBig()) // epoch 90: allowed
	m.set(alice, sp, 91, new(big.Int))                                    // counts through epoch 90
	m.check(f)
	m.blocks(f, 906, 910, 1) // epoch 90 distributed
	if got := rewards.TotalWeight(f.State, lt); got.ToBig().Cmp(wt(50, 100_000)) != 0 {
		t.Fatalf("long-term weight in epoch 90: %s, want bob's alone", got)
	}
	if got := rewards.TotalWeight(f.State, sp); got.ToBig().Cmp(new(big.Int).Add(wt(100, 10_000), wt(50, 100_000))) != 0 {
		t.Fatalf("staking weight in epoch 90: %s", got)
	}
	if got := rewards.RewardsOf(f.State, alice).LongTermWei; !got.Eq(ltAlice) || got.IsZero() {
		t.Fatalf("alice's long-term reward %s after expiry, want it frozen at %s", got, ltAlice)
	}
	m.blocks(f, 920, 1000, 10)
	m.claim(f, alice)
	m.claim(f, bob)
	m.blocks(f, 1010, 1900, 30) // bob's 180-day lock ends at epoch 180
	if got := rewards.TotalWeight(f.State, lt); !got.IsZero() {
		t.Fatalf("long-term weight after every lock ended: %s", got)
	}
	m.claim(f, bob)
}

// TestRelockMovesTheDrop: re-staking under a lock that ends later moves
// the scheduled drop (the old delta is taken back exactly), a top-up
// without a new lock re-schedules it for the new amount, a stake after
// expiry starts a new schedule, and a longer lock joins the long-term
// pool until its own end.
func TestRelockMovesTheDrop(t *testing.T) {
	f := newFixture(t, lockPools)
	m := newModel(f, alice, bob)
	f.block(1, nil, nil)
	f.stake(bob, staking.RoleCompute, rewards.LockNone, emc(100))
	m.set(bob, sp, 1, wt(100, 10_000))
	f.stake(alice, staking.RoleCompute, rewards.Lock7Days, emc(100)) // unlock 7
	m.set(alice, sp, 1, wt(100, 14_000))
	m.set(alice, sp, 7, wt(100, 10_000))
	m.check(f)
	m.blocks(f, 2, 35, 1)

	// Epoch 3: 10 EMC more for 7 days: unlock 10, the drop moves to 10.
	f.stake(alice, staking.RoleCompute, rewards.Lock7Days, emc(10))
	m.set(alice, sp, 4, wt(110, 14_000))
	m.set(alice, sp, 10, wt(110, 10_000))
	m.check(f)
	if a, s := rewards.WeightDelta(f.State, sp, 7); !a.IsZero() || !s.IsZero() {
		t.Fatalf("epoch 7's delta %s/%s, want the old drop taken back", a, s)
	}
	if _, s := rewards.WeightDelta(f.State, sp, 10); s.ToBig().Cmp(wt(110, 4_000)) != 0 {
		t.Fatalf("epoch 10's drop %s", s)
	}
	m.blocks(f, 36, 45, 1)
	m.claim(f, alice) // settles mid-lock
	m.blocks(f, 46, 55, 1)
	_, err, _, _ := f.send(stakingAddr, f.stABI, alice, nil, "unstake", emc(1).ToBig())
	if !errors.Is(err, vm.ErrExecutionReverted) {
		t.Fatalf("unstake while locked: %v", err)
	}
	m.blocks(f, 56, 65, 1)

	// Epoch 6: 1 EMC without a lock keeps the 7-day lock to 10 and
	// re-schedules its drop for 111 EMC.
	f.stake(alice, staking.RoleCompute, rewards.LockNone, emc(1))
	if p := staking.PositionOf(f.State, alice); p.Lock != rewards.Lock7Days || p.UnlockEpoch != 10 {
		t.Fatalf("alice's lock %d until %d", p.Lock, p.UnlockEpoch)
	}
	m.set(alice, sp, 7, wt(111, 14_000))
	m.set(alice, sp, 10, wt(111, 10_000))
	m.check(f)
	if _, s := rewards.WeightDelta(f.State, sp, 10); s.ToBig().Cmp(wt(111, 4_000)) != 0 {
		t.Fatalf("epoch 10's drop %s, want 111 EMC's", s)
	}
	m.blocks(f, 66, 125, 1)

	// Epoch 12, lock ended: unstake 11 EMC, the rest weighs 1×.
	f.must(stakingAddr, f.stABI, alice, nil, "unstake", emc(11).ToBig())
	m.set(alice, sp, 13, wt(100, 10_000))
	m.check(f)
	m.blocks(f, 126, 135, 1)

	// Epoch 13: 10 EMC for 30 days: 2.7× from 14 to 42, 1× from 43.
	f.stake(alice, staking.RoleCompute, rewards.Lock30Days, emc(10))
	m.set(alice, sp, 14, wt(110, 27_000))
	m.set(alice, sp, 43, wt(110, 10_000))
	m.check(f)
	m.blocks(f, 136, 155, 1)

	// Epoch 15: 1 EMC for 90 days (unlock 105, later than 43): 6.2× in
	// both pools from 16, the drop at 43 taken back.
	f.stake(alice, staking.RoleCompute, rewards.Lock90Days, emc(1))
	m.set(alice, sp, 16, wt(111, 62_000))
	m.set(alice, sp, 105, wt(111, 10_000))
	m.set(alice, lt, 16, wt(111, 62_000))
	m.set(alice, lt, 105, new(big.Int))
	m.check(f)
	if a, s := rewards.WeightDelta(f.State, sp, 43); !a.IsZero() || !s.IsZero() {
		t.Fatalf("epoch 43's delta %s/%s, want the 30-day drop taken back", a, s)
	}
	m.blocks(f, 156, 1120, 10)
	m.claim(f, alice)
	m.claim(f, bob)
	f.mustRevert(rewards.ErrNothingToClaim, alice, "claim")
}

// TestSlashReschedulesTheDrop: a slash (half the stake) before the lock
// ends re-schedules the drop for what is left; the jailed position keeps
// earning on it, 1× after its unlock epoch.
func TestSlashReschedulesTheDrop(t *testing.T) {
	f := newFixtureWith(t, `{"minValidatorStakeWei":"1","minRouterStakeWei":"1","slashFractionBps":5000}`, lockPools)
	m := newModel(f, v1, bob)
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("lockexpiry-slash")))
	if err != nil {
		t.Fatal(err)
	}
	signer := crypto.PubkeyToAddress(key.PublicKey)
	f.block(1, nil, nil)
	f.stake(v1, staking.RoleValidator, rewards.Lock30Days, emc(100)) // unlock 30
	consent, err := staking.SignSignerConsent(key, f.Config.ChainID, v1, staking.SignerNonce(f.State, signer))
	if err != nil {
		t.Fatal(err)
	}
	f.must(stakingAddr, f.stABI, v1, nil, "setSigner", signer, consent)
	m.set(v1, sp, 1, wt(100, 27_000))
	m.set(v1, sp, 30, wt(100, 10_000))
	f.stake(bob, staking.RoleCompute, rewards.LockNone, emc(100))
	m.set(bob, sp, 1, wt(100, 10_000))
	m.check(f)
	m.blocks(f, 2, 55, 1)
	a, b := signedMsg(t, key, 40, 1), signedMsg(t, key, 40, 2)
	f.must(stakingAddr, f.stABI, carol, nil, "reportDoubleSign", a, b)
	if p := staking.PositionOf(f.State, v1); !p.Jailed || !p.AmountWei.Eq(emc(50)) || p.UnlockEpoch != 30 {
		t.Fatalf("v1 after the slash: %+v", p)
	}
	m.set(v1, sp, 6, wt(50, 27_000))
	m.set(v1, sp, 30, wt(50, 10_000))
	m.check(f)
	if _, s := rewards.WeightDelta(f.State, sp, 30); s.ToBig().Cmp(wt(50, 17_000)) != 0 {
		t.Fatalf("epoch 30's drop %s, want 50 EMC's", s)
	}
	m.blocks(f, 56, 400, 5)
	m.claim(f, v1)
	m.claim(f, bob)
}

// signedMsg is a prepare at height signed with k, over digest d.
func signedMsg(t *testing.T, k *ecdsa.PrivateKey, height uint64, d byte) []byte {
	t.Helper()
	s := ibft.Signed{Code: ibft.MsgPrepare, Height: height, Digest: common.Hash{d}}
	dg := s.SigningDigest()
	sig, err := ibft.NewKeySigner(k).Sign(dg[:])
	if err != nil {
		t.Fatal(err)
	}
	s.Signature = sig
	b, err := staking.EncodeSigned(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGenesisLockEnds: genesis positions carry the staking module's
// genesis unlock epoch (a lock of L epochs unlocks at epoch L, as the node
// passes it): bob's 7-day genesis lock weighs 1.4× in epochs 0–6 and 1×
// from 7; a genesis lock that unlocks at 0 weighs 1× from the start.
func TestGenesisLockEnds(t *testing.T) {
	sjson := `{"minValidatorStakeWei":"1","minRouterStakeWei":"1","genesisStakes":[` +
		`{"owner":"` + alice.Hex() + `","amountWei":"` + emc(1000).Dec() + `","lock":0},` +
		`{"owner":"` + bob.Hex() + `","amountWei":"` + emc(2000).Dec() + `","lock":1}]}`
	params, err := staking.ParseParams(json.RawMessage(sjson), testL)
	if err != nil {
		t.Fatal(err)
	}
	var gen []rewards.GenesisPosition
	for _, g := range params.GenesisStakes {
		gen = append(gen, rewards.GenesisPosition{Owner: g.Owner, StakeWei: g.AmountWei, Lock: g.Lock, UnlockEpoch: params.GenesisUnlockEpoch(g)})
	}
	// carol is in the rewards module's genesis only, with a lock that has
	// already ended.
	gen = append(gen, rewards.GenesisPosition{Owner: carol, StakeWei: emc(10), Lock: rewards.Lock90Days})
	f := newFixtureWith(t, sjson, lockPools, gen...)
	if p := staking.PositionOf(f.State, bob); p.UnlockEpoch != 7 || gen[1].UnlockEpoch != 7 {
		t.Fatalf("bob's genesis unlock epoch: staking %d, rewards %d, want 7", p.UnlockEpoch, gen[1].UnlockEpoch)
	}
	m := newModel(f, alice, bob, carol)
	m.set(alice, sp, 0, wt(1000, 10_000))
	m.set(bob, sp, 0, wt(2000, 14_000))
	m.set(bob, sp, 7, wt(2000, 10_000))
	m.set(carol, sp, 0, wt(10, 10_000))
	m.check(f)
	m.blocks(f, 1, 100, 1)
	m.claim(f, bob)
	m.claim(f, alice)
	m.claim(f, carol)

	for _, bad := range [][]rewards.GenesisPosition{
		{{Owner: alice}},
		{{Owner: alice, StakeWei: emc(1)}, {Owner: alice, StakeWei: emc(2)}},
		{{Owner: alice, StakeWei: emc(1), Lock: rewards.NumLocks}},
	} {
		if _, err := rewards.Factory(testL, staking.RewardsView{}, bad...)(nil); err == nil {
			t.Errorf("genesis positions %v accepted", bad)
		}
	}
}
