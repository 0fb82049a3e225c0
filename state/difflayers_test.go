package state

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// The default is set at init.
func TestDiffLayersDefault(t *testing.T) {
	if got := DiffLayers(); got != DefaultDiffLayers {
		t.Fatalf("DiffLayers() = %d, want %d", got, DefaultDiffLayers)
	}
}

// The linked variable is go-ethereum's: after more blocks than DiffLayers,
// the newest DiffLayers states (and the disk layer below them) are in the
// layer tree and older ones are not, yet still readable, through the state
// history, on a memory store too.
func TestDiffLayersDepth(t *testing.T) {
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
