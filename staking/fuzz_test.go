package staking_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// FuzzModule feeds arbitrary input (and value, direct or from a contract) to
// the staking module after a stake exists: it never panics, fails only by
// reverting with a decodable reason, and keeps the module balance equal to
// the stakes plus unbonding.
func FuzzModule(f *testing.F) {
	m, err := staking.New(nil)
	if err != nil {
		f.Fatal(err)
	}
	a, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range a.Methods {
		f.Add(m.ID, true, uint64(0))
		f.Add(append(m.ID, make([]byte, 64)...), true, uint64(2_000_000_000_000_000_000))
		f.Add(append(m.ID, 0xff), false, uint64(1))
	}
	f.Fuzz(func(t *testing.T, input []byte, direct bool, value uint64) {
		fx := newFixture(t, "")
		fx.mustSend(bob, emc(3), "stake", compute, lockNone)
		to := native.StakingAddress
		if !direct {
			to = common.HexToAddress("0xc0de")
		}
		msg := fx.Msg(alice, &to, uint256.NewInt(value), input)
		ret, err := fx.Invoke(msg, native.StakingAddress, input, uint256.NewInt(value))
		if err != nil && !errors.Is(err, vm.ErrOutOfGas) {
			if !errors.Is(err, vm.ErrExecutionReverted) {
				t.Fatalf("error %v is not a revert", err)
			}
			if _, uerr := abi.UnpackRevert(ret); uerr != nil {
				t.Fatalf("revert data %x: %v", ret, uerr)
			}
		}
		sum := new(uint256.Int).Add(staking.TotalStake(fx.State, staking.RoleCompute), staking.TotalUnbonding(fx.State))
		for _, r := range []staking.Role{staking.RoleValidator, staking.RoleRouter} {
			sum.Add(sum, staking.TotalStake(fx.State, r))
		}
		if bal := fx.State.GetBalance(native.StakingAddress); !sum.Eq(bal) {
			t.Fatalf("stakes + unbonding %s != module balance %s", sum, bal)
		}
	})
}

// FuzzScript runs an operation script (7 bytes an operation: kind, actor,
// role, lock, amount ×2, signer/advance) through the property test's
// simulator: every outcome matches the rules and every invariant holds.
func FuzzScript(f *testing.F) {
	f.Add([]byte{0, 0, 2, 0, 0, 9, 0, 4, 0, 0, 0, 0, 0, 12, 1, 0, 0, 0, 0, 5, 0, 4, 0, 0, 0, 0, 0, 40, 2, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 1, 0x10, 0, 0, 3, 1, 0, 0, 0, 0, 4, 3, 1, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 7*200 {
			return
		}
		s := newSim(t, "FUZZ")
		for i := 0; i+7 <= len(script); i += 7 {
			b := script[i : i+7]
			o := op{kind: int(b[0] % 5), actor: int(b[1]) % len(s.actors), role: b[2], lock: b[3],
				amt: uint256.NewInt(uint64(b[4])<<8 | uint64(b[5])), other: int(b[6]) % len(s.signers), adv: uint64(b[6])}
			if b[0]&0x80 != 0 {
				o.amt.Mul(o.amt, emc(1)) // large amounts too
			}
			s.apply(i/7, o)
		}
	})
}

