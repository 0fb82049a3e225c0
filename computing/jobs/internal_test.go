package jobs

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/registry"
)

// TestDrawStakeWeighted: over many seeds each router is drawn in
// proportion to its stake (within 3 percentage points over 20,000 draws),
// a router without stake never, and an empty set gives the zero address.
func TestDrawStakeWeighted(t *testing.T) {
	a, b, c := common.Address{1}, common.Address{2}, common.Address{3}
	routers := []weighted{{a, uint256.NewInt(100)}, {b, uint256.NewInt(300)}, {c, uint256.NewInt(600)}}
	counts := map[common.Address]int{}
	const n = 20_000
	for i := uint64(0); i < n; i++ {
		seed := crypto.Keccak256Hash([]byte("seed"), uint256.NewInt(i).Bytes())
		counts[draw(routers, seed, i)]++
	}
	for _, w := range routers {
		got := float64(counts[w.owner]) / n
		want := float64(w.stake.Uint64()) / 1000
		if got < want-0.03 || got > want+0.03 {
			t.Errorf("router %s drawn %.3f of the time, stake share %.3f", w.owner, got, want)
		}
	}
	if draw(nil, common.Hash{1}, 1) != (common.Address{}) {
		t.Error("draw from no routers")
	}
	if got := draw([]weighted{{a, uint256.NewInt(1)}}, common.Hash{9}, 7); got != a {
		t.Errorf("single router: drew %s", got)
	}
	// Same inputs, same router; the id changes the pick.
	seen := map[common.Address]bool{}
	for id := uint64(1); id <= 50; id++ {
		if draw(routers, common.Hash{5}, id) != draw(routers, common.Hash{5}, id) {
			t.Fatal("draw is not deterministic")
		}
		seen[draw(routers, common.Hash{5}, id)] = true
	}
	if len(seen) != 3 {
		t.Errorf("50 ids drew only %d routers", len(seen))
	}
}

// TestRecordBound pins that the largest job record fits maxRecordBytes, so
// saveJob never fails and the record gas covers every write.
func TestRecordBound(t *testing.T) {
	max := new(uint256.Int).SetAllOne()
	j := Job{
		Submitter: common.Address{0xff}, State: StateSettled, SpecHash: common.Hash{0xff}, Image: common.Hash{0xff},
		GPUs: ^uint32(0), GPUModel: strings.Repeat("m", registry.MaxModelBytes), MinMemoryMiB: ^uint64(0),
		TimeoutSeconds: ^uint64(0), MaxPriceWei: max, EscrowWei: max, SubmitBlock: ^uint64(0), Offered: true,
		OfferedRouter: common.Address{0xff}, OfferEndBlock: ^uint64(0), Router: common.Address{0xff},
		Node: common.Address{0xff}, PriceWei: max, Attempts: ^uint8(0), Deadline: ^uint64(0),
		ResultHash: common.Hash{0xff}, GPUMillis: ^uint64(0), Exit: ^uint32(0), CostWei: max, BurnedWei: max,
		RefundWei: max, EndBlock: ^uint64(0), EscrowCredits: max, CostCredits: max, RefundCredits: max,
		Deterministic: true, OutputDigest: common.Hash{0xff}, Verify: ^uint8(0), FeesWei: max,
	}
	data, err := rlp.EncodeToBytes(&j)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > maxRecordBytes {
		t.Fatalf("largest record %d bytes > %d", len(data), maxRecordBytes)
	}
	t.Logf("largest record: %d bytes (bound %d)", len(data), maxRecordBytes)
}

// TestReexecRecordBound pins that the largest re-execution record
// (MaxReexecDraws executors) fits maxRecordBytes.
func TestReexecRecordBound(t *testing.T) {
	r := Reexec{Disputed: true, BondWei: new(uint256.Int).SetAllOne(), Prior: StateFailed, Current: common.Address{0xff},
		Deadline: ^uint64(0), Outcome: ^uint8(0), DueBlock: ^uint64(0)}
	for i := 0; i < MaxReexecDraws; i++ {
		r.Executors = append(r.Executors, common.Address{0xff})
		r.Digests = append(r.Digests, common.Hash{0xff})
	}
	data, err := rlp.EncodeToBytes(&r)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > maxReexecBytes {
		t.Fatalf("largest re-execution record %d bytes > %d", len(data), maxReexecBytes)
	}
	t.Logf("largest re-execution record: %d bytes (bound %d)", len(data), maxReexecBytes)
}

// TestSampledRate: over many seeds a result is sampled at its rate
// (within 1 percentage point over 20,000 seeds); 0 never, 10,000 always.
func TestSampledRate(t *testing.T) {
	const n = 20_000
	for _, bps := range []uint64{0, 500, 5_000, 10_000} {
		hits := 0
		for i := uint64(0); i < n; i++ {
			if Sampled(crypto.Keccak256Hash([]byte("s"), uint256.NewInt(i).Bytes()), i%7, bps) {
				hits++
			}
		}
		got, want := float64(hits)/n, float64(bps)/10_000
		if got < want-0.01 || got > want+0.01 {
			t.Errorf("bps %d: sampled %.4f", bps, got)
		}
		if (bps == 0 && hits != 0) || (bps == 10_000 && hits != n) {
			t.Errorf("bps %d: %d of %d sampled", bps, hits, n)
		}
	}
}

// TestStateNames: every state has its name and HasResult holds exactly
// for the states after a result.
func TestStateNames(t *testing.T) {
	want := map[State]string{StateSubmitted: "submitted", StateAssigned: "assigned", StateRunning: "running",
		StateCompleted: "completed", StateFailed: "failed", StateExpired: "expired", StateCancelled: "cancelled",
		StateDisputed: "disputed", StateSettled: "settled", StateReexec: "reexecuting", StateRefunded: "refunded"}
	after := map[State]bool{StateCompleted: true, StateFailed: true, StateReexec: true, StateDisputed: true, StateSettled: true, StateRefunded: true}
	for s, name := range want {
		if s.String() != name || s.HasResult() != after[s] {
			t.Errorf("state %d: %q, HasResult %v", s, s.String(), s.HasResult())
		}
	}
	if State(12).String() != "state12" || State(12).HasResult() {
		t.Error("unknown state")
	}
}
