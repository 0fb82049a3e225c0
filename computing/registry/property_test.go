package registry_test

// Property test in the manner of txpool's checkInternals: a seeded random
// walk of registrations, updates and deregistrations by several owners
// over a few shared peer keys, checked after every step against a plain
// map model, with every index, list and peer claim cross-checked.

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/state/native"
)

func TestRandomWalk(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		rnd := rand.New(rand.NewSource(seed))
		f := newFixture(t, `{"allowSimulatedGPUs":true}`)
		empty := f.State.GetStorageRoot(regAddr)
		owners := []common.Address{alice, bob, carol}
		keys := []lcrypto.PrivKey{peerKey(t, 1, false), peerKey(t, 2, true), peerKey(t, 3, false), peerKey(t, 4, false)}
		model := map[common.Address][]byte{} // owner → peer ID
		var registered, refused int
		for step := 0; step < 60; step++ {
			o := owners[rnd.Intn(len(owners))]
			k := keys[rnd.Intn(len(keys))]
			f.Number++
			switch rnd.Intn(3) {
			case 0: // register
				id, sig := proof(t, k, o)
				i := goodInv()
				i.count = uint32(1 + rnd.Intn(8))
				i.simulated = rnd.Intn(2) == 0
				r := f.send(o, "registerNode", append([]any{id, sig}, i.args()...)...)
				_, has := model[o]
				taken := false
				for other, p := range model {
					if other != o && bytes.Equal(p, id) {
						taken = true
					}
				}
				if ok := r.err == nil; ok != (!has && !taken) {
					t.Fatalf("seed %d step %d: register by %s: %q, model has %t taken %t", seed, step, o, r.reason(), has, taken)
				}
				if r.err == nil {
					model[o] = id
					registered++
				} else {
					refused++
				}
			case 1: // update
				i := goodInv()
				i.images = i.images[:rnd.Intn(3)]
				r := f.send(o, "updateNode", i.args()...)
				if _, has := model[o]; (r.err == nil) != has {
					t.Fatalf("seed %d step %d: update by %s: %q, model has %t", seed, step, o, r.reason(), has)
				}
			case 2: // deregister
				r := f.send(o, "deregisterNode")
				if _, has := model[o]; (r.err == nil) != has {
					t.Fatalf("seed %d step %d: deregister by %s: %q, model has %t", seed, step, o, r.reason(), has)
				}
				delete(model, o)
			}
			checkInternals(t, f, model)
		}
		if registered < 3 || refused < 3 {
			t.Fatalf("seed %d: walk too tame: %d registrations, %d refusals", seed, registered, refused)
		}
		for o := range model {
			f.mustSend(o, "deregisterNode")
		}
		if f.State.GetStorageRoot(regAddr) != empty {
			t.Fatalf("seed %d: storage not empty after every node left", seed)
		}
	}
}

// checkInternals: the list, the index, the records and the peer claims
// agree with each other and with the model.
func checkInternals(t *testing.T, f *fixture, model map[common.Address][]byte) {
	t.Helper()
	owners, total := registry.NodeOwners(f.State, 0, registry.MaxPage)
	if total != uint64(len(model)) || len(owners) != len(model) {
		t.Fatalf("%d listed (total %d), model %d", len(owners), total, len(model))
	}
	for i, o := range owners {
		idx := native.LoadUint(f.State, regAddr, native.MapSlot(native.Slot(1), native.AddressKey(o)))
		if idx.Uint64() != uint64(i+1) {
			t.Fatalf("%s at %d has index %d", o, i, idx)
		}
		n, ok, err := registry.NodeOf(f.State, o)
		if err != nil || !ok || !bytes.Equal(n.PeerID, model[o]) {
			t.Fatalf("NodeOf(%s) = %x %v %v, model %x", o, n.PeerID, ok, err, model[o])
		}
		if got, ok := registry.NodeOwnerOf(f.State, n.PeerID); !ok || got != o {
			t.Fatalf("peer of %s claimed by %s", o, got)
		}
	}
	for _, o := range []common.Address{alice, bob, carol} {
		if _, has := model[o]; has != registry.IsNodeRegistered(f.State, o) {
			t.Fatalf("%s registered %t, model %t", o, !has, has)
		}
	}
}
