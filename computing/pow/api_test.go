package pow_test

import (
	"context"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/pow"
)

// TestUseFromOutside runs the protocol as the next slices will, through the
// exported API only: a challenge seed from a block hash and a node
// address, the class's n, a root, a later sample seed, a validator's rows,
// the wire encoding, the check.
func TestUseFromOutside(t *testing.T) {
	params := pow.DefaultParams()
	class, ok := params.ClassFor("Simulated NVIDIA H100 80GB HBM3", 2, true)
	if !ok {
		t.Fatal("no class")
	}
	node, validator := common.HexToAddress("0x01"), common.HexToAddress("0x02")
	w := pow.Workload{Seed: pow.ChallengeSeed(common.HexToHash("0xabc"), node), N: class.N}
	p, err := pow.Prove(context.Background(), w, 2)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pow.SampleChunks(common.HexToHash("0xdef"), p.Root(), validator, class.N, params.ChunksPerValidator)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := p.Open(rows)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := pow.EncodeOpenings(class.N, ops)
	if err != nil {
		t.Fatal(err)
	}
	n, got, err := pow.DecodeOpenings(wire)
	if err != nil || n != class.N {
		t.Fatalf("decode: %d %v", n, err)
	}
	if err := pow.Verify(w, p.Root(), rows, got); err != nil {
		t.Fatal(err)
	}
}
