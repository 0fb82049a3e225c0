// Framework tests: a small test module ("probe") is run through a real
// go-ethereum EVM with nativetest, exercising each rule of the framework's
// contract (dispatch, gas, value, caller, revert, logs, genesis) once.
package native_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

const probeABI = `[
 {"type":"function","name":"set","stateMutability":"nonpayable","inputs":[{"name":"v","type":"uint256"}],"outputs":[]},
 {"type":"function","name":"get","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"deposit","stateMutability":"payable","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"sneaky","stateMutability":"view","inputs":[],"outputs":[]},
 {"type":"function","name":"fail","stateMutability":"nonpayable","inputs":[],"outputs":[]},
 {"type":"function","name":"page","stateMutability":"view","inputs":[{"name":"n","type":"uint256"}],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"chain","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"event","name":"Set","anonymous":false,"inputs":[{"name":"who","type":"address","indexed":true},{"name":"v","type":"uint256","indexed":false}]}
]`

const (
	setGas     = 30_000
	getGas     = 2_200
	depositGas = 500
	pageGas    = 1_000
	pageGasPer = 10
)

var probeAddr = common.HexToAddress("0x00000000000000000000000000000000000010ff")

// errBoom is what the probe's fail method returns.
var errBoom = errors.New("probe: boom")

type probe struct{}

func (probe) Name() string            { return "probe" }
func (probe) Address() common.Address { return probeAddr }
func (probe) ABI() string             { return probeABI }
func (probe) Methods() []native.Method {
	return []native.Method{
		{Name: "set", Gas: setGas, Mutates: true, Handler: func(c *native.Call, args []any) ([]any, error) {
			v := args[0].(*big.Int)
			c.Store(native.Slot(0), common.BigToHash(v))
			return nil, c.Emit("Set", c.Caller, v)
		}},
		{Name: "get", Gas: getGas, Handler: func(c *native.Call, _ []any) ([]any, error) {
			return []any{c.LoadUint(native.Slot(0)).ToBig()}, nil
		}},
		{Name: "deposit", Gas: depositGas, Mutates: true, Handler: func(c *native.Call, _ []any) ([]any, error) {
			return []any{c.Value.ToBig()}, nil
		}},
		{Name: "sneaky", Gas: 100, Handler: func(c *native.Call, _ []any) ([]any, error) {
			c.Store(native.Slot(1), common.Hash{1}) // a view that writes: a module bug
			return nil, nil
		}},
		{Name: "fail", Gas: 100, Mutates: true, Handler: func(c *native.Call, _ []any) ([]any, error) {
			c.Store(native.Slot(0), common.Hash{0xff}) // rolled back by the revert
			return nil, errBoom
		}},
		{Name: "page", Gas: pageGas, InputGas: func(args []any) uint64 {
			return args[0].(*big.Int).Uint64() * pageGasPer
		}, Handler: func(c *native.Call, args []any) ([]any, error) {
			return []any{args[0]}, nil
		}},
		{Name: "chain", Gas: getGas, Handler: func(c *native.Call, _ []any) ([]any, error) {
			id := c.ChainID.ToBig()
			c.ChainID.SetUint64(0) // a handler scribbling on its copy must not reach the config
			return []any{id}, nil
		}},
	}
}

var (
	alice = common.HexToAddress("0xa11ce00000000000000000000000000000000001")
	eth   = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
)

func newProbeChain(t testing.TB) (*nativetest.Chain, abi.ABI) {
	t.Helper()
	reg, err := native.NewRegistry(probe{})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := abi.JSON(strings.NewReader(probeABI))
	if err != nil {
		t.Fatal(err)
	}
	c := nativetest.New(t, reg, types.GenesisAlloc{alice: {Balance: new(big.Int).Mul(eth, big.NewInt(100))}})
	return c, parsed
}

