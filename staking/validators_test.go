package staking_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

func TestSetSize(t *testing.T) {
	for _, c := range []struct{ eligible, max, want uint64 }{
		{0, 100, 0}, {1, 100, 1}, {3, 100, 1}, {4, 100, 4}, {6, 100, 4}, {7, 100, 7},
		{100, 100, 100}, {101, 100, 100}, {200, 100, 100}, {9, 8, 7}, {5, 4, 4},
	} {
		if got := staking.SetSize(c.eligible, c.max); got != c.want {
			t.Errorf("SetSize(%d, %d) = %d, want %d", c.eligible, c.max, got, c.want)
		}
	}
}

func (f *fixture) module() *staking.Module {
	m, _ := f.Registry.Lookup(stakingAddr)
	return m.(*staking.Module)
}

func TestNextValidators(t *testing.T) {
	f := newFixture(t, `{"minValidatorStakeWei":"20","maxValidators":7,"minValidators":4}`)
	m := f.module()
	var owners []common.Address
	f.at(0, 1)
	for i := range 9 { // stakes 20, 30, …, 100 wei; 20 is the minimum
		k := testKey(t, byte(10+i))
		o := keyAddr(k)
		owners = append(owners, o)
		f.State.AddBalance(o, emc(1), tracing.BalanceChangeUnspecified)
		f.mustSend(o, uint256.NewInt(uint64(10*(i+2))), "stake", validator, lockNone)
	}
	f.mustSend(alice, emc(100_000), "stake", router, lockNone) // other roles never count
	sigKey := testKey(t, 7)
	sig := keyAddr(sigKey)
	f.setSigner(owners[7], sigKey)

	// Block 10 starts epoch 1: everything staked in epoch 0 counts.
	got, err := m.NextValidators(f.State, 10)
	want := []common.Address{owners[8], sig, owners[6], owners[5], owners[4], owners[3], owners[2]}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("epoch 1 set %v %v, want %v", got, err, want)
	}
	// At an epoch-0 boundary nothing is effective yet: the set stays.
	if got, err := m.NextValidators(f.State, 0); err != nil || got != nil {
		t.Errorf("epoch 0: %v %v, want nil", got, err)
	}

	// The largest stake double-signs: jailed, out for good.
	k8 := testKey(t, 18)
	f.mustSend(bob, nil, "reportDoubleSign",
		enc(t, signed(t, k8, ibft.MsgPrepare, 1, 0, 1)), enc(t, signed(t, k8, ibft.MsgPrepare, 1, 0, 2)))
	got, _ = m.NextValidators(f.State, 10)
	want = []common.Address{sig, owners[6], owners[5], owners[4], owners[3], owners[2], owners[1]}
	if !slices.Equal(got, want) {
		t.Fatalf("after jailing: %v, want %v", got, want)
	}

	// Unstaking takes effect at the next epoch: 6 eligible → 4 (3F+1).
	f.at(1, 0)
	f.mustSend(owners[1], nil, "unstake", uint256.NewInt(30).ToBig())
	f.mustSend(owners[2], nil, "unstake", uint256.NewInt(40).ToBig())
	if got, _ := m.NextValidators(f.State, 10); len(got) != 7 {
		t.Errorf("epoch 1 (before the unstakes take effect) size %d, want 7", len(got))
	}
	got, _ = m.NextValidators(f.State, 20)
	want = []common.Address{sig, owners[6], owners[5], owners[4]}
	if !slices.Equal(got, want) {
		t.Fatalf("epoch 2: %v, want %v", got, want)
	}
	// Fewer than minValidators: nil, the chain keeps the current set.
	f.mustSend(owners[4], nil, "unstake", uint256.NewInt(60).ToBig())
	f.mustSend(owners[3], nil, "unstake", uint256.NewInt(50).ToBig())
	if got, _ := m.NextValidators(f.State, 20); len(got) != 4 {
		t.Errorf("4 eligible: set %v", got)
	}
	f.mustSend(owners[0], nil, "unstake", uint256.NewInt(20).ToBig())
	if got, err := m.NextValidators(f.State, 20); err != nil || got != nil {
		t.Errorf("3 eligible: %v %v, want nil", got, err)
	}
}

// genesisParams seeds alice (signer dave, 90-day lock), bob, carol and a
// fourth owner at genesis.
func genesisParams(extra string) string {
	return fmt.Sprintf(`{"genesisStakes":[
		{"owner":"%s","signer":"%s","amountWei":"2000000000000000000000000","lock":3},
		{"owner":"%s","amountWei":"1000000000000000000000000"},
		{"owner":"%s","amountWei":"0xd3c21bcecceda1000000"},
		{"owner":"%s","signer":"%s","amountWei":"1500000000000000000000000","lock":0}%s]}`,
		alice, dave, bob, carol, g4, g4, extra)
}

var g4 = common.HexToAddress("0x6e4e000000000000000000000000000000000005")

