package apps_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
)

// TestResumeMeter: a meter resumed from the settled counters goes on
// exactly as the one that was never stopped.
func TestResumeMeter(t *testing.T) {
	perCall, perGPU := uint256.NewInt(7), uint256.NewInt(3)
	m := apps.NewMeter(5, 9, perCall, perGPU)
	fresh, err := apps.SettledReceipt(5, &apps.Instance{ID: 9}, perCall, perGPU)
	if err != nil || apps.ResumeMeter(fresh, perCall, perGPU).Last() != m.Last() {
		t.Fatalf("nothing settled: %+v, %v, want the chain's start", fresh, err)
	}
	var r apps.Receipt
	for i := range 3 {
		if r, err = m.Call(common.Hash{byte(i)}, 1001); err != nil {
			t.Fatal(err)
		}
	}
	in := &apps.Instance{ID: 9, Seq: r.Seq, Calls: r.Calls, GPUMillis: r.GPUMillis, CallsHash: r.CallsHash}
	last, err := apps.SettledReceipt(5, in, perCall, perGPU)
	if err != nil || last != r {
		t.Fatalf("settled receipt %+v (%v), want %+v", last, err, r)
	}
	resumed := apps.ResumeMeter(last, perCall, perGPU)
	a, _ := m.Call(common.Hash{9}, 5)
	b, _ := resumed.Call(common.Hash{9}, 5)
	if a != b {
		t.Fatalf("resumed %+v, uninterrupted %+v", b, a)
	}
}
