package apps_test

import (
	"crypto/ecdsa"
	"flag"
	"math/rand"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/state/native"
)

var seedFlag = flag.Int64("apps.seed", 0, "run TestRandomWalk with this seed only")

// TestRandomWalk is a seeded random walk over the module: publications,
// deployments in EMC and Credits, placements, readies, stops, reaps (with
// restarts elsewhere when the owner set them) and settlements by the
// right and the wrong accounts, with receipts that are
// fresh, replayed, signed by the wrong keys or over the usage cap, node
// pings and silent stretches. The fixture checks after every call and
// every block that the module's balance equals EscrowTotal and the open
// EMC escrows, that the Credits it holds equal the open Credits escrows,
// and that the supply is exact to the wei. At the end blocks run until
// every instance is closed (nothing stays escrowed), the module holds no
// wei and no Credits, the rent burned grew by exactly the instances'
// burns, and a second run of the seed reaches the same state root.
func TestRandomWalk(t *testing.T) {
	seeds := []int64{1, 2, 3}
	if *seedFlag != 0 {
		seeds = []int64{*seedFlag}
	}
	steps := 400
	if testing.Short() {
		steps = 150
	}
	for _, seed := range seeds {
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("SEED=%d", seed)
				}
			}()
			root := randomWalk(t, seed, steps)
			if again := randomWalk(t, seed, steps); again != root {
				t.Fatalf("seed %d replayed to root %s, first run %s", seed, again, root)
			}
		})
	}
}

