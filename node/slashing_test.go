package node

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"

	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

// TestEvidenceReporter runs the reporter on a dev node: the wallet stakes a
// validator position with a separate signer, the signer equivocates, and
// the reporter sends one reportDoubleSign for the offence however many
// pieces of evidence prove it; the offender is slashed and jailed, the
// wallet earns the reporter's share; nothing is sent again, by this
// reporter or a fresh one, and an offender without stake is not reported.
func TestEvidenceReporter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g := genesis.Dev()
	g.Params = map[string]json.RawMessage{"staking": json.RawMessage(`{"minValidatorStakeWei":"1000000000000000000000"}`)}
	// The node wallet (the dev compute owner) stakes 1,000 EMC and pays gas.
	g.Alloc[crypto.PubkeyToAddress(genesis.DevComputeKey().PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(10_000), big.NewInt(params.Ether))}
	n, err := New(Config{Role: RoleValidator, Dev: true, Genesis: g, DataDir: config.NewDataDir(t.TempDir())}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	defer n.Close()
	w := n.Wallet()
	m, err := staking.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		t.Fatal(err)
	}
	sigKey, _ := crypto.ToECDSA(crypto.Keccak256([]byte("evidence reporter signer")))
	otherKey, _ := crypto.ToECDSA(crypto.Keccak256([]byte("no stake")))
	stakeWei := new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))
	to := native.StakingAddress
	send := func(value *big.Int, method string, args ...any) *types.Receipt {
		t.Helper()
		data, err := parsed.Pack(method, args...)
		if err != nil {
			t.Fatal(err)
		}
		h, err := w.Submit(ctx, wallet.Request{To: &to, Value: value, Data: data, Label: method})
		if err != nil {
			t.Fatal(err)
		}
		r, err := h.Wait(ctx)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return r
	}
	send(stakeWei, "stake", uint8(staking.RoleValidator), uint8(0))
	consent, err := staking.SignSignerConsent(sigKey, n.Chain().Config().ChainID, w.Address(), 0)
	if err != nil {
		t.Fatal(err)
	}
	send(nil, "setSigner", crypto.PubkeyToAddress(sigKey.PublicKey), consent)

	height := n.Chain().Head().Number.Uint64()
	sign := func(k *ecdsa.PrivateKey, digest byte) ibft.Signed {
		s := ibft.Signed{Code: ibft.MsgPrepare, Height: height, Round: 0, Digest: common.Hash{digest}}
		d := s.SigningDigest()
		sig, err := ibft.NewKeySigner(k).Sign(d[:])
		if err != nil {
			t.Fatal(err)
		}
		s.Signature = sig
		return s
	}
	evs := []ibft.Evidence{
		ibft.NewEvidence(sign(sigKey, 1), sign(sigKey, 2)),
		ibft.NewEvidence(sign(sigKey, 1), sign(sigKey, 3)), // the same offence
		ibft.NewEvidence(sign(otherKey, 1), sign(otherKey, 2)),
	}
	var handles []*wallet.Handle
	r := &evidenceReporter{
		submit: w.Submit,
		state:  func() (native.StateReader, error) { return n.Chain().StateAt(n.Chain().Head().Root) },
		done:   func(h *wallet.Handle, _ common.Address) { handles = append(handles, h) },
		log:    slog.New(slog.DiscardHandler),
	}
	st, _ := n.Chain().StateAt(n.Chain().Head().Root)
	before := st.GetBalance(w.Address()).ToBig()
	r.report(ctx, evs)
	if len(handles) != 1 {
		t.Fatalf("%d reports, want 1", len(handles))
	}
	rc, err := handles[0].Wait(ctx)
	if err != nil || rc.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("report: %v", err)
	}
	st, _ = n.Chain().StateAt(n.Chain().Head().Root)
	if !staking.Jailed(st, w.Address()) || !staking.PositionOf(st, w.Address()).AmountWei.IsZero() {
		t.Fatal("offender not slashed")
	}
	// The wallet staked and reported: it lost its stake, got 5 % back and
	// paid the report's fee.
	tx, _, _, _ := n.Chain().Transaction(rc.TxHash)
	fee := new(big.Int).Mul(new(big.Int).SetUint64(rc.GasUsed), rc.EffectiveGasPrice)
	reward := new(big.Int).Div(new(big.Int).Mul(stakeWei, big.NewInt(500)), big.NewInt(10_000))
	want := new(big.Int).Sub(new(big.Int).Add(before, reward), fee)
	if got := st.GetBalance(w.Address()).ToBig(); tx == nil || got.Cmp(want) != 0 {
		t.Errorf("reporter balance %s, want %s", got, want)
	}
	r.report(ctx, evs)
	fresh := &evidenceReporter{submit: r.submit, state: r.state, done: r.done, log: r.log}
	fresh.report(ctx, evs)
	if len(handles) != 1 {
		t.Fatalf("%d reports after the offence was slashed, want 1", len(handles))
	}
}