func pack(t *testing.T, a abi.ABI, name string, args ...any) []byte {
	t.Helper()
	data, err := a.Pack(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func words(data []byte) uint64 { return (uint64(len(data)) + 31) / 32 }

func revertReason(t *testing.T, ret []byte) string {
	t.Helper()
	reason, err := abi.UnpackRevert(ret)
	if err != nil {
		t.Fatalf("revert data %x: %v", ret, err)
	}
	return reason
}

func TestDirectCallGasLogsAndState(t *testing.T) {
	c, a := newProbeChain(t)
	data := pack(t, a, "set", big.NewInt(42))
	res, logs := c.Apply(c.Msg(alice, &probeAddr, nil, data))
	if res.Err != nil {
		t.Fatalf("set: %v", res.Err)
	}
	want := nativetest.IntrinsicGas(data) + setGas + words(data)*native.GasPerInputWord
	if res.UsedGas != want {
		t.Errorf("gas used %d, want %d (intrinsic + declared)", res.UsedGas, want)
	}
	if got := c.State.GetState(probeAddr, native.Slot(0)); got != common.BigToHash(big.NewInt(42)) {
		t.Errorf("slot 0 = %x", got)
	}
	if len(logs) != 1 {
		t.Fatalf("%d logs, want 1", len(logs))
	}
	l := logs[0]
	if l.Address != probeAddr || len(l.Topics) != 2 || l.Topics[0] != a.Events["Set"].ID ||
		l.Topics[1] != common.BytesToHash(alice[:]) {
		t.Errorf("log %+v", l)
	}
	vals, err := a.Events["Set"].Inputs.NonIndexed().Unpack(l.Data)
	if err != nil || vals[0].(*big.Int).Int64() != 42 {
		t.Errorf("log data %x: %v %v", l.Data, vals, err)
	}

	res = c.Call(c.Msg(alice, &probeAddr, nil, pack(t, a, "get")))
	if res.Err != nil || new(big.Int).SetBytes(res.ReturnData).Int64() != 42 {
		t.Errorf("get = %x, %v", res.ReturnData, res.Err)
	}
}

func TestInputGas(t *testing.T) {
	c, a := newProbeChain(t)
	data := pack(t, a, "page", big.NewInt(7))
	res := c.Call(c.Msg(alice, &probeAddr, nil, data))
	want := nativetest.IntrinsicGas(data) + pageGas + 7*pageGasPer + words(data)*native.GasPerInputWord
	if res.Err != nil || res.UsedGas != want {
		t.Errorf("page: used %d want %d, err %v", res.UsedGas, want, res.Err)
	}
}

// TestReverts covers every framework revert of a direct call: the reason is
// surfaced, state and logs are rolled back, and unused gas is kept (only the
// declared gas is used).
func TestReverts(t *testing.T) {
	c, a := newProbeChain(t)
	oneEth := uint256.MustFromBig(eth)
	cases := []struct {
		name    string
		data    []byte
		value   *uint256.Int
		wantErr error
		gas     uint64 // module gas charged
	}{
		{"unknown selector", []byte{1, 2, 3, 4, 5}, nil, native.ErrUnknownMethod, native.RejectGas},
		{"short input", []byte{1, 2}, nil, native.ErrUnknownMethod, native.RejectGas},
		{"empty input", nil, nil, native.ErrUnknownMethod, native.RejectGas},
		{"bad args", pack(t, a, "set", big.NewInt(1))[:20], nil, native.ErrBadInput, setGas},
		{"value to nonpayable", pack(t, a, "set", big.NewInt(1)), oneEth, native.ErrNotPayable, setGas},
		{"value to view", pack(t, a, "get"), oneEth, native.ErrNotPayable, getGas},
		{"handler error", pack(t, a, "fail"), nil, errBoom, 100},
		{"view writes", pack(t, a, "sneaky"), nil, native.ErrInternal, 100},
		{"too large", append(pack(t, a, "get"), make([]byte, native.MaxInputBytes)...), nil, native.ErrInputTooLarge, native.RejectGas},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := c.State.GetBalance(alice).Clone()
			msg := c.Msg(alice, &probeAddr, tc.value, tc.data)
			msg.GasLimit = 5_000_000
			res, logs := c.Apply(msg)
			if !errors.Is(res.Err, vm.ErrExecutionReverted) {
				t.Fatalf("err %v, want revert", res.Err)
			}
			if reason := revertReason(t, res.ReturnData); !strings.HasPrefix(reason, tc.wantErr.Error()) {
				t.Errorf("reason %q, want prefix %q", reason, tc.wantErr)
			}
			want := nativetest.IntrinsicGas(tc.data) + tc.gas + words(tc.data)*native.GasPerInputWord
			if res.UsedGas != want {
				t.Errorf("gas used %d, want %d", res.UsedGas, want)
			}
			if len(logs) != 0 {
				t.Errorf("%d logs from a reverted call", len(logs))
			}
			// Only the fee left alice; only her nonce and the fee recipients changed.
			spent := new(uint256.Int).Sub(before, c.State.GetBalance(alice))
			if !spent.Eq(nativetest.Fee(res.UsedGas)) {
				t.Errorf("alice spent %s, want fee %s", spent, nativetest.Fee(res.UsedGas))
			}
			if got := c.State.GetState(probeAddr, native.Slot(0)); got != (common.Hash{}) {
				t.Errorf("slot 0 = %x after revert", got)
			}
			if got := c.State.GetState(probeAddr, native.Slot(1)); got != (common.Hash{}) {
				t.Errorf("slot 1 = %x after revert", got)
			}
			if !c.State.GetBalance(probeAddr).IsZero() {
				t.Errorf("module balance %s after revert", c.State.GetBalance(probeAddr))
			}
		})
	}
}

