package node

import (
	"encoding/json"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
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
	want := common.HexToHash("0x63ad7528ab502ef5240507f7181f9abba3a2ab4e57e6ced06a3bf142e8556ec7")
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
	if len(sc) != 5 || a == nil || sc[0].Name != "staking" || sc[1].Name != "registry" || sc[2].Name != "jobs" || sc[3].Name != "credits" || sc[4].Name != "rewards" {
		names := make([]string, len(sc))
		for i, c := range sc {
			names[i] = c.Name
		}
		t.Fatalf("modules %v, want staking, registry, jobs, credits and rewards", names)
	}
}

// TestRegistryParamsFromGenesis: the dev genesis allows simulated GPUs, a
// genesis without registry params does not.
func TestRegistryParamsFromGenesis(t *testing.T) {
	for _, tc := range []struct {
		params map[string]json.RawMessage
		want   bool
	}{
		{genesis.Dev().Params, true},
		{nil, false},
	} {
		g := genesis.Dev()
		g.Params = tc.params
		mods, err := LoadModules(g)
		if err != nil {
			t.Fatal(err)
		}
		if r := mods.registry(); r == nil || r.Params().AllowSimulatedGPUs != tc.want {
			t.Fatalf("params %s: registry %v, want allowSimulatedGPUs %t", tc.params, r, tc.want)
		}
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

// TestGenesisStakesElectValidators: a genesis that seeds stakes must list
// the validators they elect (as a set); the stakes' balance is in the
// staking module's genesis account.
func TestGenesisStakesElectValidators(t *testing.T) {
	owners := []common.Address{
		common.HexToAddress("0x1000000000000000000000000000000000000001"),
		common.HexToAddress("0x1000000000000000000000000000000000000002"),
		common.HexToAddress("0x1000000000000000000000000000000000000003"),
		common.HexToAddress("0x1000000000000000000000000000000000000004"),
	}
	signer := common.HexToAddress("0x5000000000000000000000000000000000000001")
	stakes := `{"genesisStakes":[`
	for i, o := range owners {
		if i > 0 {
			stakes += ","
		}
		stakes += `{"owner":"` + o.Hex() + `","amountWei":"1000000000000000000000000"`
		if i == 0 {
			stakes += `,"signer":"` + signer.Hex() + `"`
		}
		if i == 1 {
			stakes += `,"lock":1` // 7 days: unlocks at epoch 7
		}
		stakes += `}`
	}
	stakes += `]}`
	g := genesis.Dev()
	g.Params = map[string]json.RawMessage{"staking": json.RawMessage(stakes)}
	g.Validators = []common.Address{owners[3], owners[2], signer, owners[1]}
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	c, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.StateAt(c.GenesisBlock().Root())
	if err != nil {
		t.Fatal(err)
	}
	want := new(big.Int).Mul(big.NewInt(4_000_000), big.NewInt(1e18))
	if got := st.GetBalance(native.StakingAddress).ToBig(); got.Cmp(want) != 0 {
		t.Errorf("staking balance %s, want %s", got, want)
	}
	if vs, err := staking.EffectiveValidators(st, 0); err != nil || len(vs) != 4 || vs[0].Signer != signer {
		t.Errorf("genesis validators %+v %v", vs, err)
	}
	// The rewards module weighs the locked genesis stake 1.4× until
	// staking's unlock epoch 7, then 1×: the drop is scheduled there.
	pos := rewards.StakePositionOf(st, rewards.PoolStaking, owners[1])
	stake1 := new(big.Int).Quo(want, big.NewInt(4)) // 1M EMC
	weigh := func(bps int64) *big.Int { return new(big.Int).Mul(stake1, big.NewInt(bps)) }
	if p := staking.PositionOf(st, owners[1]); p.UnlockEpoch != 7 || pos.ExpiryEpoch != 7 ||
		pos.WeightAt(6).ToBig().Cmp(weigh(14_000)) != 0 || pos.WeightAt(7).ToBig().Cmp(weigh(10_000)) != 0 {
		t.Errorf("locked genesis stake: staking unlock %d, rewards position %+v", p.UnlockEpoch, pos)
	}
	if _, sub := rewards.WeightDelta(st, rewards.PoolStaking, 7); sub.ToBig().Cmp(weigh(4_000)) != 0 {
		t.Errorf("drop at epoch 7: %s", sub)
	}

	g.Validators = []common.Address{owners[3], owners[2], owners[0], owners[1]} // owner, not its signer
	if _, err := LoadModules(g); err == nil {
		t.Fatal("genesis validators that the stakes do not elect were accepted")
	}
}

// TestVerifyModuleOptIn: the verification module runs only on chains whose
// genesis names it, at its reserved address; its windows must fit the
// epoch, so a short-epoch genesis that names it is refused.
func TestVerifyModuleOptIn(t *testing.T) {
	g := genesis.Dev()
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mods.Lookup(native.VerifyAddress); ok {
		t.Fatal("verify loaded without a genesis entry")
	}
	g.Params["verify"] = json.RawMessage(`{}`)
	if mods, err = LoadModules(g); err != nil {
		t.Fatal(err)
	}
	if m, ok := mods.Lookup(native.VerifyAddress); !ok || m.Name() != "verify" {
		t.Fatal("verify not loaded at its address")
	}
	g.EpochLength = 40 // the default CPU class's 120 s deadline alone takes 60 blocks
	if _, err := LoadModules(g); !errors.Is(err, native.ErrBadParams) {
		t.Fatalf("short epochs: %v", err)
	}
}
