package node

import (
	"encoding/json"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// The dev genesis (with this binary's chain-native modules) is fixed: a
// change of its hash means every dev data dir and every wallet's cached
// chain breaks. Change it only on purpose, and say so in the commit.
func TestDevGenesisHashPinned(t *testing.T) {
	g := genesis.Dev()
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	c, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := common.HexToHash("0x081ab44c690a898307a76473ee7fb727d209b92e306a5ac5cf607fab2e10ff96")
	if got := c.GenesisBlock().Hash(); got != want {
		t.Fatalf("dev genesis hash %s, pinned %s", got, want)
	}
}

func TestGenesisParamsSelectModules(t *testing.T) {
	g := genesis.Dev()
	g.Params = map[string]json.RawMessage{"stakin": json.RawMessage(`{}`)}
	if _, err := LoadModules(g); err == nil {
		t.Fatal("a params entry naming no module was accepted")
	}
	g.Params = map[string]json.RawMessage{"staking": json.RawMessage(`{"minComputeStakeWei": "5"}`)}
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := state.Open(state.OpenMemoryStore(), g, mods, nil)
	sc := mods.SystemContracts()
	if len(sc) != 2 || a == nil || sc[0].Name != "staking" || sc[1].Name != "credits" {
		t.Fatalf("modules %v, want staking and credits", sc)
	}
}

// TestStakingEpochLengthFromGenesis: the staking module counts epochs in
// the genesis epochLength.
func TestStakingEpochLengthFromGenesis(t *testing.T) {
	g := genesis.Dev()
	g.EpochLength = 7
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := mods.Lookup(native.StakingAddress)
	if !ok {
		t.Fatal("no staking module")
	}
	if got := m.(*staking.Module).Params().EpochLength; got != 7 {
		t.Fatalf("staking epoch length %d, want the genesis' 7", got)
	}
	if staking.DefaultEpochLength != genesis.DefaultEpochLength {
		t.Fatalf("staking.DefaultEpochLength %d != genesis.DefaultEpochLength %d", staking.DefaultEpochLength, genesis.DefaultEpochLength)
	}
}