func randomWalk(t *testing.T, seed int64, steps int) common.Hash {
	rng := rand.New(rand.NewSource(seed))
	f := newFixture(t)
	price := f.credits.CreditPriceWei()
	f.mustCall(creditsAddr, f.crdABI, userA, new(uint256.Int).Mul(uint256.NewInt(200), price), "buyCredits", userA)
	f.check()
	burnedBefore := native.Burned(f.State, native.BurnRent).Clone()
	appIDs := []uint64{f.publish(1_000)}
	meters := map[uint64]*meter{}
	var sent [][]byte // every receipt made, for replays
	keys := []*ecdsa.PrivateKey{n1Key, n2Key, r1Key, r2Key, strangerKey}
	pickKey := func() *ecdsa.PrivateKey { return keys[rng.Intn(len(keys))] }
	pick := func(xs ...common.Address) common.Address { return xs[rng.Intn(len(xs))] }
	randInst := func() uint64 { return uint64(rng.Intn(int(apps.InstanceCount(f.State)) + 2)) }
	for i := 0; i < steps; i++ {
		switch rng.Intn(13) {
		case 0:
			r := f.send(devA, nil, "publishApp", [32]byte(imageA), uint16(80), "/h", "app", "", "",
				big64(uint64(rng.Intn(3))*perCall), big64(uint64(rng.Intn(2))*perGPUSecond), uint16(rng.Intn(12_000)))
			if r.err == nil {
				appIDs = append(appIDs, f.unpackID("publishApp", r))
			}
		case 1:
			app := appIDs[rng.Intn(len(appIDs))]
			if rng.Intn(2) == 0 {
				f.send(pick(userA, stranger), uint256.NewInt(uint64(rng.Intn(4))*50_000_000), "deploy", big64(app), uint32(rng.Intn(3)), uint64(1+rng.Intn(2)), apiKeyHash)
			} else {
				f.send(pick(userA, stranger), nil, "deployCredits", big64(app), uint32(rng.Intn(3)), uint64(1+rng.Intn(2)), apiKeyHash, big64(uint64(rng.Intn(30))))
			}
			if rng.Intn(2) == 0 { // often restart-enabled at once
				f.send(userA, nil, "setRestart", big64(apps.InstanceCount(f.State)), true)
			}
			if rng.Intn(2) == 0 { // the newest instance often gets a router and a node at once
				n := pick(n1, n2)
				if r := f.send(pick(r1, r2), nil, "place", big64(apps.InstanceCount(f.State)), n); r.err == nil && rng.Intn(3) > 0 {
					f.send(n, nil, "ready", big64(apps.InstanceCount(f.State)))
				}
			}
		case 2:
			if r := f.send(pick(r1, r2, r1, r2, stranger), nil, "place", big64(randInst()), pick(n1, n2, n1, n2, stranger)); r.err != nil && testing.Verbose() {
				t.Logf("place: %s", r.reason())
			}
		case 3:
			id := randInst()
			who := pick(n1, n2, stranger)
			if in, ok, _ := apps.InstanceOf(f.State, id); ok && rng.Intn(4) > 0 && in.Node != (common.Address{}) {
				who = in.Node
			}
			f.send(who, nil, "ready", big64(id))
		case 4:
			f.send(pick(userA, stranger), nil, "stop", big64(randInst()))
		case 5:
			id := randInst()
			for j := uint64(1); j <= apps.InstanceCount(f.State) && rng.Intn(2) == 0; j++ {
				if f.inst(j).State == apps.StateRunning { // aim at a running one now and then
					id = j
					break
				}
			}
			f.send(stranger, nil, "reap", big64(id))
		case 6, 7, 8:
			var live []uint64 // instances with a node, most of them running
			for id := uint64(1); id <= apps.InstanceCount(f.State); id++ {
				if in := f.inst(id); in.Node != (common.Address{}) && (in.State != apps.StateClosed || rng.Intn(8) == 0) {
					live = append(live, id)
				}
			}
			if len(live) == 0 {
				continue
			}
			id := live[rng.Intn(len(live))]
			in := f.inst(id)
			mt := meters[id]
			if mt == nil || mt.node != keyOf(in.Node) || mt.epoch != in.Restarts || rng.Intn(10) == 0 {
				// a new placement (or a restart: a new epoch) resumes from
				// what was settled; now and then a stale meter of the
				// dead placement goes on (its receipts must be refused)
				app, _, _ := apps.AppOf(f.State, in.App)
				if mt == nil || rng.Intn(4) > 0 {
					last, err := apps.SettledReceipt(f.chainID, &in, app.PricePerCallWei, app.PricePerGPUSecondWei)
					if err != nil {
						t.Fatal(err)
					}
					mt = &meter{m: apps.ResumeMeter(last, app.PricePerCallWei, app.PricePerGPUSecondWei), node: keyOf(in.Node), router: keyOf(in.Router), epoch: in.Restarts}
					meters[id] = mt
				}
			}
			rc := mt.calls(t, 1+rng.Intn(5), uint64(rng.Intn(3)*150))
			if rng.Intn(5) == 0 { // forged: other keys
				body, _ := apps.DecodeSignedReceipt(rc)
				rc = signBody(t, body.Receipt, pickKey(), pickKey())
			}
			sent = append(sent, rc)
			if r := f.send(pick(n1, n2, stranger), nil, "settle", big64(id), rc); r.err != nil && testing.Verbose() {
				t.Logf("settle %d (%s): %s", id, in.State, r.reason())
			}
		case 9:
			if len(sent) > 0 {
				f.send(pick(n1, n2), nil, "settle", big64(randInst()), sent[rng.Intn(len(sent))])
			}
		case 10:
			f.call(regAddr, f.regABI, pick(n1, n2), nil, "ping")
			f.check()
		case 12: // restart on or off, by the owner or a stranger
			f.send(pick(userA, userA, stranger), nil, "setRestart", big64(randInst()), rng.Intn(4) > 0)
		case 11:
			k := rng.Intn(20)
			if rng.Intn(4) == 0 { // a silence long enough for nodes to die
				k = 55
			}
			for ; k >= 0; k-- {
				f.next()
			}
		}
		if rng.Intn(3) == 0 {
			f.next()
		}
	}
	for limit := 0; ; limit++ {
		open := 0
		for id := uint64(1); id <= apps.InstanceCount(f.State); id++ {
			if f.inst(id).State != apps.StateClosed {
				open++
				if in := f.inst(id); in.State == apps.StateRunning && limit%50 == 0 {
					f.send(in.Owner, nil, "stop", big64(id)) // leases of hours: stop them
				}
			}
		}
		if open == 0 {
			break
		}
		if limit > 5_000 {
			t.Fatalf("%d instances still open", open)
		}
		f.next()
	}
	if !f.State.GetBalance(appsAddr).IsZero() || !apps.EscrowTotal(f.State).IsZero() || !apps.CreditsEscrowTotal(f.State).IsZero() {
		t.Fatalf("module keeps %s wei, totals %s / %s", f.State.GetBalance(appsAddr), apps.EscrowTotal(f.State), apps.CreditsEscrowTotal(f.State))
	}
	burns := new(uint256.Int)
	settled, restarts := 0, 0
	for id := uint64(1); id <= apps.InstanceCount(f.State); id++ {
		in := f.inst(id)
		restarts += int(in.Restarts)
		burns.Add(burns, in.BurnedWei)
		if !in.ChargedWei.IsZero() {
			settled++
		}
	}
	if got := new(uint256.Int).Sub(native.Burned(f.State, native.BurnRent), burnedBefore); !got.Eq(burns) {
		t.Fatalf("rent burned %s, instances' burns %s", got, burns)
	}
	if need := max(1, steps/130); settled < need {
		t.Fatalf("seed %d: only %d instances settled usage; the walk tests little", seed, settled)
	}
	t.Logf("seed %d: %d apps, %d instances, %d with usage settled, %d restarts", seed, len(appIDs), apps.InstanceCount(f.State), settled, restarts)
	return f.Root()
}

func keyOf(a common.Address) *ecdsa.PrivateKey {
	for _, k := range []*ecdsa.PrivateKey{n1Key, n2Key, r1Key, r2Key, strangerKey, dev, user} {
		if addr(k) == a {
			return k
		}
	}
	return strangerKey
}
