package apps_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// TestLifecycleEMC: publish, deploy with EMC, place, ready, two
// settlements, stop, a last settlement in the window, close and refund;
// every wei accounted for.
func TestLifecycleEMC(t *testing.T) {
	f := newFixture(t)
	app := f.publish(1_500)
	escrow := emc(1)
	userBefore := f.State.GetBalance(userA).Clone()
	var fees uint64
	r := f.mustSend(userA, escrow, "deploy", big64(app), uint32(1), uint64(2), apiKeyHash)
	fees += r.gasUsed
	id := f.unpackID("deploy", r)
	if in := f.inst(id); in.State != apps.StateDeployed || in.Owner != userA || in.APIKeyHash != apiKeyHash {
		t.Fatalf("deployed %+v", in)
	}
	if ids := f.view("deployedInstances", big.NewInt(0), big.NewInt(10))[0].([]*big.Int); len(ids) != 1 || ids[0].Uint64() != id {
		t.Fatalf("deployedInstances %v", ids)
	}
	f.next()
	f.mustSend(r1, nil, "place", big64(id), n1)
	if ids := f.view("deployedInstances", big.NewInt(0), big.NewInt(10))[0].([]*big.Int); len(ids) != 0 {
		t.Fatalf("deployedInstances after place %v", ids)
	}
	f.next()
	f.mustSend(n1, nil, "ready", big64(id))
	in := f.inst(id)
	if in.State != apps.StateRunning || in.EndTime != in.ReadyTime+2*3600 || in.Router != r1 || in.Node != n1 {
		t.Fatalf("running %+v", in)
	}
	f.to(f.Number + 30) // 60 s of lease

	mt := f.meter(id, n1Key, r1Key)
	devBefore, nodeBefore, burnedBefore := f.State.GetBalance(devA).Clone(), f.State.GetBalance(n1).Clone(), native.Burned(f.State, native.BurnRent).Clone()
	rc := mt.calls(t, 10, 450)
	f.mustSend(stranger, nil, "settle", big64(id), rc) // anyone may carry the receipt
	want, _ := apps.Charge(uint256.NewInt(perCall), uint256.NewInt(perGPUSecond), 10, 4_500)
	roy, node, burn := apps.SplitCharge(want, 1_500)
	if got := new(uint256.Int).Sub(f.State.GetBalance(devA), devBefore); !got.Eq(roy) {
		t.Fatalf("royalty %s, want %s", got, roy)
	}
	if got := new(uint256.Int).Sub(f.State.GetBalance(n1), nodeBefore); !got.Eq(node) {
		t.Fatalf("node %s, want %s", got, node)
	}
	if got := new(uint256.Int).Sub(native.Burned(f.State, native.BurnRent), burnedBefore); !got.Eq(burn) {
		t.Fatalf("burned %s, want %s", got, burn)
	}
	if in := f.inst(id); !in.ChargedWei.Eq(want) || in.Seq != 10 || in.Calls != 10 || in.CallsHash != mt.m.Last().CallsHash {
		t.Fatalf("after settle %+v", in)
	}
	f.next()
	rc2 := mt.calls(t, 5, 1_000)
	f.next()
	r = f.mustSend(userA, nil, "stop", big64(id))
	fees += r.gasUsed
	if in := f.inst(id); in.State != apps.StateEnding || in.EndReason != apps.EndStopped {
		t.Fatalf("stopped %+v", in)
	}
	f.mustSend(n1, nil, "settle", big64(id), rc2) // inside the final window
	fees += f.mustRevert(userA, nil, apps.ErrWrongState, "stop", big64(id)).gasUsed
	f.to(f.inst(id).Deadline + 1)
	in = f.inst(id)
	total, _ := apps.Charge(uint256.NewInt(perCall), uint256.NewInt(perGPUSecond), 15, 9_500)
	if in.State != apps.StateClosed || !in.ChargedWei.Eq(total) || !in.RefundWei.Eq(new(uint256.Int).Sub(escrow, total)) {
		t.Fatalf("closed %+v, total %s", in, total)
	}
	// the user paid the charge and the fees, nothing else
	spent := new(uint256.Int).Add(total, nativeFee(fees))
	if got := new(uint256.Int).Sub(userBefore, f.State.GetBalance(userA)); !got.Eq(spent) {
		t.Fatalf("user spent %s, want %s", got, spent)
	}
	if !f.State.GetBalance(appsAddr).IsZero() {
		t.Fatalf("module keeps %s", f.State.GetBalance(appsAddr))
	}
	f.mustRevert(n1, nil, apps.ErrWrongState, "settle", big64(id), mt.calls(t, 1, 0))
	// views
	out := f.view("getInstance", big64(id))
	if !out[0].(bool) || out[3].(uint8) != uint8(apps.StateClosed) || out[18].(*big.Int).Cmp(total.ToBig()) != 0 {
		t.Fatalf("getInstance %v", out)
	}
	if ids := f.view("instancesOf", userA, big.NewInt(0), big.NewInt(10))[0].([]*big.Int); len(ids) != 1 || ids[0].Uint64() != id {
		t.Fatalf("instancesOf %v", ids)
	}
	if ids := f.view("instancesOnNode", n1, big.NewInt(0), big.NewInt(10))[0].([]*big.Int); len(ids) != 1 || ids[0].Uint64() != id {
		t.Fatalf("instancesOnNode %v", ids)
	}
	ga := f.view("getApp", big64(app))
	if !ga[0].(bool) || ga[1].(common.Address) != devA || ga[5].(string) != "llama-8b" || ga[10].(uint16) != 1_500 {
		t.Fatalf("getApp %v", ga)
	}
	if f.view("getApp", big64(99))[0].(bool) || f.view("getInstance", big64(99))[0].(bool) {
		t.Fatal("missing ids found")
	}
}