func TestGenesisStakes(t *testing.T) {
	f := newFixture(t, genesisParams(""))
	m := f.module()
	sum := emc(2_000_000 + 1_000_000 + 1_000_000 + 1_500_000)
	if got := f.State.GetBalance(stakingAddr); !got.Eq(sum) {
		t.Errorf("module balance %s, want %s", got, sum)
	}
	if got := staking.TotalStake(f.State, staking.RoleValidator); !got.Eq(sum) {
		t.Errorf("validator total %s", got)
	}
	if got := staking.Owners(f.State, 0, 10); !slices.Equal(got, []common.Address{alice, bob, carol, g4}) {
		t.Errorf("owners %v", got)
	}
	pa := staking.PositionOf(f.State, alice)
	if !pa.HasRole || pa.Role != staking.RoleValidator || pa.Lock != 3 || pa.UnlockEpoch != 90 || pa.Signer != dave || !f.effective(alice, 0).Eq(emc(2_000_000)) {
		t.Errorf("alice %+v", pa)
	}
	if o, ok := staking.SignerOwner(f.State, dave); !ok || o != alice {
		t.Errorf("SignerOwner(dave) = %s %v", o, ok)
	}
	if _, ok := staking.SignerOwner(f.State, g4); ok {
		t.Error("an owner signing as itself claims nothing")
	}
	want := []common.Address{dave, g4, carol, bob} // 2M, 1.5M, then 1M ties by owner (carol's address sorts first)
	if got, err := m.GenesisValidators(); err != nil || !slices.Equal(got, want) {
		t.Errorf("GenesisValidators %v %v, want %v", got, err, want)
	}
	if err := m.CheckGenesisValidators([]common.Address{carol, bob, g4, dave}); err != nil {
		t.Errorf("same set, other order: %v", err)
	}
	if err := m.CheckGenesisValidators([]common.Address{carol, bob, g4, alice}); err == nil {
		t.Error("owner instead of signer accepted")
	}
	if err := m.CheckGenesisValidators([]common.Address{carol, bob, g4}); err == nil {
		t.Error("missing validator accepted")
	}

	// The same positions made by stake() and setSigner() in epoch 0 differ
	// only in when they take effect.
	g := newFixture(t, "")
	g.State.AddBalance(g4, emc(2_000_000), tracing.BalanceChangeUnspecified)
	g.at(0, 1)
	g.mustSend(alice, emc(2_000_000), "stake", validator, uint8(3))
	g.setSigner(alice, daveKey)
	g.mustSend(bob, emc(1_000_000), "stake", validator, lockNone)
	g.mustSend(carol, emc(1_000_000), "stake", validator, lockNone)
	g.mustSend(g4, emc(1_500_000), "stake", validator, lockNone)
	for _, o := range []common.Address{alice, bob, carol, g4} {
		a, b := staking.PositionOf(f.State, o), staking.PositionOf(g.State, o)
		if a.ChangeEpoch != 0 || b.ChangeEpoch != 1 || !b.PrevAmountWei.IsZero() || !a.PrevAmountWei.IsZero() {
			t.Errorf("%s: change epochs %d / %d", o, a.ChangeEpoch, b.ChangeEpoch)
		}
		a.ChangeEpoch, b.ChangeEpoch = 0, 0
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: genesis %+v, staked %+v", o, a, b)
		}
	}
	if gs, _ := m.NextValidators(g.State, 10); !slices.Equal(gs, want) {
		t.Errorf("staked chain's epoch 1 set %v, want %v", gs, want)
	}

	// Genesis positions behave like any other.
	f.at(1, 0)
	f.mustSend(bob, nil, "unstake", emc(1_000_000).ToBig())
	f.mustRevert(alice, nil, staking.ErrLocked, "unstake", emc(1).ToBig())
	f.moduleInvariant()
	if got, _ := m.NextValidators(f.State, 20); got != nil {
		t.Errorf("3 eligible after bob left: %v, want nil", got)
	}
}

// A router position seeded at genesis is what stake(router) leaves, in
// effect from epoch 0, counted in the router total only; without a
// validator stake the genesis set is left to the genesis file.
func TestGenesisRouterStake(t *testing.T) {
	f := newFixture(t, fmt.Sprintf(`{"genesisStakes":[{"owner":"%s","amountWei":"100000000000000000000000","role":1}]}`, bob))
	m := f.module()
	if got := f.State.GetBalance(stakingAddr); !got.Eq(emc(100_000)) {
		t.Errorf("module balance %s", got)
	}
	if got := staking.TotalStake(f.State, staking.RoleRouter); !got.Eq(emc(100_000)) {
		t.Errorf("router total %s", got)
	}
	if got := staking.TotalStake(f.State, staking.RoleValidator); !got.IsZero() {
		t.Errorf("validator total %s", got)
	}
	p := staking.PositionOf(f.State, bob)
	if !p.HasRole || p.Role != staking.RoleRouter || p.ChangeEpoch != 0 || !f.effective(bob, 0).Eq(emc(100_000)) {
		t.Errorf("bob %+v", p)
	}
	if got, err := m.GenesisValidators(); got != nil || err != nil {
		t.Errorf("GenesisValidators %v %v, want none", got, err)
	}
	if err := m.CheckGenesisValidators([]common.Address{alice}); err != nil {
		t.Errorf("router-only stakes constrain the validators: %v", err)
	}
	g := newFixture(t, "")
	g.at(0, 1)
	g.mustSend(bob, emc(100_000), "stake", uint8(staking.RoleRouter), lockNone)
	a, b := staking.PositionOf(f.State, bob), staking.PositionOf(g.State, bob)
	a.ChangeEpoch, b.ChangeEpoch = 0, 0
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("genesis %+v, staked %+v", a, b)
	}
	f.at(1, 0)
	f.mustSend(bob, nil, "unstake", emc(100_000).ToBig())
	f.moduleInvariant()
}