func TestPayable(t *testing.T) {
	c, a := newProbeChain(t)
	v := uint256.NewInt(12345)
	res, _ := c.Apply(c.Msg(alice, &probeAddr, v, pack(t, a, "deposit")))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := new(big.Int).SetBytes(res.ReturnData); got.Uint64() != 12345 {
		t.Errorf("deposit saw value %s", got)
	}
	if !c.State.GetBalance(probeAddr).Eq(v) {
		t.Errorf("module balance %s", c.State.GetBalance(probeAddr))
	}
}

// TestFromContract: read-only methods work from contracts (STATICCALL,
// CALL, DELEGATECALL); state-changing methods and value revert with the
// documented reasons.
func TestFromContract(t *testing.T) {
	c, a := newProbeChain(t)
	if res, _ := c.Apply(c.Msg(alice, &probeAddr, nil, pack(t, a, "set", big.NewInt(9)))); res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, op := range []vm.OpCode{vm.STATICCALL, vm.CALL, vm.DELEGATECALL} {
		fwd := c.Deploy(nativetest.Forwarder(probeAddr, op))
		t.Run(op.String(), func(t *testing.T) {
			res, _ := c.Apply(c.Msg(alice, &fwd, nil, pack(t, a, "get")))
			if res.Err != nil || new(big.Int).SetBytes(res.ReturnData).Int64() != 9 {
				t.Fatalf("get via %s: %x %v", op, res.ReturnData, res.Err)
			}
			res, logs := c.Apply(c.Msg(alice, &fwd, nil, pack(t, a, "set", big.NewInt(1))))
			if !errors.Is(res.Err, vm.ErrExecutionReverted) || len(logs) != 0 {
				t.Fatalf("set via %s: %v, %d logs", op, res.Err, len(logs))
			}
			if reason := revertReason(t, res.ReturnData); !strings.HasPrefix(reason, native.ErrNotDirect.Error()) {
				t.Errorf("reason %q", reason)
			}
			if got := c.State.GetState(probeAddr, native.Slot(0)); got != common.BigToHash(big.NewInt(9)) {
				t.Errorf("state changed by contract call: %x", got)
			}
		})
	}
	t.Run("value", func(t *testing.T) {
		fwd := c.Deploy(nativetest.Forwarder(probeAddr, vm.CALL))
		res, _ := c.Apply(c.Msg(alice, &fwd, uint256.NewInt(5), pack(t, a, "get")))
		if !errors.Is(res.Err, vm.ErrExecutionReverted) {
			t.Fatalf("get with value via CALL: %v", res.Err)
		}
		if reason := revertReason(t, res.ReturnData); !strings.HasPrefix(reason, native.ErrValueFromContract.Error()) {
			t.Errorf("reason %q", reason)
		}
		if !c.State.GetBalance(probeAddr).IsZero() {
			t.Errorf("module kept value: %s", c.State.GetBalance(probeAddr))
		}
	})
}