func nativeFee(gas uint64) *uint256.Int { return nativetest.Fee(gas) }

// TestLeaseEndsOnTime: the lease ends at its block time by the hook; the
// window closes and refunds; usage is capped by the lease's GPU time.
func TestLeaseEndsOnTime(t *testing.T) {
	f := newFixture(t)
	app := f.publish(0)
	id := f.deploy(app, 2, 1, emc(2))
	f.mustSend(r1, nil, "place", big64(id), n1)
	f.mustSend(n1, nil, "ready", big64(id))
	ready := f.inst(id).ReadyTime
	f.next()
	mt := f.meter(id, n1Key, r1Key)
	// 2 GPUs × (2 s elapsed + the second of the block's time) = 6,000
	// GPU-ms at most
	if f.Time != ready+2 {
		t.Fatalf("block time %d, ready at %d", f.Time, ready)
	}
	f.mustRevert(n1, nil, apps.ErrUsage, "settle", big64(id), mt.calls(t, 1, 6_001))
	mt = f.meter(id, n1Key, r1Key)
	f.mustSend(n1, nil, "settle", big64(id), mt.calls(t, 1, 6_000))
	for f.inst(id).State == apps.StateRunning {
		f.next()
	}
	in := f.inst(id)
	if in.State != apps.StateEnding || in.EndReason != apps.EndLease || in.EndTime != ready+3600 || f.Time < in.EndTime {
		t.Fatalf("lease end %+v at time %d", in, f.Time)
	}
	// a fresh meter (its sequence 2 follows the settled 1): the whole
	// lease's GPU time is allowed now, and not a millisecond more
	mt = f.meter(id, n1Key, r1Key)
	f.mustSend(n1, nil, "settle", big64(id), mt.calls(t, 2, 3600*1000))
	f.mustRevert(n1, nil, apps.ErrUsage, "settle", big64(id), mt.calls(t, 1, 1))
	f.to(in.Deadline + 1)
	if in := f.inst(id); in.State != apps.StateClosed || in.EndReason != apps.EndLease {
		t.Fatalf("closed %+v", in)
	}
}

// TestNodeDeadReaped: a node that stops pinging is reaped by anyone; the
// lease ends and the rest is refunded.
func TestNodeDeadReaped(t *testing.T) {
	f := newFixture(t)
	app := f.publish(100)
	id := f.running(app, emc(1))
	f.mustRevert(stranger, nil, apps.ErrNodeAlive, "reap", big64(id))
	f.mustCall(regAddr, f.regABI, n1, nil, "ping")
	seen := f.Number
	f.to(seen + 50)
	f.mustRevert(stranger, nil, apps.ErrNodeAlive, "reap", big64(id))
	f.next()
	f.mustSend(stranger, nil, "reap", big64(id))
	in := f.inst(id)
	if in.State != apps.StateEnding || in.EndReason != apps.EndNodeDead {
		t.Fatalf("reaped %+v", in)
	}
	before := f.State.GetBalance(userA).Clone()
	f.to(in.Deadline + 1)
	if got := new(uint256.Int).Sub(f.State.GetBalance(userA), before); !got.Eq(emc(1)) {
		t.Fatalf("refund %s", got)
	}
}

