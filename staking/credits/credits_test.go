// Credits tests run the module through a real go-ethereum EVM
// (state/native/nativetest), with a test "jobs" module at
// native.JobsAddress that spends credits through the host API the way the
// jobs and relay modules will.
package credits_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

var (
	creditsAddr = native.CreditsAddress
	jobsAddr    = native.JobsAddress
	alice       = common.HexToAddress("0xa11ce00000000000000000000000000000000001")
	bob         = common.HexToAddress("0xb0b0000000000000000000000000000000000002")
	provider    = common.HexToAddress("0x9a0f1de000000000000000000000000000000003")
)

// emc returns n EMC in wei; milli returns n/1000 EMC.
func emc(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1_000_000_000_000_000_000))
}

func milli(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1_000_000_000_000_000))
}

// jobsABI is the test spender module's ABI: spend calls Spend from a
// mutating method, peek from a view method (which the framework must
// refuse, since Spend writes).
const jobsABI = `[
 {"type":"function","name":"spend","stateMutability":"nonpayable","inputs":[{"name":"from","type":"address"},{"name":"provider","type":"address"},{"name":"credits","type":"uint256"}],"outputs":[]},
 {"type":"function","name":"peek","stateMutability":"view","inputs":[{"name":"from","type":"address"},{"name":"provider","type":"address"},{"name":"credits","type":"uint256"}],"outputs":[]},
 {"type":"function","name":"lock","stateMutability":"nonpayable","inputs":[{"name":"from","type":"address"},{"name":"credits","type":"uint256"}],"outputs":[]},
 {"type":"function","name":"release","stateMutability":"nonpayable","inputs":[{"name":"to","type":"address"},{"name":"credits","type":"uint256"}],"outputs":[]}
]`

// jobsModule is a stand-in for the jobs module: it spends credits on behalf
// of from, with no rules of its own.
type jobsModule struct{ credits *credits.Module }

func (j *jobsModule) Name() string            { return "jobs" }
func (j *jobsModule) Address() common.Address { return jobsAddr }
func (j *jobsModule) ABI() string             { return jobsABI }
func (j *jobsModule) Methods() []native.Method {
	h := func(c *native.Call, args []any) ([]any, error) {
		n, _ := uint256.FromBig(args[2].(*big.Int))
		_, err := j.credits.Spend(c, args[0].(common.Address), args[1].(common.Address), n)
		return nil, err
	}
	lock := func(c *native.Call, args []any) ([]any, error) {
		n, _ := uint256.FromBig(args[1].(*big.Int))
		return nil, j.credits.Lock(c, args[0].(common.Address), n)
	}
	release := func(c *native.Call, args []any) ([]any, error) {
		n, _ := uint256.FromBig(args[1].(*big.Int))
		return nil, j.credits.Release(c, args[0].(common.Address), n)
	}
	return []native.Method{
		{Name: "spend", Gas: credits.SpendGas + 1000, Mutates: true, Handler: h},
		{Name: "peek", Gas: credits.SpendGas + 1000, Handler: h},
		{Name: "lock", Gas: credits.LockGas + 1000, Mutates: true, Handler: lock},
		{Name: "release", Gas: credits.ReleaseGas + 1000, Mutates: true, Handler: release},
	}
}

type fixture struct {
	*nativetest.Chain
	t       *testing.T
	mod     *credits.Module
	abi     abi.ABI
	jobsABI abi.ABI
}

// newFixture builds a chain with the credits module (params as JSON, "" for
// defaults) and the test jobs module; alice and bob hold 1000 EMC each.
func newFixture(t testing.TB, params string) *fixture {
	t.Helper()
	var raw json.RawMessage
	if params != "" {
		raw = json.RawMessage(params)
	}
	m, err := credits.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	mod := m.(*credits.Module)
	reg, err := native.NewRegistry(mod, &jobsModule{credits: mod})
	if err != nil {
		t.Fatal(err)
	}
	alloc := types.GenesisAlloc{}
	for _, a := range []common.Address{alice, bob} {
		alloc[a] = types.Account{Balance: emc(1000).ToBig()}
	}
	f := &fixture{Chain: nativetest.New(t, reg, alloc), mod: mod}
	if f.abi, err = abi.JSON(strings.NewReader(m.ABI())); err != nil {
		t.Fatal(err)
	}
	if f.jobsABI, err = abi.JSON(strings.NewReader(jobsABI)); err != nil {
		t.Fatal(err)
	}
	if tt, ok := t.(*testing.T); ok {
		f.t = tt
	}
	return f
}

