package genesis

import (
	"errors"
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
	if len(g.Alloc) != DevAccountCount || g.ChainID != 1337 {
		t.Fatalf("unexpected dev genesis %+v", g)
	}
}

func FuzzFromJSON(f *testing.F) {
	b, _ := Dev().JSON()
	f.Add(b)
	f.Add([]byte(`{"chainId":1}`))
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