// TestPlacementDeadlines: an unplaced instance expires refunded; a node
// that misses ready sends the instance back, and after MaxAttempts it
// closes.
func TestPlacementDeadlines(t *testing.T) {
	f := newFixture(t)
	app := f.publish(0)
	id := f.deploy(app, 1, 1, emc(1))
	f.to(f.inst(id).Deadline + 1)
	if in := f.inst(id); in.State != apps.StateClosed || in.EndReason != apps.EndExpired || !in.RefundWei.Eq(emc(1)) {
		t.Fatalf("expired %+v", in)
	}
	id = f.deploy(app, 1, 1, emc(1))
	for attempt := 1; attempt <= apps.MaxAttempts; attempt++ {
		f.mustSend(r2, nil, "place", big64(id), n2)
		dl := f.inst(id).Deadline
		f.to(dl + 1)
		f.mustRevert(n2, nil, apps.ErrWrongState, "ready", big64(id))
		in := f.inst(id)
		if attempt < apps.MaxAttempts && (in.State != apps.StateDeployed || in.Node != (common.Address{})) {
			t.Fatalf("attempt %d: %+v", attempt, in)
		}
	}
	if in := f.inst(id); in.State != apps.StateClosed || in.EndReason != apps.EndExpired {
		t.Fatalf("after %d attempts %+v", apps.MaxAttempts, in)
	}
}

