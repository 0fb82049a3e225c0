package rewards_test

// TestChainEpoch runs the rewards module on a real state.Chain: blocks are
// built and inserted with signed commit certificates, and the hooks see
// the verified parent seals the way every node does.

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

type txList struct{ txs []*types.Transaction }

func (l *txList) Peek() *types.Transaction {
	if len(l.txs) == 0 {
		return nil
	}
	return l.txs[0]
}
func (l *txList) Shift() { l.txs = l.txs[1:] }
func (l *txList) Pop()   { l.txs = nil }

// TestChainEpoch: four validators stake 1, 2, 3 and 4 EMC in block 1
// (epoch 0 of 4-block epochs); in reward epoch 1 (blocks 5–8, sealed in
// blocks 6–9) the fourth seals 2 of 4 certificates (< 2/3) and earns
// nothing; block 9 settles: the first three share r(1) = 50,000 EMC by
// stake, to the wei, and one of them claims in block 10.
func TestChainEpoch(t *testing.T) {
	const L = 4
	keys := make([]*ecdsa.PrivateKey, 4)
	g := genesis.Dev()
	g.Validators = nil
	g.EpochLength = L
	g.Params = map[string]json.RawMessage{staking.Name: json.RawMessage(`{"minValidatorStakeWei":"1"}`)}
	for i := range keys {
		keys[i], _ = crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("rewards-chain-%d", i))))
		a := crypto.PubkeyToAddress(keys[i].PublicKey)
		g.Validators = append(g.Validators, a)
		g.Alloc[a] = types.Account{Balance: emc(100).ToBig()}
	}
	reg, err := native.Load(g.Params, map[string]native.Factory{
		staking.Name: staking.Factory(L),
		rewards.Name: rewards.Factory(L, staking.RewardsView{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := state.Open(state.OpenMemoryStore(), g, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	signer := types.LatestSigner(c.Config())
	certOf := func(h common.Hash, by ...int) *cert.Certificate {
		ct := &cert.Certificate{}
		for _, i := range by {
			s, err := cert.SignCommit(h, 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, keys[i]) })
			if err != nil {
				t.Fatal(err)
			}
			ct.Seals = append(ct.Seals, s)
		}
		return ct
	}
	var parentCert *cert.Certificate
	// sealers(n) is who seals block n.
	sealers := func(n uint64) []int {
		if n == 5 || n == 6 {
			return []int{0, 1, 2} // the fourth misses 2 of epoch 1's 4 blocks
		}
		return []int{0, 1, 2, 3}
	}
	build := func(txs ...*types.Transaction) *types.Block {
		t.Helper()
		head := c.Head()
		b, err := c.BuildBlock(ctx, &txList{txs}, state.BuildParams{
			Coinbase: g.Validators[0], Time: time.Unix(int64(head.Time)+1, 0), ParentCommit: parentCert})
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Transactions()) != len(txs) {
			t.Fatalf("block %d: %d of %d txs included", b.NumberU64(), len(b.Transactions()), len(txs))
		}
		ct := certOf(b.Hash(), sealers(b.NumberU64())...)
		if err := c.InsertBlock(ctx, b, ct); err != nil {
			t.Fatal(err)
		}
		parentCert = ct
		return b
	}
	m, _ := reg.Lookup(native.StakingAddress)
	stakingABI, _ := abi.JSON(strings.NewReader(m.ABI()))
	rm, _ := reg.Lookup(native.RewardsAddress)
	rewardsABI, _ := abi.JSON(strings.NewReader(rm.ABI()))
	tx := func(i int, nonce uint64, to common.Address, value *uint256.Int, data []byte) *types.Transaction {
		t.Helper()
		tx, err := types.SignNewTx(keys[i], signer, &types.DynamicFeeTx{
			ChainID: c.Config().ChainID, Nonce: nonce, GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(1e12),
			Gas: 1_000_000, To: &to, Value: value.ToBig(), Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	stakeData, _ := stakingABI.Pack("stake", uint8(staking.RoleValidator), uint8(rewards.LockNone))
	var stakes []*types.Transaction
	for i := range keys {
		stakes = append(stakes, tx(i, 0, native.StakingAddress, emc(uint64(i+1)), stakeData))
	}
	build(stakes...) // block 1
	for n := 2; n <= 9; n++ {
		build()
	}
	st, err := c.StateAt(c.Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	r := new(big.Int).Quo(rewards.EMC(4_500_000), big.NewInt(90))
	sum := big.NewInt(1 + 2 + 3) // EMC; equal credits cancel out
	for i := range 3 {
		want := new(big.Int).Mul(r, big.NewInt(int64(i+1)))
		want.Quo(want, sum)
		if got := rewards.NodeAccrued(st, g.Validators[i]); got.ToBig().Cmp(want) != 0 {
			t.Errorf("validator %d accrued %s, want %s", i, got, want)
		}
	}
	if got := rewards.NodeAccrued(st, g.Validators[3]); !got.IsZero() {
		t.Errorf("the fourth validator (2 of 4 seals) accrued %s", got)
	}
	if e, rw, ok := rewards.LastSettlement(st); !ok || e != 1 || rw.ToBig().Cmp(r) != 0 {
		t.Errorf("last settlement %d %s %v", e, rw, ok)
	}
	if b := rewards.CheckBalances(st); !b.BalanceWei.Eq(b.AccountedWei) {
		t.Fatalf("balance %s != accounted %s", b.BalanceWei, b.AccountedWei)
	}

	// Block 10: the second validator claims everything it is owed.
	owed := rewards.RewardsOf(st, g.Validators[1]).TotalWei
	before := st.GetBalance(g.Validators[1])
	claim, _ := rewardsABI.Pack("claim")
	b := build(tx(1, 1, native.RewardsAddress, new(uint256.Int), claim))
	rc := c.Receipts(b.Hash())
	if len(rc) != 1 || rc[0].Status != types.ReceiptStatusSuccessful || len(rc[0].Logs) != 1 {
		t.Fatalf("claim receipt %+v", rc)
	}
	st, _ = c.StateAt(c.Head().Root)
	fee := new(big.Int).Mul(new(big.Int).SetUint64(rc[0].GasUsed), rc[0].EffectiveGasPrice)
	got := new(big.Int).Sub(st.GetBalance(g.Validators[1]).ToBig(), before.ToBig())
	got.Add(got, fee)
	// Block 10's hooks add nothing (epoch 2 settles at block 13, staking
	// epoch 2 distributes at block 12): what was owed after block 9 is paid.
	if got.Cmp(owed.ToBig()) != 0 || owed.IsZero() {
		t.Fatalf("claim paid %s, owed %s", got, owed)
	}
	if b := rewards.CheckBalances(st); !b.BalanceWei.Eq(b.AccountedWei) {
		t.Fatalf("after claim: balance %s != accounted %s", b.BalanceWei, b.AccountedWei)
	}
}