func pack(t testing.TB, a abi.ABI, name string, args ...any) []byte {
	t.Helper()
	data, err := a.Pack(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// buy sends buyCredits(to) from from with valueWei.
func (f *fixture) buy(from common.Address, valueWei *uint256.Int, to common.Address) (*resultT, []*types.Log) {
	f.t.Helper()
	res, logs := f.Apply(f.Msg(from, &creditsAddr, valueWei, pack(f.t, f.abi, "buyCredits", to)))
	return &resultT{res.UsedGas, res.Err, res.ReturnData}, logs
}

// spend has the test jobs module spend n of from's credits for prov.
func (f *fixture) spend(sender, from, prov common.Address, n uint64) (*resultT, []*types.Log) {
	f.t.Helper()
	data := pack(f.t, f.jobsABI, "spend", from, prov, new(big.Int).SetUint64(n))
	res, logs := f.Apply(f.Msg(sender, &jobsAddr, nil, data))
	return &resultT{res.UsedGas, res.Err, res.ReturnData}, logs
}

type resultT struct {
	gasUsed uint64
	err     error
	ret     []byte
}

// reason decodes a revert reason ("" if the call did not revert).
func (r *resultT) reason() string {
	if r.err == nil {
		return ""
	}
	s, err := abi.UnpackRevert(r.ret)
	if err != nil {
		return r.err.Error()
	}
	return s
}

// view runs a read-only method with eth_call semantics.
func (f *fixture) view(name string, args ...any) *uint256.Int {
	f.t.Helper()
	res := f.Call(f.Msg(alice, &creditsAddr, nil, pack(f.t, f.abi, name, args...)))
	if res.Err != nil {
		f.t.Fatalf("%s: %v", name, res.Err)
	}
	out, err := f.abi.Unpack(name, res.ReturnData)
	if err != nil {
		f.t.Fatalf("%s: unpack: %v", name, err)
	}
	return uint256.MustFromBig(out[0].(*big.Int))
}

// checkInvariant: balance == reserve == totalCredits × price == Σ credits ×
// price over accounts, and reserve + burned + paid == paidIn.
func (f *fixture) checkInvariant(t testing.TB, accounts []common.Address, paidIn *uint256.Int) {
	t.Helper()
	price := f.mod.Params().CreditPriceWei
	bal := f.State.GetBalance(creditsAddr)
	reserve := credits.Reserve(f.State)
	total := credits.TotalCredits(f.State)
	sum := new(uint256.Int)
	for _, a := range accounts {
		sum.Add(sum, credits.CreditsOf(f.State, a))
	}
	if !bal.Eq(reserve) || !reserve.Eq(new(uint256.Int).Mul(total, price)) || !sum.Eq(total) {
		t.Fatalf("invariant: balance %s, reserve %s, total %s × price %s, Σ credits %s", bal, reserve, total, price, sum)
	}
	out := new(uint256.Int).Add(reserve, credits.Burned(f.State))
	out.Add(out, credits.PaidToProviders(f.State))
	if !out.Eq(paidIn) {
		t.Fatalf("reserve + burned + paid = %s, paid in %s", out, paidIn)
	}
}

func declared(data []byte, methodGas uint64) uint64 {
	return nativetest.IntrinsicGas(data) + methodGas + (uint64(len(data))+31)/32*native.GasPerInputWord
}

func TestBuyExactBalances(t *testing.T) {
	f := newFixture(t, "")
	start := f.State.GetBalance(alice).Clone()
	res, logs := f.buy(alice, emc(1), bob)
	if res.err != nil {
		t.Fatalf("buy: %s", res.reason())
	}
	if want := declared(pack(t, f.abi, "buyCredits", bob), credits.BuyGas); res.gasUsed != want {
		t.Errorf("gas %d, want %d", res.gasUsed, want)
	}
	want := new(uint256.Int).Sub(start, emc(1))
	want.Sub(want, nativetest.Fee(res.gasUsed))
	if got := f.State.GetBalance(alice); !got.Eq(want) {
		t.Errorf("alice balance %s, want %s", got, want)
	}
	if got := f.view("creditsOf", bob); !got.Eq(uint256.NewInt(100)) {
		t.Errorf("creditsOf(bob) = %s, want 100", got)
	}
	if got := f.view("creditsOf", alice); !got.IsZero() {
		t.Errorf("creditsOf(alice) = %s, want 0", got)
	}
	if got := f.view("totalCredits"); !got.Eq(uint256.NewInt(100)) {
		t.Errorf("totalCredits = %s", got)
	}
	if got := f.view("reserve"); !got.Eq(emc(1)) {
		t.Errorf("reserve = %s", got)
	}
	if got := f.view("creditPrice"); !got.Eq(milli(10)) {
		t.Errorf("creditPrice = %s", got)
	}
	if len(logs) != 1 {
		t.Fatalf("%d logs", len(logs))
	}
	ev := f.abi.Events["CreditsBought"]
	l := logs[0]
	if l.Address != creditsAddr || len(l.Topics) != 3 || l.Topics[0] != ev.ID ||
		l.Topics[1] != common.BytesToHash(alice[:]) || l.Topics[2] != common.BytesToHash(bob[:]) {
		t.Fatalf("log %+v", l)
	}
	vals, err := ev.Inputs.NonIndexed().Unpack(l.Data)
	if err != nil || vals[0].(*big.Int).Uint64() != 100 || vals[1].(*big.Int).Cmp(emc(1).ToBig()) != 0 {
		t.Fatalf("log data %v, %v", vals, err)
	}
	f.checkInvariant(t, []common.Address{alice, bob}, emc(1))
}

// TestBuyRejects: every bad purchase reverts, leaving the buyer with all but
// the fee and the module untouched.
func TestBuyRejects(t *testing.T) {
	f := newFixture(t, "")
	f.buy(alice, emc(1), alice) // something to keep untouched
	notMultiple := new(uint256.Int).Add(emc(1), uint256.NewInt(1))
	cases := []struct {
		name  string
		value *uint256.Int
		to    common.Address
		want  error
	}{
		{"zero value", new(uint256.Int), bob, credits.ErrZeroValue},
		{"not a multiple", notMultiple, bob, credits.ErrNotMultiple},
		{"below the price", uint256.NewInt(1), bob, credits.ErrNotMultiple},
		{"zero address", emc(1), common.Address{}, credits.ErrZeroAddress},
	}
	for _, tc := range cases {
		before := f.State.GetBalance(bob).Clone()
		root := f.State.GetStorageRoot(creditsAddr)
		res, logs := f.buy(bob, tc.value, tc.to)
		if !errors.Is(res.err, vm.ErrExecutionReverted) || !strings.HasPrefix(res.reason(), tc.want.Error()) {
			t.Errorf("%s: err %v reason %q, want %q", tc.name, res.err, res.reason(), tc.want)
			continue
		}
		if len(logs) != 0 {
			t.Errorf("%s: %d logs", tc.name, len(logs))
		}
		want := new(uint256.Int).Sub(before, nativetest.Fee(res.gasUsed))
		if got := f.State.GetBalance(bob); !got.Eq(want) {
			t.Errorf("%s: bob %s, want %s (payment returned, fee kept)", tc.name, got, want)
		}
		if f.State.GetStorageRoot(creditsAddr) != root {
			t.Errorf("%s: module storage changed", tc.name)
		}
	}
	f.checkInvariant(t, []common.Address{alice, bob}, emc(1))
}

// TestBuyOverflow: a recipient whose balance would pass 2^256-1 reverts.
func TestBuyOverflow(t *testing.T) {
	f := newFixture(t, "")
	max := new(uint256.Int).SetAllOne()
	f.State.SetState(creditsAddr, credits.CreditsKey(bob), max.Bytes32())
	res, _ := f.buy(alice, emc(1), bob)
	if !strings.HasPrefix(res.reason(), credits.ErrOverflow.Error()) {
		t.Fatalf("reason %q, want overflow", res.reason())
	}
	if _, err := f.mod.Split(max); !errors.Is(err, credits.ErrOverflow) {
		t.Fatalf("Split(2^256-1) err %v, want ErrOverflow", err)
	}
}

// TestFromContract: contracts read the views, but cannot buy (with or
// without value), as with every state-changing module method.
func TestFromContract(t *testing.T) {
	f := newFixture(t, "")
	f.buy(alice, emc(2), alice)
	viewer := f.Deploy(nativetest.Forwarder(creditsAddr, vm.STATICCALL))
	res := f.Call(f.Msg(bob, &viewer, nil, pack(t, f.abi, "creditsOf", alice)))
	if res.Err != nil {
		t.Fatalf("creditsOf via contract: %v", res.Err)
	}
	if out, _ := f.abi.Unpack("creditsOf", res.ReturnData); out[0].(*big.Int).Uint64() != 200 {
		t.Fatalf("creditsOf via contract = %v", out)
	}
	caller := f.Deploy(nativetest.Forwarder(creditsAddr, vm.CALL))
	for _, v := range []*uint256.Int{emc(1), new(uint256.Int)} {
		before := f.State.GetBalance(bob).Clone()
		r, _ := f.Apply(f.Msg(bob, &caller, v, pack(t, f.abi, "buyCredits", bob)))
		if r.Err == nil {
			t.Fatalf("buyCredits via contract with %s wei succeeded", v)
		}
		reason, _ := abi.UnpackRevert(r.ReturnData)
		if !strings.Contains(reason, "native:") {
			t.Errorf("reason %q", reason)
		}
		if got, want := f.State.GetBalance(bob), new(uint256.Int).Sub(before, nativetest.Fee(r.UsedGas)); !got.Eq(want) {
			t.Errorf("bob %s, want %s", got, want)
		}
	}
	if got := credits.CreditsOf(f.State, bob); !got.IsZero() {
		t.Fatalf("bob got %s credits through a contract", got)
	}
	f.checkInvariant(t, []common.Address{alice, bob}, emc(2))
}

// TestWorkedExample pins docs/economics.md, section "Credits": alice pays
// 1 EMC for 100 Credits; a job spends 30 of them for a provider, which
// receives 0.24 EMC while 0.06 EMC is burned; 70 Credits and 0.7 EMC of
// reserve are left.
func TestWorkedExample(t *testing.T) {
	f := newFixture(t, "")
	if res, _ := f.buy(alice, emc(1), alice); res.err != nil {
		t.Fatal(res.reason())
	}
	res, logs := f.spend(bob, alice, provider, 30)
	if res.err != nil {
		t.Fatalf("spend: %s", res.reason())
	}
	if got := f.State.GetBalance(provider); !got.Eq(milli(240)) {
		t.Errorf("provider got %s, want 0.24 EMC", got)
	}
	if got := credits.Burned(f.State); !got.Eq(milli(60)) {
		t.Errorf("burned %s, want 0.06 EMC", got)
	}
	if got := f.view("burned"); !got.Eq(milli(60)) {
		t.Errorf("burned() %s", got)
	}
	if got := credits.Reserve(f.State); !got.Eq(milli(700)) {
		t.Errorf("reserve %s, want 0.7 EMC", got)
	}
	if got := credits.CreditsOf(f.State, alice); !got.Eq(uint256.NewInt(70)) {
		t.Errorf("alice has %s credits, want 70", got)
	}
	if len(logs) != 1 || logs[0].Address != creditsAddr || logs[0].Topics[0] != f.abi.Events["CreditsSpent"].ID {
		t.Fatalf("logs %+v", logs)
	}
	f.checkInvariant(t, []common.Address{alice, bob}, emc(1))
	// Σ balances shrank by exactly the burn (and the fees): supply accounting.
	s, _ := f.mod.Split(uint256.NewInt(30))
	if !s.AmountWei.Eq(milli(300)) || !s.ProviderWei.Eq(milli(240)) || !s.BurnedWei.Eq(milli(60)) {
		t.Fatalf("Split(30) = %+v", s)
	}
}

// TestSplitRounding: the provider's share rounds down, the remainder burns.
func TestSplitRounding(t *testing.T) {
	f := newFixture(t, `{"creditPriceWei":"7","providerSharePercent":80}`)
	s, err := f.mod.Split(uint256.NewInt(3)) // 21 wei: 16.8 → 16 to the provider, 5 burned
	if err != nil || s.ProviderWei.Uint64() != 16 || s.BurnedWei.Uint64() != 5 {
		t.Fatalf("Split(3) = %+v, %v", s, err)
	}
}

// TestSpendRejects: spends beyond the balance, of zero, to the zero address,
// from a read-only method, by no module, or through a transaction all fail
// and change nothing.
func TestSpendRejects(t *testing.T) {
	f := newFixture(t, "")
	f.buy(alice, emc(1), alice)
	root := f.State.GetStorageRoot(creditsAddr)
	for _, tc := range []struct {
		name string
		from common.Address
		prov common.Address
		n    uint64
		want error
	}{
		{"more than the balance", alice, provider, 101, credits.ErrInsufficientCredits},
		{"no credits at all", bob, provider, 1, credits.ErrInsufficientCredits},
		{"zero", alice, provider, 0, credits.ErrZeroCredits},
		{"zero provider", alice, common.Address{}, 1, credits.ErrZeroAddress},
	} {
		res, _ := f.spend(bob, tc.from, tc.prov, tc.n)
		if !strings.HasPrefix(res.reason(), tc.want.Error()) {
			t.Errorf("%s: reason %q, want %q", tc.name, res.reason(), tc.want)
		}
	}
	// A view method of another module that spends: the framework refuses
	// the write.
	data := pack(t, f.jobsABI, "peek", alice, provider, big.NewInt(1))
	if res := f.Call(f.Msg(bob, &jobsAddr, nil, data)); res.Err == nil {
		t.Error("spend from a view method succeeded")
	} else if r, _ := abi.UnpackRevert(res.ReturnData); !strings.Contains(r, "wrote state") {
		t.Errorf("view spend reason %q", r)
	}
	// There is no spend method on the module itself: an EOA or contract
	// sending a spend selector to it hits an unknown method.
	sel := pack(t, f.jobsABI, "spend", alice, provider, big.NewInt(1))
	if res, _ := f.Apply(f.Msg(alice, &creditsAddr, nil, sel)); res.Err == nil {
		t.Error("spend selector on the credits module succeeded")
	} else if r, _ := abi.UnpackRevert(res.ReturnData); !strings.Contains(r, native.ErrUnknownMethod.Error()) {
		t.Errorf("spend selector reason %q", r)
	}
	// Go callers without a module call: nil, a non-module address, the
	// credits module itself.
	for _, c := range []*native.Call{nil, {State: f.State, Module: alice}, {State: f.State, Module: creditsAddr}} {
		if _, err := f.mod.Spend(c, alice, provider, uint256.NewInt(1)); !errors.Is(err, credits.ErrNotModule) {
			t.Errorf("Spend from %+v: %v, want ErrNotModule", c, err)
		}
	}
	if f.State.GetStorageRoot(creditsAddr) != root {
		t.Error("a refused spend changed the module's storage")
	}
	if got := f.State.GetBalance(provider); !got.IsZero() {
		t.Errorf("provider got %s", got)
	}
	f.checkInvariant(t, []common.Address{alice, bob}, emc(1))
}

func TestParams(t *testing.T) {
	for _, bad := range []string{
		`{"creditPriceWei":"0"}`, `{"creditPriceWei":"-1"}`, `{"providerSharePercent":101}`,
		`{"creditPrice":"1"}`, `{"creditPriceWei":"0x1` + strings.Repeat("0", 64) + `"}`, `[`,
	} {
		if _, err := credits.New(json.RawMessage(bad)); !errors.Is(err, native.ErrBadParams) {
			t.Errorf("params %s: err %v, want ErrBadParams", bad, err)
		}
	}
	m, err := credits.New(json.RawMessage(`{"creditPriceWei":"0x10","providerSharePercent":0}`))
	if err != nil {
		t.Fatal(err)
	}
	p := m.(*credits.Module).Params()
	if p.CreditPriceWei.Uint64() != 16 || p.ProviderSharePercent != 0 {
		t.Fatalf("params %+v", p)
	}
	d := credits.DefaultParams()
	if d.CreditPriceWei.Uint64() != 10_000_000_000_000_000 || d.ProviderSharePercent != 80 {
		t.Fatalf("defaults %+v", d)
	}
}
