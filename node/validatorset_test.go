package node

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// stakeChain is a chain whose validators come from genesis stakes, with
// epochs of 4 blocks; every block is sealed by its whole set.
type stakeChain struct {
	*state.Chain
	t     *testing.T
	keys  map[common.Address]*ecdsa.PrivateKey
	abi   abi.ABI
	nonce map[common.Address]uint64
}

func (c *stakeChain) tx(key *ecdsa.PrivateKey, value *big.Int, method string, args ...any) *types.Transaction {
	c.t.Helper()
	data, err := c.abi.Pack(method, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	to := native.StakingAddress
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(c.Config().ChainID), &types.DynamicFeeTx{
		ChainID: c.Config().ChainID, Nonce: c.nonce[from], GasTipCap: big.NewInt(2e9), GasFeeCap: big.NewInt(100e9),
		Gas: 1_000_000, To: &to, Value: value, Data: data,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.nonce[from]++
	return tx
}

// mine builds, seals with the block's whole set and inserts a block of txs,
// checking that every tx succeeded.
func (c *stakeChain) mine(txs ...*types.Transaction) *types.Block {
	c.t.Helper()
	head := c.Head()
	number := head.Number.Uint64() + 1
	set, err := c.ValidatorsFor(number)
	if err != nil {
		c.t.Fatal(err)
	}
	var parent *cert.Certificate
	if number > 1 {
		if parent, err = c.Certificate(head.Number.Uint64(), head.Hash()); err != nil {
			c.t.Fatal(err)
		}
	}
	b, err := c.BuildBlock(context.Background(), &txList{txs}, state.BuildParams{Coinbase: set[0], Time: time.Unix(int64(head.Time)+1, 0), ParentCommit: parent})
	if err != nil {
		c.t.Fatal(err)
	}
	if len(b.Transactions()) != len(txs) {
		c.t.Fatalf("block %d holds %d of %d txs", number, len(b.Transactions()), len(txs))
	}
	cc := &cert.Certificate{}
	for _, v := range set {
		s, err := cert.SignCommit(b.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, c.keys[v]) })
		if err != nil {
			c.t.Fatal(err)
		}
		cc.Seals = append(cc.Seals, s)
	}
	if err := c.InsertBlock(context.Background(), b, cc); err != nil {
		c.t.Fatalf("insert block %d: %v", number, err)
	}
	for i, r := range c.Receipts(b.Hash()) {
		if r.Status != types.ReceiptStatusSuccessful {
			c.t.Fatalf("block %d tx %d failed", number, i)
		}
	}
	return b
}

type txList struct{ txs []*types.Transaction }

func (l *txList) Peek() *types.Transaction {
	if len(l.txs) == 0 {
		return nil
	}
	return l.txs[0]
}
func (l *txList) Shift() { l.txs = l.txs[1:] }
func (l *txList) Pop()   { l.txs = nil }

// TestStakeDrivenValidatorSet: four genesis stakes elect the genesis set; a
// fifth, larger stake made in epoch 0 joins at the first boundary (block
// 4) and the smallest-ranked leaves (5 eligible → 4 = 3F+1); a double
// signer reported in epoch 1 is jailed and leaves at the next boundary,
// and Σ balances + burned stays the genesis supply throughout.
func TestStakeDrivenValidatorSet(t *testing.T) {
	keys := map[common.Address]*ecdsa.PrivateKey{}
	var addrs []common.Address
	for i := range 5 {
		k, _ := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("validator %d", i))))
		a := crypto.PubkeyToAddress(k.PublicKey)
		keys[a] = k
		addrs = append(addrs, a)
	}
	million := new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(params.Ether))
	g := genesis.Dev()
	g.EpochLength = 4
	var stakes []string
	for _, a := range addrs[:4] {
		stakes = append(stakes, `{"owner":"`+a.Hex()+`","amountWei":"`+million.String()+`"}`)
		g.Alloc[a] = types.Account{Balance: new(big.Int).Set(million)}
	}
	g.Alloc[addrs[4]] = types.Account{Balance: new(big.Int).Mul(million, big.NewInt(3))}
	g.Params = map[string]json.RawMessage{"staking": json.RawMessage(`{"genesisStakes":[` + strings.Join(stakes, ",") + `]}`)}
	g.Validators = slices.Clone(addrs[:4])
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	m, _ := staking.New(nil)
	parsed, _ := abi.JSON(strings.NewReader(m.ABI()))
	c := &stakeChain{Chain: ch, t: t, keys: keys, abi: parsed, nonce: map[common.Address]uint64{}}

	supply := func() *uint256.Int {
		st, err := c.StateAt(c.Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		sum := native.BurnedTotal(st).Clone()
		for _, a := range append(slices.Clone(addrs), native.StakingAddress) {
			sum.Add(sum, st.GetBalance(a))
		}
		return sum
	}
	supply0 := supply()

	twoMillion := new(big.Int).Mul(million, big.NewInt(2))
	c.mine(c.tx(keys[addrs[4]], twoMillion, "stake", uint8(staking.RoleValidator), uint8(0)))
	c.mine()
	c.mine()
	b4 := c.mine() // boundary: the set of epoch 1
	extra, err := cert.DecodeExtra(b4.Header().Extra)
	if err != nil {
		t.Fatal(err)
	}
	// Ranked: addrs[4] (2M), then the 1M stakes by owner address.
	ones := slices.Clone(addrs[:4])
	slices.SortFunc(ones, func(a, b common.Address) int { return a.Cmp(b) })
	want := append([]common.Address{addrs[4]}, ones[:3]...)
	if !slices.Equal(extra.Validators, want) {
		t.Fatalf("boundary set %v, want %v", extra.Validators, want)
	}
	if got, _ := c.ValidatorsFor(5); !slices.Equal(got, want) {
		t.Fatalf("set of block 5 %v, want %v", got, want)
	}

	// ones[0] double-signs at height 5; addrs[4] reports it in block 5.
	off := keys[ones[0]]
	sign := func(d byte) []byte {
		s := ibft.Signed{Code: ibft.MsgCommit, Height: 5, Digest: common.Hash{d}}
		dg := s.SigningDigest()
		s.Signature, _ = crypto.Sign(dg[:], off)
		b, err := staking.EncodeSigned(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	c.mine(c.tx(keys[addrs[4]], nil, "reportDoubleSign", sign(1), sign(2)))
	c.mine()
	c.mine()
	b8 := c.mine()
	extra, _ = cert.DecodeExtra(b8.Header().Extra)
	want = []common.Address{addrs[4], ones[1], ones[2], ones[3]}
	if !slices.Equal(extra.Validators, want) {
		t.Fatalf("set after the slash %v, want %v", extra.Validators, want)
	}
	st, _ := c.StateAt(c.Head().Root)
	if !staking.Jailed(st, ones[0]) || native.Burned(st, native.BurnSlash).IsZero() {
		t.Fatal("offender not jailed or nothing burned")
	}
	if got := supply(); !got.Eq(supply0) {
		t.Fatalf("Σ balances + burned %s, genesis %s", got, supply0)
	}
}
