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