// TestModuleAccountSurvives: the module account is not EIP-161 empty, so
// Finalise(true) does not delete it even after calls that touch it, and a
// plain EVM CALL can never reach its 0xFE code (the precompile binding wins).
func TestModuleAccountSurvives(t *testing.T) {
	c, a := newProbeChain(t)
	c.Apply(c.Msg(alice, &probeAddr, nil, pack(t, a, "get")))
	c.State.Finalise(c.Rules())
	if !c.State.Exist(probeAddr) || c.State.GetNonce(probeAddr) != 1 ||
		string(c.State.GetCode(probeAddr)) != string([]byte{0xfe}) {
		t.Fatalf("module account after Finalise: exist=%t nonce=%d code=%x",
			c.State.Exist(probeAddr), c.State.GetNonce(probeAddr), c.State.GetCode(probeAddr))
	}
	// Without Bind (an executor that forgot it), calling the address hits
	// INVALID and fails loudly instead of succeeding silently.
	evm := vm.NewEVM(c.BlockContext(), c.State, c.Config, vm.Config{})
	_, _, err := evm.Call(alice, probeAddr, pack(t, a, "get"), vm.NewGasBudget(100_000, 0), new(uint256.Int))
	if err == nil {
		t.Fatal("unbound call to module address succeeded")
	}
}

// TestChainID: a handler sees the EVM's chain id, in direct calls and in
// calls from contracts, and holds a copy of it, not the config's.
func TestChainID(t *testing.T) {
	c, a := newProbeChain(t)
	fwd := c.Deploy(nativetest.Forwarder(probeAddr, vm.STATICCALL))
	for _, id := range []int64{1337, 4242, 1337} {
		c.Config.ChainID = big.NewInt(id)
		for _, to := range []common.Address{probeAddr, fwd} {
			res := c.Call(c.Msg(alice, &to, nil, pack(t, a, "chain")))
			if res.Err != nil {
				t.Fatalf("chain via %s: %v", to, res.Err)
			}
			if got := new(big.Int).SetBytes(res.ReturnData); got.Int64() != id {
				t.Errorf("chain id via %s = %s, want %d", to, got, id)
			}
		}
		if c.Config.ChainID.Int64() != id {
			t.Fatalf("a handler changed the config's chain id to %s", c.Config.ChainID)
		}
	}
}

func TestDeterministicRoot(t *testing.T) {
	run := func() common.Hash {
		c, a := newProbeChain(t)
		for i := range 5 {
			c.Apply(c.Msg(alice, &probeAddr, nil, pack(t, a, "set", big.NewInt(int64(i)))))
			c.Apply(c.Msg(alice, &probeAddr, uint256.NewInt(uint64(i)), pack(t, a, "deposit")))
		}
		return c.Root()
	}
	if r1, r2 := run(), run(); r1 != r2 {
		t.Fatalf("roots differ: %x %x", r1, r2)
	}
}

