package staking_test

import (
	"crypto/ecdsa"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// testKey returns a fixed secp256k1 key derived from n.
func testKey(t testing.TB, n byte) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte{'k', n}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyAddr(k *ecdsa.PrivateKey) common.Address { return crypto.PubkeyToAddress(k.PublicKey) }

// signed returns a consensus message signed with k.
func signed(t testing.TB, k *ecdsa.PrivateKey, code ibft.Code, height, round uint64, digest byte) ibft.Signed {
	t.Helper()
	s := ibft.Signed{Code: code, Height: height, Round: round, Digest: common.Hash{digest}}
	d := s.SigningDigest()
	sig, err := ibft.NewKeySigner(k).Sign(d[:])
	if err != nil {
		t.Fatal(err)
	}
	s.Signature = sig
	return s
}

func enc(t testing.TB, s ibft.Signed) []byte {
	t.Helper()
	b, err := staking.EncodeSigned(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// moduleInvariant checks balance == Σ role totals + total unbonding.
func (f *fixture) moduleInvariant() {
	f.t.Helper()
	sum := staking.TotalUnbonding(f.State).Clone()
	for r := staking.Role(0); r < staking.NumRoles; r++ {
		sum.Add(sum, staking.TotalStake(f.State, r))
	}
	if bal := f.State.GetBalance(stakingAddr); !bal.Eq(sum) {
		f.t.Fatalf("module balance %s != Σ totals %s", bal, sum)
	}
}

// supply is Σ balances of accounts + burned (ledger) + fees paid: what
// must not change when nothing is minted.
func (f *fixture) supply(accts ...common.Address) *uint256.Int {
	sum := native.BurnedTotal(f.State).Clone()
	for _, a := range append(accts, stakingAddr, f.Coinbase) {
		sum.Add(sum, f.State.GetBalance(a))
	}
	return sum
}

func TestReportDoubleSignSlashesAll(t *testing.T) {
	f := newFixture(t, "")
	sk := testKey(t, 1)
	sA := keyAddr(sk)
	f.at(0, 1)
	f.mustSend(alice, emc(2_000_000), "stake", validator, lockNone)
	f.setSigner(alice, sk)
	f.mustSend(bob, emc(1_000_000), "stake", validator, lockNone)
	f.at(1, 2)
	f.mustSend(alice, nil, "unstake", emc(500_000).ToBig()) // 1.5M staked, 0.5M unbonding until 9
	f.moduleInvariant()
	if p := staking.PositionOf(f.State, alice); len(p.Unbonding) != 1 || p.Unbonding[0].ReleaseEpoch != 9 || !p.AmountWei.Eq(emc(1_500_000)) {
		t.Fatalf("alice before the offence: %+v", p)
	}

	f.at(2, 5)
	a := enc(t, signed(t, sk, ibft.MsgPrepare, 24, 0, 1))
	b := enc(t, signed(t, sk, ibft.MsgPrepare, 24, 0, 2))
	accts := []common.Address{alice, bob, carol, dave}
	supply0 := f.supply(accts...)
	carol0 := f.State.GetBalance(carol).Clone()
	burned0 := native.Burned(f.State, native.BurnSlash).Clone()

	res, logs := f.send(carol, nil, "reportDoubleSign", b, a) // either order
	if res.err != nil {
		t.Fatalf("reportDoubleSign: %v", res.err)
	}
	if want := declared(f.pack("reportDoubleSign", b, a), f.params.ReportDoubleSignGas()); res.gasUsed != want {
		t.Errorf("gas %d, want declared %d", res.gasUsed, want)
	}
	slashed := emc(2_000_000)
	reward := emc(100_000) // 5 %
	burn := emc(1_900_000)
	vals := f.event(logs, "Slashed", alice)
	if logs[0].Topics[2] != common.BytesToHash(sA[:]) || !u(vals[0]).Eq(slashed) || vals[1].(common.Address) != carol || !u(vals[2]).Eq(reward) {
		t.Errorf("Slashed %v topics %v", vals, logs[0].Topics)
	}
	fee := nativetest.Fee(res.gasUsed)
	if got, want := f.State.GetBalance(carol), new(uint256.Int).Sub(new(uint256.Int).Add(carol0, reward), fee); !got.Eq(want) {
		t.Errorf("reporter balance %s, want %s", got, want)
	}
	if got := new(uint256.Int).Sub(native.Burned(f.State, native.BurnSlash), burned0); !got.Eq(burn) {
		t.Errorf("burned %s, want %s", got, burn)
	}
	if got := f.State.GetBalance(stakingAddr); !got.Eq(emc(1_000_000)) {
		t.Errorf("module balance %s, want bob's 1M", got)
	}
	// Conservation: the tip went to coinbase, the base fee was burned
	// outside the ledger (EndBlock does not run here), so add it back.
	if got := f.supply(accts...); !new(uint256.Int).Add(got, feeBurned(f, res.gasUsed)).Eq(supply0) {
		t.Errorf("supply %s + base fee burn, want %s", got, supply0)
	}
	f.moduleInvariant()
	if !staking.TotalStake(f.State, staking.RoleValidator).Eq(emc(1_000_000)) || !staking.TotalUnbonding(f.State).IsZero() {
		t.Errorf("totals: validator %s unbonding %s", staking.TotalStake(f.State, staking.RoleValidator), staking.TotalUnbonding(f.State))
	}
	if p := staking.PositionOf(f.State, alice); !p.Jailed || !p.AmountWei.IsZero() || len(p.Unbonding) != 0 {
		t.Errorf("alice after slash: %+v", p)
	}
	if got := staking.Owners(f.State, 0, 10); len(got) != 1 || got[0] != bob {
		t.Errorf("owners %v, want [bob]", got)
	}
	if !f.view("jailed", alice)[0].(bool) || f.view("jailed", bob)[0].(bool) {
		t.Error("jailed view")
	}

	// Replays: the same pair, the same pair reversed, another pair for
	// the same offence.
	f.mustRevert(dave, nil, staking.ErrAlreadyReported, "reportDoubleSign", a, b)
	c := enc(t, signed(t, sk, ibft.MsgPrepare, 24, 0, 3))
	f.mustRevert(dave, nil, staking.ErrAlreadyReported, "reportDoubleSign", a, c)
	// Another offence of the emptied position: nothing left to take.
	f.mustRevert(dave, nil, staking.ErrNotSlashable, "reportDoubleSign",
		enc(t, signed(t, sk, ibft.MsgCommit, 25, 0, 1)), enc(t, signed(t, sk, ibft.MsgCommit, 25, 0, 2)))
	// Jailed for good: no validator stake again, other roles are fine.
	f.mustRevert(alice, emc(100_000), staking.ErrJailed, "stake", validator, lockNone)
	f.mustSend(alice, emc(1), "stake", compute, lockNone)
	f.moduleInvariant()

	emcDec := func(v *uint256.Int) string { return new(uint256.Int).Div(v, emc(1)).Dec() }
	def := staking.DefaultParams()
	docShows(t, "Validator set and slashing",
		itoa(def.MaxValidators), itoa(def.MinValidators), itoa(def.SlashFractionBps), itoa(def.ReporterShareBps),
		"2000000", "500000", "9", "1500000", "24", emcDec(slashed), emcDec(reward), emcDec(burn))
}

// docShows checks that docs/economics.md's section heading shows every
// value of want in code font.
func docShows(t *testing.T, heading string, want ...string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "docs", "economics.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("docs/economics.md has no %q section", heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, w := range want {
		if !strings.Contains(section, "`"+w+"`") {
			t.Errorf("the %s section lacks `%s`", heading, w)
		}
	}
}

// feeBurned is the base fee part of a transaction's fee (nativetest
// credits the tip to coinbase and burns the base fee).
func feeBurned(f *fixture, gasUsed uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(gasUsed), uint256.MustFromBig(f.BlockContext().BaseFee))
}

// TestReportDoubleSignPartial pins docs/economics.md's slashing example:
// a 30 % slash with a 10 % reporter share, on odd wei amounts.
func TestReportDoubleSignPartial(t *testing.T) {
	f := newFixture(t, `{"slashFractionBps": 3000, "reporterShareBps": 1000}`)
	k := testKey(t, 2)
	v := keyAddr(k) // the owner signs itself
	f.State.AddBalance(v, emc(5_000_000), tracing.BalanceChangeUnspecified)
	f.at(0, 1)
	stake := new(uint256.Int).Add(emc(1_200_000), uint256.NewInt(7))
	f.mustSend(v, stake, "stake", validator, lockNone)
	f.at(1, 0)
	f.mustSend(v, nil, "unstake", new(uint256.Int).Add(emc(100_000), uint256.NewInt(3)).ToBig())
	f.at(2, 0)
	f.mustSend(v, nil, "unstake", emc(100_000).ToBig())
	// stake 1,000,000 EMC + 4 wei; unbonding 100,000 EMC + 3 wei and 100,000 EMC
	f.at(3, 4)
	burned0 := native.Burned(f.State, native.BurnSlash).Clone()
	mod0 := f.State.GetBalance(stakingAddr).Clone()
	_, logs := f.send(dave, nil, "reportDoubleSign",
		enc(t, signed(t, k, ibft.MsgCommit, 33, 1, 7)), enc(t, signed(t, k, ibft.MsgCommit, 33, 1, 8)))
	if len(logs) != 1 {
		t.Fatalf("%d logs", len(logs))
	}
	// 30 %: stake 300,000 EMC + 1 wei (⌊1.2⌋), entries 30,000 EMC + 0 wei
	// (⌊0.9⌋) and 30,000 EMC: 360,000 EMC + 1 wei in all; reporter 10 %
	// = 36,000 EMC + 0 wei; burned 324,000 EMC + 1 wei.
	slashed := new(uint256.Int).Add(emc(360_000), uint256.NewInt(1))
	reward := emc(36_000)
	burn := new(uint256.Int).Add(emc(324_000), uint256.NewInt(1))
	vals := f.event(logs, "Slashed", v)
	if !u(vals[0]).Eq(slashed) || !u(vals[2]).Eq(reward) {
		t.Errorf("Slashed %v", vals)
	}
	if got := new(uint256.Int).Sub(native.Burned(f.State, native.BurnSlash), burned0); !got.Eq(burn) {
		t.Errorf("burned %s, want %s", got, burn)
	}
	if got := new(uint256.Int).Sub(mod0, f.State.GetBalance(stakingAddr)); !got.Eq(slashed) {
		t.Errorf("module paid out %s, want %s", got, slashed)
	}
	p := staking.PositionOf(f.State, v)
	if want := new(uint256.Int).Add(emc(700_000), uint256.NewInt(3)); !p.AmountWei.Eq(want) || !p.Jailed {
		t.Errorf("left %s jailed %v, want %s", p.AmountWei, p.Jailed, want)
	}
	if len(p.Unbonding) != 2 || !p.Unbonding[0].AmountWei.Eq(new(uint256.Int).Add(emc(70_000), uint256.NewInt(3))) || !p.Unbonding[1].AmountWei.Eq(emc(70_000)) {
		t.Errorf("unbonding %+v", p.Unbonding)
	}
	// Snapshot semantics: the cut takes effect next epoch.
	if !f.effective(v, 3).Eq(new(uint256.Int).Add(emc(1_000_000), uint256.NewInt(4))) || !f.effective(v, 4).Eq(p.AmountWei) {
		t.Errorf("effective %s / %s", f.effective(v, 3), f.effective(v, 4))
	}
	f.moduleInvariant()
	// A second offence takes 30 % of what is left; the owner may still
	// unstake and withdraw the rest.
	f.mustSend(carol, nil, "reportDoubleSign",
		enc(t, signed(t, k, ibft.MsgPrepare, 34, 0, 7)), enc(t, signed(t, k, ibft.MsgPrepare, 34, 0, 8)))
	f.moduleInvariant()
	f.mustSend(v, nil, "unstake", staking.PositionOf(f.State, v).AmountWei.ToBig())
	f.moduleInvariant()
	docShows(t, "Validator set and slashing", "3000", "1000", slashed.Dec(), reward.Dec(), burn.Dec())
}

func TestReportDoubleSignRefused(t *testing.T) {
	f := newFixture(t, "")
	sk, rk, ok := testKey(t, 1), testKey(t, 3), testKey(t, 4)
	f.at(0, 1)
	f.mustSend(alice, emc(1_000_000), "stake", validator, lockNone)
	f.setSigner(alice, sk)
	r := keyAddr(rk) // a router owner signing as itself
	f.State.AddBalance(r, emc(200_000), tracing.BalanceChangeUnspecified)
	f.mustSend(r, emc(100_000), "stake", router, lockNone)
	wk := testKey(t, 5) // a validator owner whose signer is another key
	w := keyAddr(wk)
	f.State.AddBalance(w, emc(2_000_000), tracing.BalanceChangeUnspecified)
	f.mustSend(w, emc(1_000_000), "stake", validator, lockNone)
	f.setSigner(w, testKey(t, 6))
	f.at(9, 0) // epoch 9: the window reaches back to epoch 2 (heights ≥ 20)

	p := func(k *ecdsa.PrivateKey, code ibft.Code, h, rd uint64, d byte) []byte {
		return enc(t, signed(t, k, code, h, rd, d))
	}
	badSig := signed(t, sk, ibft.MsgPrepare, 30, 0, 2)
	badSig.Signature[5] ^= 1
	cases := []struct {
		name string
		a, b []byte
		want error
	}{
		{"different rounds", p(sk, ibft.MsgPrepare, 30, 0, 1), p(sk, ibft.MsgPrepare, 30, 1, 2), staking.ErrBadDoubleSign},
		{"different heights", p(sk, ibft.MsgPrepare, 30, 0, 1), p(sk, ibft.MsgPrepare, 31, 0, 2), staking.ErrBadDoubleSign},
		{"different codes", p(sk, ibft.MsgPrepare, 30, 0, 1), p(sk, ibft.MsgCommit, 30, 0, 2), staking.ErrBadDoubleSign},
		{"same digest", p(sk, ibft.MsgPrepare, 30, 0, 1), p(sk, ibft.MsgPrepare, 30, 0, 1), staking.ErrBadDoubleSign},
		{"two signers", p(sk, ibft.MsgPrepare, 30, 0, 1), p(ok, ibft.MsgPrepare, 30, 0, 2), staking.ErrBadDoubleSign},
		{"bad signature", p(sk, ibft.MsgPrepare, 30, 0, 1), enc(t, badSig), staking.ErrBadDoubleSign},
		{"unsigned code", p(sk, ibft.MsgCertificate, 30, 0, 1), p(sk, ibft.MsgCertificate, 30, 0, 2), staking.ErrBadDoubleSign},
		{"garbage", []byte{0xc0, 1}, p(sk, ibft.MsgPrepare, 30, 0, 1), staking.ErrBadDoubleSign},
		{"empty", nil, nil, staking.ErrBadDoubleSign},
		{"oversized", make([]byte, staking.MaxSignedMessageSize+1), p(sk, ibft.MsgPrepare, 30, 0, 1), staking.ErrBadDoubleSign},
		{"non-member", p(ok, ibft.MsgPrepare, 30, 0, 1), p(ok, ibft.MsgPrepare, 30, 0, 2), staking.ErrNotSlashable},
		{"router signer", p(rk, ibft.MsgPrepare, 30, 0, 1), p(rk, ibft.MsgPrepare, 30, 0, 2), staking.ErrNotSlashable},
		{"owner key, signer set", p(wk, ibft.MsgPrepare, 30, 0, 1), p(wk, ibft.MsgPrepare, 30, 0, 2), staking.ErrNotSlashable},
		{"expired", p(sk, ibft.MsgPrepare, 19, 0, 1), p(sk, ibft.MsgPrepare, 19, 0, 2), staking.ErrEvidenceExpired},
		{"future", p(sk, ibft.MsgPrepare, 91, 0, 1), p(sk, ibft.MsgPrepare, 91, 0, 2), staking.ErrEvidenceFuture},
	}
	for _, c := range cases {
		if c.want == nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			f.t = t
			f.mustRevert(bob, nil, c.want, "reportDoubleSign", c.a, c.b)
		})
	}
	f.t = t
	if staking.Jailed(f.State, alice) || !staking.PositionOf(f.State, alice).AmountWei.Eq(emc(1_000_000)) {
		t.Fatal("a refused report changed alice's position")
	}
	// The oldest height in the window is accepted.
	f.mustSend(bob, nil, "reportDoubleSign", p(sk, ibft.MsgPrepare, 20, 0, 1), p(sk, ibft.MsgPrepare, 20, 0, 2))
	if !staking.Jailed(f.State, alice) {
		t.Fatal("not jailed")
	}
}

// TestReportDoubleSignRoundChange: two ROUND-CHANGEs of one round with
// different prepared claims are an equivocation (ibft's rule), even under
// one digest.
func TestReportDoubleSignRoundChange(t *testing.T) {
	f := newFixture(t, "")
	k := testKey(t, 7)
	v := keyAddr(k)
	f.State.AddBalance(v, emc(2_000_000), tracing.BalanceChangeUnspecified)
	f.mustSend(v, emc(1_000_000), "stake", validator, lockNone)
	rc := func(preparedRound uint64) []byte {
		s := ibft.Signed{Code: ibft.MsgRoundChange, Height: 1, Round: 3, Digest: common.Hash{9}, PreparedRound: preparedRound}
		d := s.SigningDigest()
		sig, err := ibft.NewKeySigner(k).Sign(d[:])
		if err != nil {
			t.Fatal(err)
		}
		s.Signature = sig
		return enc(t, s)
	}
	f.mustRevert(bob, nil, staking.ErrBadDoubleSign, "reportDoubleSign", rc(1), rc(1))
	f.mustSend(bob, nil, "reportDoubleSign", rc(1), rc(2))
	if !staking.Jailed(f.State, v) {
		t.Fatal("not jailed")
	}
	f.moduleInvariant()
}