// TestAttacks: every move of a stranger, a greedy node, a replaying
// router or a careless caller reverts cleanly.
func TestAttacks(t *testing.T) {
	f := newFixture(t)
	app := f.publish(500)
	// publishing
	f.mustRevert(devA, nil, apps.ErrBadRoyalty, "publishApp", [32]byte(imageA), uint16(80), "/h", "x", "", "", big64(1), big64(0), uint16(10_001))
	f.mustRevert(devA, nil, apps.ErrBadApp, "publishApp", [32]byte{}, uint16(80), "/h", "x", "", "", big64(1), big64(0), uint16(0))
	f.mustRevert(devA, nil, apps.ErrBadApp, "publishApp", [32]byte(imageA), uint16(0), "/h", "x", "", "", big64(1), big64(0), uint16(0))
	f.mustRevert(devA, nil, apps.ErrBadApp, "publishApp", [32]byte(imageA), uint16(80), "h", "x", "", "", big64(1), big64(0), uint16(0))
	f.mustRevert(devA, nil, apps.ErrBadApp, "publishApp", [32]byte(imageA), uint16(80), "/h", "x\x00", "", "", big64(1), big64(0), uint16(0))
	f.mustRevert(devA, nil, apps.ErrBadApp, "publishApp", [32]byte(imageA), uint16(80), "/h", "x", "", "", big64(0), big64(0), uint16(0))
	f.mustRevert(devA, emc(1), native.ErrNotPayable, "publishApp", [32]byte(imageA), uint16(80), "/h", "x", "", "", big64(1), big64(0), uint16(0))
	// deploying
	f.mustRevert(userA, emc(1), apps.ErrNoApp, "deploy", big64(99), uint32(1), uint64(1), apiKeyHash)
	f.mustRevert(userA, nil, apps.ErrNoEscrow, "deploy", big64(app), uint32(1), uint64(1), apiKeyHash)
	f.mustRevert(userA, emc(1), apps.ErrBadLease, "deploy", big64(app), uint32(1), uint64(0), apiKeyHash)
	f.mustRevert(userA, emc(1), apps.ErrBadLease, "deploy", big64(app), uint32(1), uint64(1)<<63, apiKeyHash)
	f.mustRevert(userA, emc(1), apps.ErrBadLease, "deploy", big64(app), uint32(1), uint64(1), [32]byte{})
	f.mustRevert(userA, nil, apps.ErrNoEscrow, "deployCredits", big64(app), uint32(1), uint64(1), apiKeyHash, big64(0))
	id := f.deploy(app, 1, 1, emc(1))
	// placing
	f.mustRevert(stranger, nil, apps.ErrNotRouter, "place", big64(id), n1)
	f.mustRevert(r1, nil, apps.ErrNodeUnfit, "place", big64(id), stranger)
	f.mustRevert(r1, nil, apps.ErrSelfDealing, "place", big64(id), userA)
	f.mustRevert(n1, nil, apps.ErrWrongState, "ready", big64(id))
	big2 := f.deploy(app, 2, 1, emc(1))
	f.mustRevert(r1, nil, apps.ErrNodeUnfit, "place", big64(big2), n2) // n2 has 1 GPU
	own := f.unpackID("deploy", f.mustSend(n1, emc(1), "deploy", big64(app), uint32(1), uint64(1), apiKeyHash))
	f.mustRevert(r1, nil, apps.ErrSelfDealing, "place", big64(own), n1) // the node's owner deployed it
	f.mustSend(r1, nil, "place", big64(id), n1)
	f.mustRevert(r2, nil, apps.ErrWrongState, "place", big64(id), n2)
	f.mustRevert(n2, nil, apps.ErrNotNode, "ready", big64(id))
	f.mustRevert(stranger, nil, apps.ErrNotOwner, "stop", big64(id))
	f.mustSend(n1, nil, "ready", big64(id))
	f.mustRevert(n1, nil, apps.ErrWrongState, "ready", big64(id))
	f.mustRevert(stranger, nil, apps.ErrNotOwner, "stop", big64(id))
	f.to(f.Number + 20)

	mt := f.meter(id, n1Key, r1Key)
	old := mt.calls(t, 3, 10)
	newer := mt.calls(t, 2, 10)
	f.mustSend(n1, nil, "settle", big64(id), newer)
	f.mustRevert(n1, nil, apps.ErrStaleReceipt, "settle", big64(id), newer) // replay
	f.mustRevert(n1, nil, apps.ErrStaleReceipt, "settle", big64(id), old)   // older
	// another instance's receipt, another chain's, one not co-signed by
	// the instance's router, roles swapped, a charge that is not the price
	other := f.meter(big2, n1Key, r1Key).calls(t, 9, 10)
	f.mustRevert(n1, nil, apps.ErrBadReceipt, "settle", big64(id), other)
	wrongChain := &meter{m: apps.NewMeter(f.chainID+1, id, uint256.NewInt(perCall), uint256.NewInt(perGPUSecond)), node: n1Key, router: r1Key}
	f.mustRevert(n1, nil, apps.ErrBadReceipt, "settle", big64(id), wrongChain.calls(t, 9, 10))
	last := mt.m.Last()
	last.Seq, last.Calls = last.Seq+100, last.Calls+100
	c, _ := apps.Charge(uint256.NewInt(perCall), uint256.NewInt(perGPUSecond), last.Calls, last.GPUMillis)
	last.ChargeWei = *c
	f.mustRevert(n1, nil, apps.ErrBadReceipt, "settle", big64(id), signBody(t, last, n1Key, n1Key))       // node alone
	f.mustRevert(n1, nil, apps.ErrBadReceipt, "settle", big64(id), signBody(t, last, n1Key, r2Key))       // another router
	f.mustRevert(n1, nil, apps.ErrBadReceipt, "settle", big64(id), signBody(t, last, r1Key, n1Key))       // roles swapped
	f.mustRevert(n1, nil, apps.ErrBadReceipt, "settle", big64(id), signBody(t, last, strangerKey, r1Key)) // not the node
	cheat := last
	cheat.ChargeWei.AddUint64(&cheat.ChargeWei, 1)
	f.mustRevert(n1, nil, apps.ErrBadReceipt, "settle", big64(id), signBody(t, cheat, n1Key, r1Key))
	tampered := signBody(t, last, n1Key, r1Key)
	tampered[30] ^= 1 // calls changed after signing
	f.mustRevert(n1, nil, apps.ErrBadReceipt, "settle", big64(id), tampered)
	f.mustRevert(n1, nil, apps.ErrBadReceipt, "settle", big64(id), []byte{1, 2, 3})
	f.mustRevert(n1, nil, apps.ErrNoInstance, "settle", big64(77), newer)
	f.mustSend(n1, nil, "settle", big64(id), signBody(t, last, n1Key, r1Key))
	// a receipt with counters going down, even with a higher sequence
	down := last
	down.Seq++
	down.Calls--
	c, _ = apps.Charge(uint256.NewInt(perCall), uint256.NewInt(perGPUSecond), down.Calls, down.GPUMillis)
	down.ChargeWei = *c
	f.mustRevert(n1, nil, apps.ErrStaleReceipt, "settle", big64(id), signBody(t, down, n1Key, r1Key))
}