func TestGenesisStakesRefused(t *testing.T) {
	for _, c := range []struct{ name, raw string }{
		{"duplicate owner", genesisParams(fmt.Sprintf(`,{"owner":"%s","amountWei":"1000000000000000000000000"}`, bob))},
		{"signer is an owner", genesisParams(fmt.Sprintf(`,{"owner":"0x0000000000000000000000000000000000000009","signer":"%s","amountWei":"1000000000000000000000000"}`, bob))},
		{"signer taken", genesisParams(fmt.Sprintf(`,{"owner":"0x0000000000000000000000000000000000000009","signer":"%s","amountWei":"1000000000000000000000000"}`, dave))},
		{"owner is a signer", genesisParams(fmt.Sprintf(`,{"owner":"%s","amountWei":"1000000000000000000000000"}`, dave))},
		{"below minimum", genesisParams(`,{"owner":"0x0000000000000000000000000000000000000009","amountWei":"999999999999999999999999"}`)},
		{"zero owner", genesisParams(`,{"owner":"0x0000000000000000000000000000000000000000","amountWei":"1000000000000000000000000"}`)},
		{"bad lock", genesisParams(`,{"owner":"0x0000000000000000000000000000000000000009","amountWei":"1000000000000000000000000","lock":5}`)},
		{"no amount", genesisParams(`,{"owner":"0x0000000000000000000000000000000000000009"}`)},
		{"unknown field", genesisParams(`,{"owner":"0x0000000000000000000000000000000000000009","amountWei":"1000000000000000000000000","rank":1}`)},
		{"router below minimum", genesisParams(`,{"owner":"0x0000000000000000000000000000000000000009","amountWei":"99999999999999999999999","role":1}`)},
		{"compute role", genesisParams(`,{"owner":"0x0000000000000000000000000000000000000009","amountWei":"1000000000000000000000000","role":2}`)},
		{"unknown role", genesisParams(`,{"owner":"0x0000000000000000000000000000000000000009","amountWei":"1000000000000000000000000","role":7}`)},
		{"router with a signer", genesisParams(`,{"owner":"0x0000000000000000000000000000000000000009","signer":"0x0000000000000000000000000000000000000008","amountWei":"100000000000000000000000","role":1}`)},
		{"overflow", `{"minValidatorStakeWei":"0","genesisStakes":[{"owner":"0x0000000000000000000000000000000000000009","amountWei":"0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},{"owner":"0x0000000000000000000000000000000000000008","amountWei":"1"}]}`},
		{"too many", `{"maxPositions":1,` + strings.TrimPrefix(genesisParams(""), "{")},
		{"min above max validators", `{"minValidators":5,"maxValidators":4}`},
		{"slash fraction 0", `{"slashFractionBps":0}`},
		{"reporter share above 100 %", `{"reporterShareBps":10001}`},
	} {
		if _, err := staking.ParseParams(json.RawMessage(c.raw), 10); !errors.Is(err, native.ErrBadParams) {
			t.Errorf("%s: err %v, want ErrBadParams", c.name, err)
		}
	}
	// Fewer than minValidators stakes elect no set.
	p, err := staking.ParseParams(json.RawMessage(`{"minValidators":5,`+strings.TrimPrefix(genesisParams(""), "{")), 10)
	if err != nil {
		t.Fatal(err)
	}
	m, err := staking.NewModule(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckGenesisValidators([]common.Address{dave, g4, bob, carol}); err == nil {
		t.Error("4 stakes with minValidators 5 accepted")
	}
}

func TestSetAndSlashParams(t *testing.T) {
	p, err := staking.ParseParams(json.RawMessage(`{"maxValidators":10,"minValidators":1,"slashFractionBps":1,"reporterShareBps":0}`), 10)
	if err != nil || p.MaxValidators != 10 || p.MinValidators != 1 || p.SlashFractionBps != 1 || p.ReporterShareBps != 0 {
		t.Fatalf("%+v %v", p, err)
	}
	d := staking.DefaultParams()
	if d.MaxValidators != 100 || d.MinValidators != 4 || d.SlashFractionBps != 10_000 || d.ReporterShareBps != 500 || len(d.GenesisStakes) != 0 {
		t.Fatalf("defaults %+v", d)
	}
}