// FuzzSetSignerConsent sends arbitrary signature bytes as dave's consent to
// be alice's signer: the call succeeds exactly when VerifySignerConsent
// accepts them, and what is accepted is dave's own signature (its R and S;
// V as 0/1 or 27/28), never a malleated or forged one. A success claims
// dave for alice and moves his nonce; a revert changes nothing.
func FuzzSetSignerConsent(f *testing.F) {
	genuine, err := staking.SignSignerConsent(daveKey, nativetest.Config().ChainID, alice, 0)
	if err != nil {
		f.Fatal(err)
	}
	v27 := append([]byte{}, genuine...)
	v27[64] += 27
	f.Add(genuine)
	f.Add(v27)
	f.Add(malleate(genuine))
	f.Add(genuine[:64])
	f.Add([]byte{})
	f.Add(make([]byte, 65))
	f.Fuzz(func(t *testing.T, sig []byte) {
		fx := newFixture(t, "")
		fx.mustSend(alice, emc(1_000_000), "stake", validator, lockNone)
		res, _ := fx.send(alice, nil, "setSigner", dave, sig)
		verr := staking.VerifySignerConsent(fx.Config.ChainID, alice, dave, 0, sig)
		if (res.err == nil) != (verr == nil) {
			t.Fatalf("module %v, VerifySignerConsent %v", res.err, verr)
		}
		if res.err != nil && !errors.Is(res.err, vm.ErrExecutionReverted) {
			t.Fatalf("error %v is not a revert", res.err)
		}
		if verr != nil && !errors.Is(verr, staking.ErrBadSignature) && !errors.Is(verr, staking.ErrNoConsent) {
			t.Fatalf("verify error %v wraps neither sentinel", verr)
		}
		o, claimed := staking.SignerOwner(fx.State, dave)
		if res.err != nil {
			if claimed || staking.SignerNonce(fx.State, dave) != 0 {
				t.Fatal("a refused consent changed state")
			}
			return
		}
		if string(sig[:64]) != string(genuine[:64]) {
			t.Fatalf("accepted a signature other than dave's: %x", sig)
		}
		if !claimed || o != alice || staking.SignerNonce(fx.State, dave) != 1 {
			t.Fatalf("accepted but claim %s %t nonce %d", o, claimed, staking.SignerNonce(fx.State, dave))
		}
	})
}

// FuzzDecodeDoubleSign feeds arbitrary message pairs to reportDoubleSign's
// decoder: it never panics, and what it accepts is a verified
// equivocation of the returned signer that re-encodes to the same
// evidence.
func FuzzDecodeDoubleSign(f *testing.F) {
	k := testKey(f, 1)
	for _, c := range []ibft.Code{ibft.MsgPrePrepare, ibft.MsgPrepare, ibft.MsgCommit, ibft.MsgRoundChange} {
		f.Add(enc(f, signed(f, k, c, 7, 1, 1)), enc(f, signed(f, k, c, 7, 1, 2)))
	}
	f.Add(enc(f, signed(f, k, ibft.MsgPrepare, 7, 1, 1)), enc(f, signed(f, k, ibft.MsgPrepare, 7, 2, 1)))
	f.Add([]byte{0xc0}, []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ev, who, err := staking.DecodeDoubleSign(a, b)
		if err != nil {
			if !errors.Is(err, staking.ErrBadDoubleSign) {
				t.Fatalf("error %v does not wrap ErrBadDoubleSign", err)
			}
			return
		}
		if got, err := ev.Verify([]common.Address{who}); err != nil || got != who {
			t.Fatalf("accepted evidence fails Verify: %s %v", got, err)
		}
		a2, b2, err := staking.DoubleSignArgs(*ev)
		if err != nil {
			t.Fatal(err)
		}
		ev2, who2, err := staking.DecodeDoubleSign(b2, a2)
		if err != nil || who2 != who || ev2.First.SigningDigest() != ev.First.SigningDigest() || ev2.Second.SigningDigest() != ev.Second.SigningDigest() {
			t.Fatalf("re-encoded evidence: %v %s", err, who2)
		}
	})
}

