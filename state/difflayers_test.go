package state

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// gethDiffLayers is go-ethereum's own depth, which in-process chains keep
// unless a caller sets another.
const gethDiffLayers = 128

// Until a chain asks for another depth, go-ethereum's own default holds
// (every setter in this package's tests restores it); SetDiffLayers
// returns the previous depth and refuses fewer than one layer.
func TestDiffLayersDefault(t *testing.T) {
	if got := DiffLayers(); got != gethDiffLayers {
		t.Fatalf("DiffLayers() = %d, want go-ethereum's %d", got, gethDiffLayers)
	}
	prev := SetDiffLayers(0)
	if prev != gethDiffLayers || DiffLayers() != 1 {
		t.Fatalf("SetDiffLayers(0) returned %d and set %d, want %d and 1", prev, DiffLayers(), gethDiffLayers)
	}
	SetDiffLayers(prev)
}

// The linked variable is go-ethereum's: at 16 layers, after more blocks than that,
// the newest DiffLayers states (and the disk layer below them) are in the
// layer tree and older ones are not, yet still readable, through the state
// history, on a memory store too.
func TestDiffLayersDepth(t *testing.T) {
	defer SetDiffLayers(SetDiffLayers(DefaultDiffLayers))
	tc := newTestChain(t, "")
	n := DiffLayers()
	blocks := n + 6
	for i := range blocks {
		tc.mine(tc.transfer(0, uint64(i), common.Address{7}, big.NewInt(5)))
	}
	live := tc.sdb.(*windowDB).MPTDatabase
	for num := 1; num <= blocks; num++ {
		h := tc.HeaderByNumber(uint64(num))
		_, err := live.Reader(h.Root)
		// Layers: the disk layer at blocks-n, diff layers above it.
		if inTree := num >= blocks-n; inTree != (err == nil) {
			t.Fatalf("block %d of %d with %d layers: in the layer tree %v, live reader error %v", num, blocks, n, inTree, err)
		}
		st, err := waitState(t, tc.Chain, h.Root)
		if err != nil {
			t.Fatalf("state of block %d: %v", num, err)
		}
		if got := st.GetBalance(common.Address{7}).Uint64(); got != 5*uint64(num) {
			t.Fatalf("balance at block %d = %d", num, got)
		}
	}
}
