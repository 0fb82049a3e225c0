package genesis

import (
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

func TestDevAccountsMatchWellKnownAddresses(t *testing.T) {
	got := DevAccounts()
	// Addresses every anvil/hardhat user knows for the test mnemonic.
	want := map[int]string{
		0: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
		1: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
		9: "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
	}
	for i, w := range want {
		if got[i] != common.HexToAddress(w) {
			t.Errorf("account %d = %s, want %s", i, got[i], w)
		}
	}
}

func TestValidateDefaultsAndErrors(t *testing.T) {
	g, err := FromJSON([]byte(`{"chainId": 7, "timestamp": "0x10", "validators": ["0x0000000000000000000000000000000000000001"], "alloc": {}}`))
	if err != nil {
		t.Fatal(err)
	}
	if g.GasLimit != DefaultGasLimit || g.BlockPeriodMs != DefaultBlockPeriodMs || g.EpochLength != DefaultEpochLength {
		t.Fatalf("defaults not filled: %+v", g)
	}
	bad := []string{
		`{"timestamp": 0, "validators": ["0x0000000000000000000000000000000000000001"]}`,
		`{"chainId": 1, "validators": []}`,
		`{"chainId": 1, "validators": ["0x0000000000000000000000000000000000000001", "0x0000000000000000000000000000000000000001"]}`,
		`{"chainId": 1, "validators": ["0x0000000000000000000000000000000000000001"], "blockPeriodMs": 1}`,
		`{"chainId": 1, "validators": ["0x0000000000000000000000000000000000000001"], "bogus": 1}`,
		`{"chainId": 1, "validators": ["0x0000000000000000000000000000000000000001"], "baseFeePerGas": "1", "minBaseFeePerGas": "2"}`,
		`{"chainId": 1, "validators": ["0x0000000000000000000000000000000000000001"]} {}`,
		`not json`,
	}
	for _, b := range bad {
		if _, err := FromJSON([]byte(b)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", b, err)
		}
	}
}

func TestDevGenesisStable(t *testing.T) {
	a, _ := Dev().JSON()
	b, _ := Dev().JSON()
	if string(a) != string(b) {
		t.Fatal("dev genesis not deterministic")
	}
	g, err := FromJSON(a)
	if err != nil {
		t.Fatalf("dev genesis does not round-trip: %v", err)
	}
	if len(g.Alloc) != DevAccountCount+3 || g.ChainID != 1337 || g.Reserve == nil {
		t.Fatalf("unexpected dev genesis %+v", g)
	}
}

// TestDevTable pins the dev table: ten dev accounts of 10,000 EMC, the dev
// router and compute owner with 1,000 EMC each, the
// ecosystem's 150M at test-mnemonic account 10, the reserve at account 11
// (addresses anvil prints for the mnemonic), the total 10^27 wei, and the
// pools' 370M (held by the rewards module, not in the alloc).
func TestDevTable(t *testing.T) {
	g := Dev()
	eco, res := DevTableAccounts()
	if eco != common.HexToAddress("0xBcd4042DE499D14e55001CcbB24a551F3b954096") ||
		res != common.HexToAddress("0x71bE63f3384f5fb98995898A86B02Fb2426c5788") {
		t.Fatalf("table accounts %s %s", eco, res)
	}
	if *g.Reserve != res || g.Alloc[eco].Balance.String() != "150000000000000000000000000" {
		t.Fatalf("reserve %s, ecosystem %s", g.Reserve, g.Alloc[eco].Balance)
	}
	sum := new(big.Int)
	for _, a := range g.Alloc {
		sum.Add(sum, a.Balance)
	}
	if sum.String() != "150102000000000000000000000" {
		t.Fatalf("dev alloc sums to %s", sum)
	}
	if g.TotalSupply().String() != "1000000000000000000000000000" || DefaultPoolsWei().String() != "370000000000000000000000000" {
		t.Fatalf("total %s, pools %s", g.TotalSupply(), DefaultPoolsWei())
	}
	p := DefaultPools()
	if p.NodeRewardsWei.String() != "100000000000000000000000000" || p.TradeRewardsWei.String() != "200000000000000000000000000" ||
		p.StakingWei.String() != "20000000000000000000000000" || p.LongTermStakingWei.String() != "50000000000000000000000000" {
		t.Fatalf("pools %+v", p)
	}
}

func TestValidateSupply(t *testing.T) {
	const v = `"chainId": 1, "validators": ["0x0000000000000000000000000000000000000001"]`
	ok := []string{
		`{` + v + `, "alloc": {"0x0000000000000000000000000000000000000002": {"balance": "1000000000000000000000000000"}}}`,
		`{` + v + `, "totalSupplyWei": "10", "reserve": "0x0000000000000000000000000000000000000003", "alloc": {"0x0000000000000000000000000000000000000002": {"balance": "10"}}}`,
	}
	for _, b := range ok {
		if _, err := FromJSON([]byte(b)); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	bad := map[string]string{
		"alloc over the total": `{` + v + `, "totalSupplyWei": "10", "alloc": {"0x0000000000000000000000000000000000000002": {"balance": "11"}}}`,
		"alloc over default":   `{` + v + `, "alloc": {"0x0000000000000000000000000000000000000002": {"balance": "1000000000000000000000000001"}}}`,
		"zero total":           `{` + v + `, "totalSupplyWei": "0"}`,
		"huge total":           `{` + v + `, "totalSupplyWei": "0x100000000000000000000000000000000"}`,
		"zero reserve":         `{` + v + `, "reserve": "0x0000000000000000000000000000000000000000"}`,
		"reserve in alloc":     `{` + v + `, "reserve": "0x0000000000000000000000000000000000000002", "alloc": {"0x0000000000000000000000000000000000000002": {"balance": "1"}}}`,
	}
	for name, b := range bad {
		if _, err := FromJSON([]byte(b)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", name, err)
		}
	}
	g, err := FromJSON([]byte(`{` + v + `}`))
	if err != nil || g.TotalSupply().Cmp(DefaultTotalSupplyWei()) != 0 {
		t.Fatalf("default total: %v %v", g, err)
	}
}

func FuzzFromJSON(f *testing.F) {
	b, _ := Dev().JSON()
	f.Add(b)
	f.Add([]byte(`{"chainId":1}`))
	f.Add([]byte(`{"chainId":1,"validators":["0x0000000000000000000000000000000000000001"],"totalSupplyWei":"0x10","reserve":"0x0000000000000000000000000000000000000002","alloc":{"0x0000000000000000000000000000000000000003":{"balance":"0x10"}}}`))
	f.Add([]byte(`{"chainId":1,"validators":["0x0000000000000000000000000000000000000001"],"forks":{"verifyPrune":"0x10","other":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := FromJSON(data)
		if err != nil {
			return
		}
		out, err := g.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := FromJSON(out); err != nil {
			t.Fatalf("re-encoded valid genesis fails: %v", err)
		}
	})
}

// TestEconomicsDoc: docs/economics.md shows the table's numbers as the
// package computes them.
func TestEconomicsDoc(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "economics.md"))
	if err != nil {
		t.Fatal(err)
	}
	g := Dev()
	eco, res := DevTableAccounts()
	alloc := new(big.Int)
	for _, a := range g.Alloc {
		alloc.Add(alloc, a.Balance)
	}
	for _, w := range []string{
		DefaultTotalSupplyWei().String(), DefaultPoolsWei().String(), alloc.String(),
		new(big.Int).Sub(DefaultTotalSupplyWei(), alloc).String(), eco.Hex(), res.Hex(),
	} {
		if !strings.Contains(string(raw), "`"+w+"`") {
			t.Errorf("docs/economics.md does not show `%s`", w)
		}
	}
}
