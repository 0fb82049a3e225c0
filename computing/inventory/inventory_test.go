package inventory

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/registry"
)

func TestSummarize(t *testing.T) {
	mem := func(n uint64) *uint64 { return &n }
	inv := &gpu.Inventory{Source: "simulated", Simulated: true, Devices: []gpu.Device{
		{Index: 0, UUID: "a", Name: "H100", Simulated: true, MemoryTotalBytes: mem(80 << 30)},
		{Index: 1, UUID: "b", Name: "H100", Simulated: true, MemoryTotalBytes: mem(79<<30 + 5)},
	}}
	s, err := Summarize(inv)
	raw, _ := json.Marshal(inv)
	if err != nil || s.GPUCount != 2 || s.GPUModel != "H100" || s.MemoryMiB != 79<<10 || !s.Simulated || s.InventoryHash != crypto.Keccak256Hash(raw) {
		t.Fatalf("Summarize = %+v, %v", s, err)
	}
	inv.Devices[1].Name = "A100"
	if _, err := Summarize(inv); !errors.Is(err, ErrMixedGPUs) {
		t.Fatalf("mixed models: %v", err)
	}
	inv.Devices[1].Name, inv.Devices[1].MemoryTotalBytes = "H100", nil
	if _, err := Summarize(inv); err == nil {
		t.Fatal("a GPU without memory size was summarised")
	}
	if s, err := Summarize(&gpu.Inventory{}); err != nil || s.GPUCount != 0 || s.GPUModel != "" {
		t.Fatalf("no GPUs: %+v %v", s, err)
	}
}

func TestParseOffer(t *testing.T) {
	gpuNode := Summary{InventoryHash: crypto.Keccak256Hash([]byte("x")), GPUCount: 1, GPUModel: "H100", MemoryMiB: 1}
	cpuNode := Summary{InventoryHash: crypto.Keccak256Hash([]byte("y"))}
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		s      Summary
		prices []string
		cpu    string
		images []string
		wantOK bool
	}{
		{gpuNode, []string{"5"}, "0", []string{digest, "0x" + strings.Repeat("cd", 32)}, true},
		{gpuNode, []string{"5", "A100=7"}, "3", nil, true},
		{gpuNode, []string{"NVIDIA H100 80GB=7"}, "", nil, true},
		{gpuNode, nil, "0", nil, false},                                // GPUs need a price
		{gpuNode, []string{"0"}, "0", nil, false},                      // zero price
		{gpuNode, []string{"5", "H100=6"}, "0", nil, false},            // H100 twice
		{gpuNode, []string{"5"}, "-1", nil, false},                     // negative CPU price
		{gpuNode, []string{"5"}, "0", []string{"sha256:ab"}, false},    // short digest
		{gpuNode, []string{"5"}, "0", []string{digest, digest}, false}, // duplicate image
		{cpuNode, nil, "9", nil, true},
		{cpuNode, []string{"5"}, "9", nil, false}, // nothing to price
	} {
		_, err := ParseOffer(tc.s, tc.prices, tc.cpu, tc.images)
		if (err == nil) != tc.wantOK {
			t.Errorf("ParseOffer(%+v, %q, %q, %q) err %v, want ok %t", tc.s, tc.prices, tc.cpu, tc.images, err, tc.wantOK)
		}
		if err != nil && !errors.Is(err, ErrBadOffer) {
			t.Errorf("ParseOffer error %v does not wrap ErrBadOffer", err)
		}
	}
}

// A listing matches the record the registry stores for it, and stops
// matching when any field the operator controls changes.
func TestListingMatches(t *testing.T) {
	s := Summary{InventoryHash: crypto.Keccak256Hash([]byte("x")), GPUCount: 2, GPUModel: "H100", MemoryMiB: 80 << 10, Simulated: true}
	o, err := ParseOffer(s, []string{"5", "A100=7"}, "3", []string{strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	l := Listing{Summary: s, Offer: o}
	if !l.Sells() || (Listing{Summary: Summary{InventoryHash: s.InventoryHash}}).Sells() {
		t.Fatal("Sells: a GPU node sells, a CPU-only node at price 0 does not")
	}
	stored, err := l.Record()
	if err != nil {
		t.Fatal(err)
	}
	// As the registry returns it: peer ID and blocks set, decoded from storage.
	stored.PeerID, stored.RegisteredBlock, stored.UpdatedBlock = []byte("peer"), 3, 9
	enc, err := registry.EncodeNode(&stored)
	if err != nil {
		t.Fatal(err)
	}
	onChain, err := registry.DecodeNode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Matches(&onChain) {
		t.Fatal("a listing does not match its own record")
	}
	changes := []func(n *registry.Node){
		func(n *registry.Node) { n.Prices[1].WeiPerGPUSecond = uint256.NewInt(8) },
		func(n *registry.Node) { n.CPUPriceWei = uint256.NewInt(4) },
		func(n *registry.Node) { n.Images = nil },
		func(n *registry.Node) { n.GPUCount = 1 },
		func(n *registry.Node) { n.InventoryHash[0] ^= 1 },
		func(n *registry.Node) { n.Prices[0], n.Prices[1] = n.Prices[1], n.Prices[0] },
	}
	for i, change := range changes {
		n, _ := registry.DecodeNode(enc)
		change(&n)
		if l.Matches(&n) {
			t.Errorf("change %d: still matches", i)
		}
	}
	args := l.Args()
	if p := args[6].([]*big.Int); len(p) != 2 || p[1].Int64() != 7 {
		t.Fatalf("Args prices %v", p)
	}
}