// FuzzReportDoubleSign sends arbitrary message pairs to reportDoubleSign
// with a validator staked: it fails only by reverting, and money is
// conserved either way: what leaves the module is exactly the reporter's
// reward plus the burn.
func FuzzReportDoubleSign(f *testing.F) {
	k := testKey(f, 1)
	f.Add(enc(f, signed(f, k, ibft.MsgPrepare, 7, 1, 1)), enc(f, signed(f, k, ibft.MsgPrepare, 7, 1, 2)))
	f.Add(enc(f, signed(f, k, ibft.MsgCommit, 7, 0, 1)), enc(f, signed(f, k, ibft.MsgCommit, 7, 0, 1)))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		fx := newFixture(t, `{"slashFractionBps":3333,"reporterShareBps":777}`)
		fx.mustSend(alice, emc(1_000_000), "stake", validator, lockNone)
		fx.setSigner(alice, k)
		fx.at(1, 0)
		mod0, burned0, carol0 := fx.State.GetBalance(stakingAddr).Clone(), native.BurnedTotal(fx.State).Clone(), fx.State.GetBalance(carol).Clone()
		res, _ := fx.send(carol, nil, "reportDoubleSign", a, b)
		if res.err != nil && !errors.Is(res.err, vm.ErrExecutionReverted) {
			t.Fatalf("error %v is not a revert", res.err)
		}
		fx.moduleInvariant()
		out := new(uint256.Int).Sub(mod0, fx.State.GetBalance(stakingAddr))
		burned := new(uint256.Int).Sub(native.BurnedTotal(fx.State), burned0)
		paid := new(uint256.Int).Sub(new(uint256.Int).Add(fx.State.GetBalance(carol), nativetest.Fee(res.gasUsed)), carol0)
		if !new(uint256.Int).Add(burned, paid).Eq(out) {
			t.Fatalf("module paid %s, burned %s + reporter %s", out, burned, paid)
		}
		if res.err == nil != staking.Jailed(fx.State, alice) {
			t.Fatalf("accepted %v, jailed %v", res.err == nil, staking.Jailed(fx.State, alice))
		}
	})
}

// FuzzParseParams feeds arbitrary genesis params (an operator's genesis
// file) to ParseParams: it never panics, refuses only with ErrBadParams,
// and accepted params seed a genesis state whose role totals add up to the
// module's balance, routers never in the genesis validator set.
func FuzzParseParams(f *testing.F) {
	f.Add([]byte(`{"genesisStakes":[{"owner":"0x0000000000000000000000000000000000000009","role":1,"amountWei":"100000000000000000000000"}]}`))
	f.Add([]byte(`{"minValidators":1,"genesisStakes":[{"owner":"0x0000000000000000000000000000000000000009","amountWei":"1000000000000000000000000"},{"owner":"0x0000000000000000000000000000000000000008","role":1,"amountWei":"100000000000000000000000","lock":2}]}`))
	f.Add([]byte(`{"minRouterStakeWei":"1","genesisStakes":[{"owner":"0x0000000000000000000000000000000000000009","role":1,"amountWei":"1","signer":"0x0000000000000000000000000000000000000007"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := staking.ParseParams(raw, 10)
		if err != nil {
			if !errors.Is(err, native.ErrBadParams) {
				t.Fatalf("refused without ErrBadParams: %v", err)
			}
			return
		}
		m, err := staking.NewModule(p)
		if err != nil {
			t.Fatalf("accepted params build no module: %v", err)
		}
		bal, st := m.GenesisState()
		s := genesisStorage(st)
		sum := new(uint256.Int)
		for r := staking.Role(0); r < staking.NumRoles; r++ {
			sum.Add(sum, staking.TotalStake(s, r))
		}
		if (bal == nil && !sum.IsZero()) || (bal != nil && !bal.Eq(sum)) {
			t.Fatalf("genesis balance %v, role totals %s", bal, sum)
		}
		vals, err := m.GenesisValidators()
		if err != nil {
			return // fewer eligible than the set needs: the node refuses such a genesis
		}
		routers := map[common.Address]bool{}
		for _, g := range p.GenesisStakes {
			if g.Role == staking.RoleRouter {
				routers[g.Owner] = true
			}
		}
		for _, v := range vals {
			if routers[v] {
				t.Fatalf("router %s in the genesis validator set", v)
			}
		}
	})
}

// genesisStorage reads the staking module's genesis storage.
type genesisStorage map[common.Hash]common.Hash

func (g genesisStorage) GetState(addr common.Address, key common.Hash) common.Hash {
	if addr != native.StakingAddress {
		return common.Hash{}
	}
	return g[key]
}
func (genesisStorage) GetBalance(common.Address) *uint256.Int { return new(uint256.Int) }
