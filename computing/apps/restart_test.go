package apps_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/staking/credits"
)

// kill lets dead's liveness lapse while the nodes in alive keep pinging:
// afterwards reap of an instance on dead goes through.
func (f *fixture) kill(alive ...common.Address) {
	f.t.Helper()
	for _, a := range alive {
		f.mustCall(regAddr, f.regABI, a, nil, "ping")
	}
	f.to(f.Number + 51)
	for _, a := range alive {
		f.mustCall(regAddr, f.regABI, a, nil, "ping")
	}
}

func resumed(t *testing.T, f *fixture, id uint64, node, router common.Address) *meter {
	t.Helper()
	in := f.inst(id)
	last, err := apps.SettledReceipt(f.chainID, &in, uint256.NewInt(perCall), uint256.NewInt(perGPUSecond))
	if err != nil {
		t.Fatal(err)
	}
	return &meter{m: apps.ResumeMeter(last, uint256.NewInt(perCall), uint256.NewInt(perGPUSecond)), node: keyOf(node), router: keyOf(router),
		chainID: f.chainID, instance: id}
}

func charge(t *testing.T, calls, gpuMs uint64) *uint256.Int {
	t.Helper()
	c, err := apps.Charge(uint256.NewInt(perCall), uint256.NewInt(perGPUSecond), calls, gpuMs)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRestartElsewhere: a restart-enabled instance whose node dies goes
// back to the routers with its escrow, its settled usage and the rest of
// its lease; another router places it on another node, whose receipts go
// on from the settled counters in a new epoch; the dead node's unsettled
// receipt is worthless; the money is exact to the wei.
func TestRestartElsewhere(t *testing.T) {
	f := newFixture(t)
	app := f.publish(1_500)
	escrow := emc(1)
	userBefore := f.State.GetBalance(userA).Clone()
	var fees uint64
	r := f.mustSend(userA, escrow, "deploy", big64(app), uint32(1), uint64(2), apiKeyHash)
	fees += r.gasUsed
	id := f.unpackID("deploy", r)
	f.mustRevert(stranger, nil, apps.ErrNotRestartOwner, "setRestart", big64(id), true)
	fees += f.mustSend(userA, nil, "setRestart", big64(id), true).gasUsed
	if in := f.inst(id); !in.Restart || in.Restarts != 0 {
		t.Fatalf("setRestart: %+v", in)
	}
	f.mustSend(r1, nil, "place", big64(id), n1)
	f.mustSend(n1, nil, "ready", big64(id))
	first := f.inst(id)
	f.to(f.Number + 10)
	n1Before := f.State.GetBalance(n1).Clone()
	mt := f.meter(id, n1Key, r1Key)
	f.mustSend(r1, nil, "settle", big64(id), mt.calls(t, 4, 300))
	old := mt.calls(t, 2, 0) // served by n1, never settled: n1 dies
	f.mustRevert(stranger, nil, apps.ErrNodeAlive, "reap", big64(id))
	f.kill(n2)
	f.mustSend(stranger, nil, "reap", big64(id))
	in := f.inst(id)
	settled := charge(t, 4, 1_200)
	if in.State != apps.StateDeployed || in.Restarts != 1 || in.Node != (common.Address{}) || in.Router != (common.Address{}) ||
		in.EndTime != first.EndTime || in.ReadyTime != first.ReadyTime || !in.ChargedWei.Eq(settled) || in.Seq != 4 || in.EndReason != 0 {
		t.Fatalf("restarted %+v", in)
	}
	f.mustRevert(stranger, nil, apps.ErrWrongState, "settle", big64(id), old)
	f.mustSend(r2, nil, "place", big64(id), n2)
	f.mustSend(n2, nil, "ready", big64(id))
	if in = f.inst(id); in.State != apps.StateRunning || in.EndTime != first.EndTime || in.ReadyTime != first.ReadyTime {
		t.Fatalf("running again %+v (lease must not be extended: end %d)", in, first.EndTime)
	}
	f.mustRevert(stranger, nil, apps.ErrBadReceipt, "settle", big64(id), old) // the dead placement's signers
	mt2 := resumed(t, f, id, n2, r2)
	if last := mt2.m.Last(); last.Seq != apps.EpochSeq(1) || last.Calls != 4 || last.GPUMillis != 1_200 ||
		last.CallsHash != apps.EpochChainStart(f.chainID, id, 1) || !last.ChargeWei.Eq(settled) {
		t.Fatalf("the new placement's meter starts at %+v", last)
	}
	f.to(f.Number + 5)
	n2Before := f.State.GetBalance(n2).Clone()
	f.mustSend(r2, nil, "settle", big64(id), mt2.calls(t, 3, 300))
	total := charge(t, 7, 2_100)
	_, n1Share, _ := apps.SplitCharge(settled, 1_500)
	_, n2Share, _ := apps.SplitCharge(new(uint256.Int).Sub(total, settled), 1_500)
	if got := new(uint256.Int).Sub(f.State.GetBalance(n1), n1Before); !got.Eq(n1Share) {
		t.Fatalf("n1 earned %s, want %s", got, n1Share)
	}
	if got := new(uint256.Int).Sub(f.State.GetBalance(n2), n2Before); !got.Eq(n2Share) {
		t.Fatalf("n2 earned %s, want %s", got, n2Share)
	}
	fees += f.mustSend(userA, nil, "stop", big64(id)).gasUsed
	f.to(f.inst(id).Deadline + 1)
	in = f.inst(id)
	if in.State != apps.StateClosed || !in.ChargedWei.Eq(total) || !in.RefundWei.Eq(new(uint256.Int).Sub(escrow, total)) || in.Restarts != 1 {
		t.Fatalf("closed %+v, total %s", in, total)
	}
	if out := f.view("getRestart", big64(id)); !out[0].(bool) || !out[1].(bool) || out[2].(uint8) != 1 {
		t.Fatalf("getRestart %v", out)
	}
	if out := f.view("getRestart", big64(99)); out[0].(bool) || out[1].(bool) || out[2].(uint8) != 0 {
		t.Fatalf("getRestart of no instance %v", out)
	}
	spent := new(uint256.Int).Add(total, nativeFee(fees))
	if got := new(uint256.Int).Sub(userBefore, f.State.GetBalance(userA)); !got.Eq(spent) {
		t.Fatalf("user spent %s, want %s", got, spent)
	}
}

// TestRestartSameNodeOldReceipts: back on the very node and router it
// died on, the old placement's receipts (same signers, sequence above the
// settled one) are refused: they belong to another epoch.
func TestRestartSameNodeOldReceipts(t *testing.T) {
	f := newFixture(t)
	app := f.publish(0)
	id := f.running(app, emc(1))
	f.mustSend(userA, nil, "setRestart", big64(id), true) // while running
	mt := f.meter(id, n1Key, r1Key)
	f.mustSend(r1, nil, "settle", big64(id), mt.calls(t, 2, 0))
	old := mt.calls(t, 3, 0)
	f.kill(n2)
	f.mustSend(n2, nil, "reap", big64(id))
	f.mustCall(regAddr, f.regABI, n1, nil, "ping") // n1 is back
	f.mustSend(r1, nil, "place", big64(id), n1)
	f.mustSend(n1, nil, "ready", big64(id))
	f.mustRevert(r1, nil, apps.ErrStaleReceipt, "settle", big64(id), old)
	// a receipt numbered in the new epoch but counting from zero (a meter
	// that did not resume) is refused too: its counters went down
	fresh := f.meter(id, n1Key, r1Key)
	fresh.m = apps.ResumeMeter(apps.Receipt{ChainID: f.chainID, Instance: id, Seq: apps.EpochSeq(1), CallsHash: apps.EpochChainStart(f.chainID, id, 1)},
		uint256.NewInt(perCall), uint256.NewInt(perGPUSecond))
	f.mustRevert(r1, nil, apps.ErrStaleReceipt, "settle", big64(id), fresh.calls(t, 1, 0))
	f.mustSend(r1, nil, "settle", big64(id), resumed(t, f, id, n1, r1).calls(t, 1, 0))
	if in := f.inst(id); in.Calls != 3 || in.Seq != apps.EpochSeq(1)+1 || !in.ChargedWei.Eq(charge(t, 3, 0)) {
		t.Fatalf("after the new epoch's receipt %+v", in)
	}
}

// TestRestartBounded: restarts stop at MaxRestarts (then reap ends the
// lease); a cleared flag, an ended lease or a placed (not yet running)
// instance do not restart; setRestart needs the owner and an open lease.
func TestRestartBounded(t *testing.T) {
	f := newFixture(t)
	app := f.publish(0)
	id := f.running(app, emc(1))
	f.mustSend(userA, nil, "setRestart", big64(id), true)
	nodes := []common.Address{n1, n2}
	routers := []common.Address{r1, r2}
	max := f.mod.Params().MaxRestarts
	if max != apps.DefaultMaxRestarts {
		t.Fatalf("MaxRestarts %d", max)
	}
	for k := uint8(0); k < max; k++ {
		other := nodes[(k+1)%2]
		f.kill(other)
		f.mustSend(stranger, nil, "reap", big64(id))
		if in := f.inst(id); in.State != apps.StateDeployed || in.Restarts != k+1 || in.Attempts != 0 {
			t.Fatalf("restart %d: %+v", k+1, in)
		}
		f.mustSend(routers[k%2], nil, "place", big64(id), other)
		f.mustSend(other, nil, "ready", big64(id))
	}
	f.kill(nodes[(max+1)%2])
	f.mustSend(stranger, nil, "reap", big64(id))
	if in := f.inst(id); in.State != apps.StateEnding || in.EndReason != apps.EndNodeDead || in.Restarts != max {
		t.Fatalf("after %d restarts: %+v", max, in)
	}
	f.mustRevert(userA, nil, apps.ErrWrongState, "setRestart", big64(id), true)

	// cleared by the owner: the reap ends it
	id2 := f.running(app, emc(1))
	f.mustSend(userA, nil, "setRestart", big64(id2), true)
	f.mustSend(userA, nil, "setRestart", big64(id2), false)
	f.kill(n2)
	f.mustSend(stranger, nil, "reap", big64(id2))
	if in := f.inst(id2); in.State != apps.StateEnding || in.Restarts != 0 {
		t.Fatalf("cleared flag: %+v", in)
	}

	// placed, never ready: reap reopens it (an attempt), no restart
	id3 := f.deploy(app, 1, 1, emc(1))
	f.mustSend(userA, nil, "setRestart", big64(id3), true)
	f.mustCall(regAddr, f.regABI, n1, nil, "ping")
	f.mustSend(r1, nil, "place", big64(id3), n1)
	f.to(f.Number + 3)
	f.mustCall(regAddr, f.regABI, n1, nil, "ping")
	f.mustRevert(stranger, nil, apps.ErrNodeAlive, "reap", big64(id3))
	f.mustRevert(stranger, nil, apps.ErrNotRestartOwner, "setRestart", big64(id3), false)

	// the lease ran out before the reap: it ends, no restart
	id4 := f.deploy(app, 1, 1, emc(1))
	f.mustSend(userA, nil, "setRestart", big64(id4), true)
	f.mustCall(regAddr, f.regABI, n2, nil, "ping")
	f.mustSend(r2, nil, "place", big64(id4), n2)
	f.mustSend(n2, nil, "ready", big64(id4))
	end := f.inst(id4).EndTime
	for f.Time <= end+4 {
		f.next()
	}
	if in := f.inst(id4); in.State != apps.StateEnding || in.EndReason != apps.EndLease {
		t.Fatalf("lease end: %+v", in)
	}
	f.to(f.inst(id4).Deadline + 1)
	if in := f.inst(id4); in.State != apps.StateClosed || in.Restarts != 0 || !in.RefundWei.Eq(emc(1)) {
		t.Fatalf("closed: %+v", in)
	}
}

// TestRestartCredits: a Credits escrow survives the restart; the Credits
// due stay cumulative (rounded up once, on the whole charge), the dead
// node keeps what it was paid, and the user gets back exactly the Credits
// not spent.
func TestRestartCredits(t *testing.T) {
	f := newFixture(t)
	app := f.publish(2_500)
	price := f.credits.CreditPriceWei()
	f.mustCall(creditsAddr, f.crdABI, userA, new(uint256.Int).Mul(uint256.NewInt(100), price), "buyCredits", userA)
	id := f.unpackID("deployCredits", f.mustSend(userA, nil, "deployCredits", big64(app), uint32(1), uint64(1), apiKeyHash, big64(40)))
	f.mustSend(userA, nil, "setRestart", big64(id), true)
	f.mustSend(r1, nil, "place", big64(id), n1)
	f.mustSend(n1, nil, "ready", big64(id))
	f.to(f.Number + 10)
	f.mustSend(r1, nil, "settle", big64(id), f.meter(id, n1Key, r1Key).calls(t, 3, 5_000))
	first := f.inst(id)
	f.kill(n2)
	f.mustSend(stranger, nil, "reap", big64(id))
	f.mustSend(r2, nil, "place", big64(id), n2)
	f.mustSend(n2, nil, "ready", big64(id))
	f.to(f.Number + 5)
	f.mustSend(r2, nil, "settle", big64(id), resumed(t, f, id, n2, r2).calls(t, 2, 4_000))
	total := charge(t, 5, 23_000)
	due := apps.CreditsDue(total, uint256.NewInt(40), price)
	in := f.inst(id)
	if !in.ChargedCredits.Eq(due) || in.NodeWei.Lt(first.NodeWei) || in.Restarts != 1 {
		t.Fatalf("after the restart: %+v, due %s Credits", in, due)
	}
	f.mustSend(userA, nil, "stop", big64(id))
	f.to(f.inst(id).Deadline + 1)
	in = f.inst(id)
	if in.State != apps.StateClosed || !credits.CreditsOf(f.State, userA).Eq(new(uint256.Int).Sub(uint256.NewInt(100), due)) ||
		!new(uint256.Int).Add(in.ChargedCredits, in.RefundCredits).Eq(uint256.NewInt(40)) {
		t.Fatalf("closed %+v, user Credits %s, due %s", in, credits.CreditsOf(f.State, userA), due)
	}
}