// TestEscrowCapAndOverflow: a charge above the escrow pays the escrow and
// nothing more; prices whose charge overflows 256 bits make every receipt
// invalid, never a wrap.
func TestEscrowCapAndOverflow(t *testing.T) {
	f := newFixture(t)
	app := f.publish(2_000)
	id := f.running(app, uint256.NewInt(5_000_000)) // 5 calls' worth
	f.to(f.Number + 5)
	mt := f.meter(id, n1Key, r1Key)
	f.mustSend(n1, nil, "settle", big64(id), mt.calls(t, 3, 0))
	f.mustSend(n1, nil, "settle", big64(id), mt.calls(t, 10, 0))
	if in := f.inst(id); !in.ChargedWei.Eq(uint256.NewInt(5_000_000)) {
		t.Fatalf("charged %s", in.ChargedWei)
	}
	before := f.State.GetBalance(n1).Clone()
	r := f.mustSend(n1, nil, "settle", big64(id), mt.calls(t, 10, 0))
	if got := new(uint256.Int).Sub(before, f.State.GetBalance(n1)); !got.Eq(nativeFee(r.gasUsed)) {
		t.Fatalf("node paid past the escrow: %s", got)
	}

	huge := new(uint256.Int).SetAllOne()
	hr := f.mustSend(devA, nil, "publishApp", [32]byte(imageA), uint16(80), "/h", "huge", "", "", huge.ToBig(), big64(0), uint16(0))
	happ := f.unpackID("publishApp", hr)
	hid := f.running(happ, emc(1))
	f.next()
	hm := &meter{m: apps.NewMeter(f.chainID, hid, huge, new(uint256.Int)), node: n1Key, router: r1Key}
	f.mustSend(n1, nil, "settle", big64(hid), hm.calls(t, 1, 0)) // one call: the whole escrow
	r0 := apps.Receipt{ChainID: f.chainID, Instance: hid, Seq: 2, Calls: 2}
	f.mustRevert(n1, nil, apps.ErrBadReceipt, "settle", big64(hid), signBody(t, r0, n1Key, r1Key))
}

// TestCreditsEscrow: an instance escrowed in Credits pays through the
// credits module: the node's part and the royalty's part are each spent
// (80 % to the payee, the rest burned), the rest of the Credits returned.
func TestCreditsEscrow(t *testing.T) {
	f := newFixture(t)
	app := f.publish(2_500)
	price := f.credits.CreditPriceWei()
	f.mustCall(creditsAddr, f.crdABI, userA, new(uint256.Int).Mul(uint256.NewInt(100), price), "buyCredits", userA)
	f.check()
	id := f.unpackID("deployCredits", f.mustSend(userA, nil, "deployCredits", big64(app), uint32(1), uint64(1), apiKeyHash, big64(40)))
	f.mustSend(r1, nil, "place", big64(id), n1)
	f.mustSend(n1, nil, "ready", big64(id))
	f.to(f.Number + 10)
	mt := f.meter(id, n1Key, r1Key)
	devBefore := f.State.GetBalance(devA).Clone()
	f.mustSend(n1, nil, "settle", big64(id), mt.calls(t, 3, 5_000))
	charge, _ := apps.Charge(uint256.NewInt(perCall), uint256.NewInt(perGPUSecond), 3, 5_000)
	due := apps.CreditsDue(charge, uint256.NewInt(40), price)
	in := f.inst(id)
	if !in.ChargedCredits.Eq(due) || due.IsZero() {
		t.Fatalf("spent %s Credits, due %s", in.ChargedCredits, due)
	}
	if got := new(uint256.Int).Sub(f.State.GetBalance(devA), devBefore); !got.Eq(in.RoyaltyWei) {
		t.Fatalf("royalty %s, recorded %s", got, in.RoyaltyWei)
	}
	f.mustSend(userA, nil, "stop", big64(id))
	f.to(f.inst(id).Deadline + 1)
	in = f.inst(id)
	if in.State != apps.StateClosed || !credits.CreditsOf(f.State, userA).Eq(new(uint256.Int).Sub(uint256.NewInt(100), due)) {
		t.Fatalf("closed %+v, user Credits %s", in, credits.CreditsOf(f.State, userA))
	}
}
