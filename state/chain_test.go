package state

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/genesis"
)

// listSource is a TxSource over a fixed list (one account's txs in order).
type listSource struct{ txs []*types.Transaction }

func (l *listSource) Peek() *types.Transaction {
	if len(l.txs) == 0 {
		return nil
	}
	return l.txs[0]
}
func (l *listSource) Shift() { l.txs = l.txs[1:] }
func (l *listSource) Pop()   { l.txs = nil }

type testChain struct {
	*Chain
	t      *testing.T
	signer *ecdsa.PrivateKey
	keys   []*ecdsa.PrivateKey
}

func newTestChain(t *testing.T, dir string) *testChain {
	t.Helper()
	db := OpenMemoryStore()
	if dir != "" {
		var err error
		if db, err = OpenStore(dir); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(db, genesis.Dev(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	keys, err := genesis.DevAccountKeys(3)
	if err != nil {
		t.Fatal(err)
	}
	return &testChain{Chain: c, t: t, signer: genesis.DevSignerKey(), keys: keys}
}

func (tc *testChain) seal(hash common.Hash) *cert.Certificate { return sealFor(tc.t, hash, tc.signer) }

type certificateT = cert.Certificate

func sealFor(t testing.TB, hash common.Hash, key *ecdsa.PrivateKey) *cert.Certificate {
	s, err := cert.SignCommit(hash, 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, key) })
	if err != nil {
		t.Fatal(err)
	}
	return &cert.Certificate{Seals: [][]byte{s}}
}

// mine builds a block from txs and inserts it, returning the block.
func (tc *testChain) mine(txs ...*types.Transaction) *types.Block {
	tc.t.Helper()
	var parentCert *cert.Certificate
	if head := tc.Head(); head.Number.Sign() > 0 {
		c, err := tc.Certificate(head.Number.Uint64(), head.Hash())
		if err != nil || c == nil {
			tc.t.Fatalf("head certificate: %v", err)
		}
		parentCert = c
	}
	b, err := tc.BuildBlock(context.Background(), &listSource{txs: txs}, BuildParams{
		Coinbase: crypto.PubkeyToAddress(tc.signer.PublicKey), Time: time.Now(), ParentCommit: parentCert,
	})
	if err != nil {
		tc.t.Fatal(err)
	}
	if err := tc.InsertBlock(context.Background(), b, tc.seal(b.Hash())); err != nil {
		tc.t.Fatal(err)
	}
	return b
}

func (tc *testChain) transfer(from int, nonce uint64, to common.Address, value *big.Int) *types.Transaction {
	tx, err := types.SignNewTx(tc.keys[from], types.LatestSignerForChainID(tc.Config().ChainID), &types.DynamicFeeTx{
		ChainID: tc.Config().ChainID, Nonce: nonce, GasTipCap: big.NewInt(2e9), GasFeeCap: big.NewInt(10e9),
		Gas: 21000, To: &to, Value: value,
	})
	if err != nil {
		tc.t.Fatal(err)
	}
	return tx
}

func TestTransferBalancesAndFees(t *testing.T) {
	tc := newTestChain(t, "")
	from := crypto.PubkeyToAddress(tc.keys[0].PublicKey)
	to := common.HexToAddress("0x1111")
	st, _ := tc.StateAt(tc.Head().Root)
	before := st.GetBalance(from).ToBig()
	b := tc.mine(tc.transfer(0, 0, to, big.NewInt(12345)))
	if b.Transactions().Len() != 1 {
		t.Fatalf("block has %d txs", b.Transactions().Len())
	}
	st, _ = tc.StateAt(tc.Head().Root)
	if got := st.GetBalance(to).Uint64(); got != 12345 {
		t.Fatalf("recipient balance %d", got)
	}
	fee := new(big.Int).Mul(big.NewInt(21000), new(big.Int).Add(b.BaseFee(), big.NewInt(2e9)))
	want := new(big.Int).Sub(before, new(big.Int).Add(fee, big.NewInt(12345)))
	if got := st.GetBalance(from).ToBig(); got.Cmp(want) != 0 {
		t.Fatalf("sender balance %s, want %s", got, want)
	}
	// Priority fee goes to the proposer; the base fee is burned.
	coinbase := st.GetBalance(b.Coinbase()).ToBig()
	if want := big.NewInt(21000 * 2e9); coinbase.Cmp(want) != 0 {
		t.Fatalf("coinbase got %s, want %s", coinbase, want)
	}
	rs := tc.Receipts(b.Hash())
	if len(rs) != 1 || rs[0].Status != types.ReceiptStatusSuccessful || rs[0].EffectiveGasPrice == nil {
		t.Fatalf("receipts %+v", rs)
	}
	if tx, bh, n, i := tc.Transaction(b.Transactions()[0].Hash()); tx == nil || bh != b.Hash() || n != 1 || i != 0 {
		t.Fatal("tx lookup failed")
	}
}

func TestClientHeaderHashEqualsNodeHash(t *testing.T) {
	tc := newTestChain(t, "")
	b := tc.mine()
	b2 := tc.mine(tc.transfer(1, 0, common.HexToAddress("0x22"), big.NewInt(1)))
	for _, blk := range []*types.Block{tc.GenesisBlock(), b, b2} {
		enc, err := rlp.EncodeToBytes(blk.Header())
		if err != nil {
			t.Fatal(err)
		}
		var h types.Header
		if err := rlp.DecodeBytes(enc, &h); err != nil {
			t.Fatal(err)
		}
		if h.Hash() != blk.Hash() || crypto.Keccak256Hash(enc) != blk.Hash() {
			t.Fatalf("block %d: client hash %s != node hash %s", blk.NumberU64(), h.Hash(), blk.Hash())
		}
	}
	// Block 2 carries block 1's certificate, which verifies.
	extra, err := cert.DecodeExtra(b2.Extra())
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := tc.ValidatorsFor(1)
	if _, err := extra.ParentCommit.Verify(b.Hash(), vals); err != nil {
		t.Fatal(err)
	}
}

func TestInsertRejects(t *testing.T) {
	tc := newTestChain(t, "")
	b, err := tc.BuildBlock(context.Background(), &listSource{txs: []*types.Transaction{tc.transfer(0, 0, common.Address{1}, big.NewInt(1))}},
		BuildParams{Coinbase: crypto.PubkeyToAddress(tc.signer.PublicKey), Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// No certificate / wrong signer.
	if err := tc.InsertBlock(context.Background(), b, nil); !errors.Is(err, ErrInvalidBlock) {
		t.Fatalf("missing cert: %v", err)
	}
	other, _ := crypto.GenerateKey()
	s, _ := cert.SignCommit(b.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, other) })
	if err := tc.InsertBlock(context.Background(), b, &cert.Certificate{Seals: [][]byte{s}}); !errors.Is(err, ErrInvalidBlock) {
		t.Fatalf("foreign cert: %v", err)
	}
	// Tampered state root.
	h := b.Header()
	h.Root = common.Hash{1}
	bad := types.NewBlockWithHeader(h).WithBody(*b.Body())
	if err := tc.InsertBlock(context.Background(), bad, tc.seal(bad.Hash())); !errors.Is(err, ErrInvalidBlock) {
		t.Fatalf("bad root: %v", err)
	}
	// Wrong base fee.
	h = b.Header()
	h.BaseFee = big.NewInt(1)
	bad = types.NewBlockWithHeader(h).WithBody(*b.Body())
	if err := tc.InsertBlock(context.Background(), bad, tc.seal(bad.Hash())); !errors.Is(err, ErrInvalidBlock) {
		t.Fatalf("bad base fee: %v", err)
	}
	// The honest block still goes in, and not twice.
	if err := tc.InsertBlock(context.Background(), b, tc.seal(b.Hash())); err != nil {
		t.Fatal(err)
	}
	if err := tc.InsertBlock(context.Background(), b, tc.seal(b.Hash())); !errors.Is(err, ErrNotNext) {
		t.Fatalf("reinsert: %v", err)
	}
}

func TestReopenPebbleKeepsChain(t *testing.T) {
	dir := t.TempDir()
	tc := newTestChain(t, dir)
	tc.mine(tc.transfer(0, 0, common.Address{7}, big.NewInt(5)))
	b2 := tc.mine(tc.transfer(0, 1, common.Address{7}, big.NewInt(5)))
	if err := tc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tc.DB().Close(); err != nil {
		t.Fatal(err)
	}
	db, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := Open(db, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Head().Hash() != b2.Hash() {
		t.Fatalf("head %d after reopen, want %d", c.Head().Number, b2.NumberU64())
	}
	st, err := c.StateAt(c.Head().Root)
	if err != nil || st.GetBalance(common.Address{7}).Uint64() != 10 {
		t.Fatalf("state after reopen: %v", err)
	}
	// A different genesis is refused.
	g := genesis.Dev()
	g.ChainID = 99
	if _, err := Open(db, g, nil, nil); !errors.Is(err, ErrGenesisMismatch) {
		t.Fatalf("other genesis: %v", err)
	}
}

func TestValidateThenInsertUsesCache(t *testing.T) {
	tc := newTestChain(t, "")
	b, err := tc.BuildBlock(context.Background(), &listSource{txs: []*types.Transaction{tc.transfer(0, 0, common.Address{3}, big.NewInt(9))}},
		BuildParams{Coinbase: crypto.PubkeyToAddress(tc.signer.PublicKey), Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.ValidateBlock(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	h := b.Header()
	h.GasUsed++
	bad := types.NewBlockWithHeader(h).WithBody(*b.Body())
	if err := tc.ValidateBlock(context.Background(), bad); !errors.Is(err, ErrInvalidBlock) {
		t.Fatalf("tampered block validated: %v", err)
	}
	if err := tc.InsertBlock(context.Background(), b, tc.seal(b.Hash())); err != nil {
		t.Fatal(err)
	}
	st, _ := tc.StateAt(tc.Head().Root)
	if st.GetBalance(common.Address{3}).Uint64() != 9 {
		t.Fatal("balance after cached insert")
	}
	// The cache never lets a block in on the wrong parent.
	if err := tc.ValidateBlock(context.Background(), b); !errors.Is(err, ErrNotNext) {
		t.Fatalf("stale block validated: %v", err)
	}
}

// The pool caches senders with types.LatestSigner(config); the executor must
// find that cache (same signer), or every block pays signature recovery again.
func TestExecutorSignerMatchesLatestSigner(t *testing.T) {
	tc := newTestChain(t, "")
	h := tc.Head()
	if !types.LatestSigner(tc.Config()).Equal(types.MakeSigner(tc.Config(), new(big.Int).Add(h.Number, common.Big1), h.Time)) {
		t.Fatal("pool and executor signers differ")
	}
}

// A kept build is committed without re-execution, so BuildBlock must not
// keep (or return) a block that ValidateBlock would reject: here a proposer
// passes the certificate of a block other than the parent, as happens when
// sync moves the head between its Certificate and BuildBlock calls.
func TestKeepExecutionRejectsWrongParentCommit(t *testing.T) {
	tc := newTestChain(t, "")
	tc.mine()
	tc.mine()
	one := tc.HeaderByNumber(1)
	stale, err := tc.Certificate(1, one.Hash())
	if err != nil || stale == nil {
		t.Fatal(err)
	}
	b, err := tc.BuildBlock(context.Background(), nil, BuildParams{
		Coinbase: crypto.PubkeyToAddress(tc.signer.PublicKey), Time: time.Now(), ParentCommit: stale, KeepExecution: true,
	})
	if err == nil {
		err = tc.InsertBlock(context.Background(), b, tc.seal(b.Hash()))
	}
	if !errors.Is(err, ErrInvalidBlock) {
		t.Fatalf("block with the certificate of block 1 as parent commit of block 3: %v (head %d)", err, tc.Head().Number)
	}
}

// Sync penalises peers for ErrInvalidBlock: a cancelled import (shutdown)
// says nothing about the block.
func TestCancelledInsertIsNotInvalid(t *testing.T) {
	tc := newTestChain(t, "")
	b, err := tc.BuildBlock(context.Background(), &listSource{txs: []*types.Transaction{tc.transfer(0, 0, common.Address{3}, big.NewInt(9))}},
		BuildParams{Coinbase: crypto.PubkeyToAddress(tc.signer.PublicKey), Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = tc.InsertBlock(ctx, b, tc.seal(b.Hash()))
	if err == nil || errors.Is(err, ErrInvalidBlock) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled insert: %v", err)
	}
	if err := tc.InsertBlock(context.Background(), b, tc.seal(b.Hash())); err != nil {
		t.Fatal(err)
	}
}

func TestCoinbaseMustBeAValidator(t *testing.T) {
	tc := newTestChain(t, "")
	b, err := tc.BuildBlock(context.Background(), nil, BuildParams{Coinbase: common.Address{9}, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.InsertBlock(context.Background(), b, tc.seal(b.Hash())); !errors.Is(err, ErrInvalidBlock) {
		t.Fatalf("block paying a non-validator coinbase: %v", err)
	}
}

// A certified block is final: a node whose clock lags still imports it,
// while an uncertified proposal from the future is refused.
func TestClockBoundOnlyForProposals(t *testing.T) {
	tc := newTestChain(t, "")
	b, err := tc.BuildBlock(context.Background(), nil, BuildParams{
		Coinbase: crypto.PubkeyToAddress(tc.signer.PublicKey), Time: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.ValidateBlock(context.Background(), b); !errors.Is(err, ErrInvalidBlock) {
		t.Fatalf("proposal an hour ahead validated: %v", err)
	}
	if err := tc.InsertBlock(context.Background(), b, tc.seal(b.Hash())); err != nil {
		t.Fatalf("certified block refused: %v", err)
	}
}
