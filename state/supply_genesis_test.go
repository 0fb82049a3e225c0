package state

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state/native"
)

// TestGenesisSupply: the genesis state holds exactly totalSupplyWei. A
// named reserve receives the rest of the table; without one the alloc must
// add up exactly, and a table over the total is refused, naming both sums.
func TestGenesisSupply(t *testing.T) {
	// The dev genesis: the reserve gets the total less the alloc (no modules
	// here, so it also holds what the modules would).
	g := genesis.Dev()
	c, err := Open(OpenMemoryStore(), g, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.StateAt(c.Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	sum := new(big.Int)
	for a := range g.Alloc {
		sum.Add(sum, st.GetBalance(a).ToBig())
	}
	reserve := st.GetBalance(*g.Reserve).ToBig()
	if want := "849898000000000000000000000"; reserve.String() != want {
		t.Fatalf("reserve %s, want %s", reserve, want)
	}
	if sum.Add(sum, reserve).Cmp(g.TotalSupply()) != 0 {
		t.Fatalf("genesis balances %s, total %s", sum, g.TotalSupply())
	}
	_ = c.Close()

	exact := func(total int64, balances ...int64) *genesis.Genesis {
		g := &genesis.Genesis{ChainID: 5, Validators: []common.Address{{1}}, Alloc: types.GenesisAlloc{},
			TotalSupplyWei: (*math.HexOrDecimal256)(big.NewInt(total))}
		for i, b := range balances {
			g.Alloc[common.Address{0x10, byte(i)}] = types.Account{Balance: big.NewInt(b)}
		}
		if err := g.Validate(); err != nil {
			t.Fatal(err)
		}
		return g
	}
	if _, err := Open(OpenMemoryStore(), exact(100, 60, 40), nil, nil); err != nil {
		t.Fatalf("exact table refused: %v", err)
	}
	_, err = Open(OpenMemoryStore(), exact(100, 60, 39), nil, nil)
	if !errors.Is(err, ErrGenesisSupply) || !strings.Contains(err.Error(), "sum to 99 wei") || !strings.Contains(err.Error(), "100 wei") {
		t.Fatalf("short table: %v", err)
	}
	// With a reserve, the rest goes there; over the total is refused.
	g = exact(100, 60, 30)
	g.Reserve = &common.Address{0x20}
	c, err = Open(OpenMemoryStore(), g, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _ = c.StateAt(c.Head().Root)
	if got := st.GetBalance(common.Address{0x20}).Uint64(); got != 10 {
		t.Fatalf("reserve got %d, want 10", got)
	}
	_ = c.Close()
	g = exact(100, 60, 40)
	g.Reserve = &common.Address{0x20}
	g.Alloc[common.Address{0x10, 0}] = types.Account{Balance: big.NewInt(61)} // after Validate, as a module's balance would
	if _, err := Open(OpenMemoryStore(), g, nil, nil); !errors.Is(err, ErrGenesisSupply) || !strings.Contains(err.Error(), "sum to 101 wei") {
		t.Fatalf("table over the total: %v", err)
	}
	// A reserve in the module address range is refused, module or not.
	g = exact(100, 60, 30)
	g.Reserve = &native.JobsAddress
	if _, err := Open(OpenMemoryStore(), g, nil, nil); !errors.Is(err, ErrGenesisSupply) {
		t.Fatalf("reserve at a module address: %v", err)
	}
}