func TestRegistryValidation(t *testing.T) {
	if _, err := native.NewRegistry(probe{}, probe{}); !errors.Is(err, native.ErrDuplicateModule) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := native.NewRegistry(badModule{addr: common.HexToAddress("0x01")}); !errors.Is(err, native.ErrNotReserved) {
		t.Errorf("not reserved: %v", err)
	}
	for name, mut := range map[string]func(*badModule){
		"abi":          func(m *badModule) { m.abi = "{" },
		"missing":      func(m *badModule) { m.methods = m.methods[:1] },
		"unknown":      func(m *badModule) { m.methods[0].Name = "nope" },
		"mutates":      func(m *badModule) { m.methods[0].Mutates = !m.methods[0].Mutates },
		"nil handler":  func(m *badModule) { m.methods[0].Handler = nil },
		"listed twice": func(m *badModule) { m.methods[1] = m.methods[0] },
	} {
		m := badModule{addr: probeAddr, abi: probeABI, methods: probe{}.Methods()}
		mut(&m)
		if _, err := native.NewRegistry(m); !errors.Is(err, native.ErrBadABI) {
			t.Errorf("%s: %v", name, err)
		}
	}
	reg, err := native.NewRegistry(probe{})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := reg.Lookup(probeAddr); !ok || m.Name() != "probe" {
		t.Errorf("Lookup: %v %v", m, ok)
	}
	if _, ok := reg.Lookup(alice); ok {
		t.Error("Lookup found a module at a plain address")
	}
	info := reg.SystemContracts()
	if len(info) != 1 || info[0].Name != "probe" || info[0].Address != probeAddr || string(info[0].ABI) != probeABI {
		t.Errorf("SystemContracts: %+v", info)
	}
	acct := reg.GenesisAlloc()[probeAddr]
	if acct.Nonce != 1 || len(acct.Code) != 1 || acct.Code[0] != 0xfe || acct.Balance.Sign() != 0 {
		t.Errorf("genesis account %+v", acct)
	}
}

type badModule struct {
	addr    common.Address
	abi     string
	methods []native.Method
}

func (m badModule) Name() string             { return "bad" }
func (m badModule) Address() common.Address  { return m.addr }
func (m badModule) ABI() string              { return m.abi }
func (m badModule) Methods() []native.Method { return m.methods }

func TestLoad(t *testing.T) {
	factories := map[string]native.Factory{
		"probe": func(p json.RawMessage) (native.Module, error) {
			if p != nil && string(p) != "{}" {
				return nil, fmt.Errorf("%w: unexpected %s", native.ErrBadParams, p)
			}
			return probe{}, nil
		},
	}
	if _, err := native.Load(nil, factories); err != nil {
		t.Errorf("no params: %v", err)
	}
	if _, err := native.Load(map[string]json.RawMessage{"probe": []byte("{}")}, factories); err != nil {
		t.Errorf("empty params: %v", err)
	}
	if _, err := native.Load(map[string]json.RawMessage{"probe": []byte(`{"x":1}`)}, factories); !errors.Is(err, native.ErrBadParams) {
		t.Errorf("bad params: %v", err)
	}
	if _, err := native.Load(map[string]json.RawMessage{"prbe": []byte("{}")}, factories); !errors.Is(err, native.ErrUnknownModule) {
		t.Errorf("typo: %v", err)
	}
}

func TestEncodeRevert(t *testing.T) {
	for _, s := range []string{"", "x", strings.Repeat("a", 32), strings.Repeat("b", 33), "native: ünïcode"} {
		got, err := abi.UnpackRevert(native.EncodeRevert(s))
		if err != nil || got != s {
			t.Errorf("round trip %q: %q %v", s, got, err)
		}
	}
}

func TestIsReserved(t *testing.T) {
	for addr, want := range map[string]bool{
		"0x0000000000000000000000000000000000001000": true,
		"0x00000000000000000000000000000000000010ff": true,
		"0x0000000000000000000000000000000000001100": false,
		"0x0000000000000000000000000000000000000fff": false,
		"0x0000000000000000000000000000000000000001": false,
		"0x0100000000000000000000000000000000001000": false,
	} {
		if got := native.IsReserved(common.HexToAddress(addr)); got != want {
			t.Errorf("IsReserved(%s) = %t", addr, got)
		}
	}
	for _, a := range []common.Address{native.StakingAddress, native.RegistryAddress, native.JobsAddress, native.CreditsAddress, native.RewardsAddress} {
		if !native.IsReserved(a) {
			t.Errorf("table address %s not reserved", a)
		}
	}
}
