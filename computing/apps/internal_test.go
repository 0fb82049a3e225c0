package apps

import (
	"math"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"
)

// TestRecordBounds pins the record bounds the gas constants are built on:
// the widest app and instance records fit.
func TestRecordBounds(t *testing.T) {
	max256 := new(uint256.Int).SetAllOne()
	ones := common.HexToAddress("0xffffffffffffffffffffffffffffffffffffffff")
	full := common.HexToHash("0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")
	a := App{Publisher: ones, Image: full, Port: math.MaxUint16, HealthPath: "/" + strings.Repeat("x", MaxHealthPathBytes-1),
		Name: strings.Repeat("n", MaxNameBytes), Description: strings.Repeat("d", MaxDescriptionBytes),
		ParamsDoc: strings.Repeat("p", MaxParamsDocBytes), PricePerCallWei: max256, PricePerGPUSecondWei: max256,
		RoyaltyBps: math.MaxUint16, Block: math.MaxUint64}
	data, err := rlp.EncodeToBytes(&a)
	if err != nil || len(data) > maxAppRecordBytes {
		t.Fatalf("widest app record %d bytes (bound %d): %v", len(data), maxAppRecordBytes, err)
	}
	u := uint64(math.MaxUint64)
	in := Instance{App: u, Owner: ones, State: 255, GPUs: math.MaxUint32, Hours: u, APIKeyHash: full, EscrowWei: max256,
		EscrowCredits: max256, DeployBlock: u, Router: ones, Node: ones, Attempts: 255, Deadline: u, DueBlock: u, ReadyTime: u,
		EndTime: u, Seq: u, Calls: u, GPUMillis: u, CallsHash: full, ChargedWei: max256, ChargedCredits: max256, NodeWei: max256,
		RoyaltyWei: max256, BurnedWei: max256, RefundWei: max256, RefundCredits: max256, EndReason: 255, EndBlock: u, Restart: true, Restarts: 255}
	if data, err = rlp.EncodeToBytes(&in); err != nil || len(data) > maxInstRecordBytes {
		t.Fatalf("widest instance record %d bytes (bound %d): %v", len(data), maxInstRecordBytes, err)
	}
}

// legacyInstance is the instance record as written before restarts.
type legacyInstance struct {
	App                                                           uint64
	Owner                                                         common.Address
	State                                                         State
	GPUs                                                          uint32
	Hours                                                         uint64
	APIKeyHash                                                    common.Hash
	EscrowWei, EscrowCredits                                      *uint256.Int
	DeployBlock                                                   uint64
	Router, Node                                                  common.Address
	Attempts                                                      uint8
	Deadline, DueBlock, ReadyTime, EndTime, Seq, Calls, GPUMillis uint64
	CallsHash                                                     common.Hash
	ChargedWei, ChargedCredits, NodeWei, RoyaltyWei, BurnedWei    *uint256.Int
	RefundWei, RefundCredits                                      *uint256.Int
	EndReason                                                     uint8
	EndBlock                                                      uint64
}

// TestLegacyInstanceRecord: a record written before Restart and Restarts
// existed decodes (both zero), and one without them set encodes as
// before, byte for byte.
func TestLegacyInstanceRecord(t *testing.T) {
	one := uint256.NewInt(1)
	old := legacyInstance{App: 3, Owner: common.Address{1}, State: StateRunning, GPUs: 1, Hours: 2, EscrowWei: one, EscrowCredits: one,
		Attempts: 1, Seq: 7, Calls: 7, ChargedWei: one, ChargedCredits: one, NodeWei: one, RoyaltyWei: one, BurnedWei: one,
		RefundWei: one, RefundCredits: one, EndReason: 4, EndBlock: 9}
	data, err := rlp.EncodeToBytes(&old)
	if err != nil {
		t.Fatal(err)
	}
	var in Instance
	if err := rlp.DecodeBytes(data, &in); err != nil || in.App != 3 || in.Seq != 7 || in.EndBlock != 9 || in.Restart || in.Restarts != 0 {
		t.Fatalf("legacy record decoded to %+v: %v", in, err)
	}
	again, err := rlp.EncodeToBytes(&in)
	if err != nil || string(again) != string(data) {
		t.Fatalf("re-encoded %x, want %x (%v)", again, data, err)
	}
	in.Restart, in.Restarts = true, 2
	if again, _ = rlp.EncodeToBytes(&in); len(again) != len(data)+2 {
		t.Fatalf("with restarts: %d bytes, want %d", len(again), len(data)+2)
	}
}

// TestSplitCharge: the three parts add up to the charge, to the wei, for
// edge royalties and amounts; the node's share is 80 % of the rest.
func TestSplitCharge(t *testing.T) {
	for _, c := range []uint64{0, 1, 9, 10_000, 123_456_789, math.MaxUint64} {
		for _, bps := range []uint16{0, 1, 2_500, 9_999, 10_000} {
			charge := uint256.NewInt(c)
			r, n, b := SplitCharge(charge, bps)
			sum := new(uint256.Int).Add(r, n)
			if sum.Add(sum, b); !sum.Eq(charge) {
				t.Fatalf("charge %d bps %d: %s+%s+%s", c, bps, r, n, b)
			}
			rest := new(uint256.Int).Sub(charge, r)
			if want := new(uint256.Int).Div(new(uint256.Int).Mul(rest, uint256.NewInt(8_000)), uint256.NewInt(10_000)); !n.Eq(want) {
				t.Fatalf("node %s want %s", n, want)
			}
		}
	}
	huge := new(uint256.Int).SetAllOne()
	r, n, b := SplitCharge(huge, 10_000)
	if !r.Eq(huge) || !n.IsZero() || !b.IsZero() {
		t.Fatal("full royalty of the largest charge")
	}
}

func TestCreditsDue(t *testing.T) {
	p := uint256.NewInt(100)
	for _, c := range []struct{ charge, escrow, want uint64 }{{0, 5, 0}, {1, 5, 1}, {100, 5, 1}, {101, 5, 2}, {10_000, 5, 5}} {
		if got := CreditsDue(uint256.NewInt(c.charge), uint256.NewInt(c.escrow), p); got.Uint64() != c.want {
			t.Fatalf("%+v: got %s", c, got)
		}
	}
}
