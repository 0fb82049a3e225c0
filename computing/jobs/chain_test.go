package jobs_test

// TestOnChain runs one job through the real block executor (state.Chain:
// BuildBlock, InsertBlock, the hooks with the header's parent hash) with
// signed transactions, then has a second node validate every block and
// reach the same state root.

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/staking"
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

type chainFixture struct {
	t      *testing.T
	g      *genesis.Genesis
	reg    *native.Registry
	chain  *state.Chain
	keys   []*ecdsa.PrivateKey
	nonces map[common.Address]uint64
	blocks []*types.Block
	certs  []*cert.Certificate
	abis   map[common.Address]abi.ABI
}

func chainGenesis(t *testing.T) (*genesis.Genesis, *native.Registry) {
	t.Helper()
	return chainGenesisWith(t, testParams)
}

// chainGenesisWith is chainGenesis with the jobs params jobsParams.
func chainGenesisWith(t *testing.T, jobsParams string) (*genesis.Genesis, *native.Registry) {
	t.Helper()
	g := genesis.Dev()
	g.EpochLength = 4
	g.Params[staking.Name] = json.RawMessage(`{"minRouterStakeWei":"1000000000000000000"}`)
	g.Params[jobs.Name] = json.RawMessage(jobsParams)
	// The jobs module's chain runs staking, registry and jobs only; the dev
	// genesis also names modules (apps) this package cannot load.
	for name := range g.Params {
		if name != staking.Name && name != registry.Name && name != jobs.Name {
			delete(g.Params, name)
		}
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	sp, err := staking.ParseParams(g.Params[staking.Name], uint64(g.EpochLength))
	if err != nil {
		t.Fatal(err)
	}
	st := registry.Staking{EpochLength: uint64(g.EpochLength), MinRouterStakeWei: sp.MinStakeWei[staking.RoleRouter]}
	reg, err := native.Load(g.Params, map[string]native.Factory{
		staking.Name:  staking.Factory(uint64(g.EpochLength)),
		registry.Name: registry.Factory(st),
		jobs.Name:     jobs.Factory(st, uint64(g.BlockPeriodMs)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return g, reg
}

func openChain(t *testing.T, g *genesis.Genesis, reg *native.Registry) *state.Chain {
	t.Helper()
	c, err := state.Open(state.OpenMemoryStore(), g, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (cf *chainFixture) tx(from int, to common.Address, value *big.Int, name string, args ...any) *types.Transaction {
	cf.t.Helper()
	data, err := func() ([]byte, error) { a := cf.abis[to]; return a.Pack(name, args...) }()
	if err != nil {
		cf.t.Fatal(err)
	}
	key := cf.keys[from]
	addr := crypto.PubkeyToAddress(key.PublicKey)
	cid := cf.chain.Config().ChainID
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(cid), &types.DynamicFeeTx{
		ChainID: cid, Nonce: cf.nonces[addr], GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9),
		Gas: 8_000_000, To: &to, Value: value, Data: data, // a deterministic result prepays its re-execution rounds
	})
	if err != nil {
		cf.t.Fatal(err)
	}
	cf.nonces[addr]++
	return tx
}

// mine builds, seals and inserts a block of txs, 2 s after its parent, and
// fails unless every transaction is in it and succeeded.
func (cf *chainFixture) mine(txs ...*types.Transaction) *types.Block {
	cf.t.Helper()
	head := cf.chain.Head()
	var parentCert *cert.Certificate
	if head.Number.Sign() > 0 {
		c, err := cf.chain.Certificate(head.Number.Uint64(), head.Hash())
		if err != nil || c == nil {
			cf.t.Fatalf("head certificate: %v", err)
		}
		parentCert = c
	}
	signer := genesis.DevSignerKey()
	b, err := cf.chain.BuildBlock(context.Background(), &txList{txs: txs}, state.BuildParams{
		Coinbase: crypto.PubkeyToAddress(signer.PublicKey), Time: time.Unix(int64(head.Time)+2, 0), ParentCommit: parentCert,
	})
	if err != nil {
		cf.t.Fatal(err)
	}
	s, err := cert.SignCommit(b.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, signer) })
	if err != nil {
		cf.t.Fatal(err)
	}
	ct := &cert.Certificate{Seals: [][]byte{s}}
	if err := cf.chain.InsertBlock(context.Background(), b, ct); err != nil {
		cf.t.Fatal(err)
	}
	if len(b.Transactions()) != len(txs) {
		cf.t.Fatalf("block %d holds %d of %d transactions", b.NumberU64(), len(b.Transactions()), len(txs))
	}
	for i, r := range cf.chain.Receipts(b.Hash()) {
		if r.Status != types.ReceiptStatusSuccessful {
			cf.t.Fatalf("block %d tx %d (%x) failed", b.NumberU64(), i, b.Transactions()[i].Data()[:4])
		}
	}
	cf.blocks, cf.certs = append(cf.blocks, b), append(cf.certs, ct)
	return b
}

// fees is what the transactions of b paid.
func (cf *chainFixture) fees(b *types.Block) *uint256.Int {
	sum := new(uint256.Int)
	for _, r := range cf.chain.Receipts(b.Hash()) {
		sum.Add(sum, new(uint256.Int).Mul(uint256.NewInt(r.GasUsed), uint256.MustFromBig(r.EffectiveGasPrice)))
	}
	return sum
}

func (cf *chainFixture) head() native.StateReader {
	cf.t.Helper()
	st, err := cf.chain.StateAt(cf.chain.Head().Root)
	if err != nil {
		cf.t.Fatal(err)
	}
	return st
}

func TestOnChain(t *testing.T) {
	g, reg := chainGenesis(t)
	keys, err := genesis.DevAccountKeys(3)
	if err != nil {
		t.Fatal(err)
	}
	cf := &chainFixture{t: t, g: g, reg: reg, chain: openChain(t, g, reg), keys: keys,
		nonces: map[common.Address]uint64{}, abis: map[common.Address]abi.ABI{}}
	for _, m := range reg.All() {
		a, err := abi.JSON(strings.NewReader(m.ABI()))
		if err != nil {
			t.Fatal(err)
		}
		cf.abis[m.Address()] = a
	}
	const submitter, router, node = 0, 1, 2
	addr := func(i int) common.Address { return crypto.PubkeyToAddress(keys[i].PublicKey) }
	cid := uint256.MustFromBig(cf.chain.Config().ChainID)

	cf.mine(cf.tx(router, native.StakingAddress, big.NewInt(1e18), "stake", uint8(staking.RoleRouter), uint8(0)))
	for cf.chain.Head().Number.Uint64() < 4 { // the stake counts from epoch 1
		cf.mine()
	}
	rid, rsig, err := registry.SignPeerProof(peerKeyFor(t, 21), cid, addr(router))
	if err != nil {
		t.Fatal(err)
	}
	nid, nsig, err := registry.SignPeerProof(peerKeyFor(t, 22), cid, addr(node))
	if err != nil {
		t.Fatal(err)
	}
	cf.mine(
		cf.tx(router, native.RegistryAddress, nil, "registerRouter", rid, rsig),
		cf.tx(node, native.RegistryAddress, nil, "registerNode", nid, nsig, [32]byte{1}, uint32(2), "NVIDIA H200",
			uint64(143_771), true, []string{"NVIDIA H200"}, []*big.Int{big.NewInt(priceH200)}, big.NewInt(0), [][32]byte{imageA}),
	)
	escrow := big.NewInt(1e18)
	sb := cf.mine(cf.tx(submitter, native.JobsAddress, escrow, "submitJob", encode(t, goodSpec()), big.NewInt(priceH200)))
	cf.mine()
	cf.mine() // block s+2: its hash seeds the draw
	cf.mine() // block s+3 draws
	j, ok, err := jobs.JobOf(cf.head(), 1)
	if err != nil || !ok || !j.Offered || j.OfferedRouter != addr(router) || j.SubmitBlock != sb.NumberU64() {
		t.Fatalf("after the draw: %+v %v %v", j, ok, err)
	}
	nodeBefore := cf.head().GetBalance(addr(node)).Clone()
	cf.mine(cf.tx(router, native.JobsAddress, nil, "assign", big.NewInt(1), addr(node)))
	ab := cf.mine(cf.tx(node, native.JobsAddress, nil, "accept", big.NewInt(1)))
	rb := cf.mine(cf.tx(node, native.JobsAddress, nil, "submitResult", big.NewInt(1), [32]byte{0x5e}, uint64(10_000), int32(0)))
	for cf.chain.Head().Number.Uint64() < rb.NumberU64()+5 {
		cf.mine()
	}
	st := cf.head()
	j, _, _ = jobs.JobOf(st, 1)
	cost := uint256.NewInt(10 * priceH200)
	if j.State != jobs.StateSettled || !j.CostWei.Eq(cost) || j.EndBlock != rb.NumberU64()+5 {
		t.Fatalf("after the dispute window: %+v", j)
	}
	// The node's owner got 80 % of the cost and paid the fees of accept
	// and submitResult; nothing stays escrowed; 20 % was burned as rent.
	want := new(uint256.Int).Add(nodeBefore, uint256.NewInt(8*priceH200))
	want.Sub(want, cf.fees(ab)).Sub(want, cf.fees(rb))
	if got := st.GetBalance(addr(node)); !got.Eq(want) {
		t.Fatalf("node owner %s, want %s", got, want)
	}
	if !st.GetBalance(native.JobsAddress).IsZero() || !jobs.EscrowTotal(st).IsZero() {
		t.Fatalf("module holds %s after settlement", st.GetBalance(native.JobsAddress))
	}
	if got := native.Burned(st, native.BurnRent); got.Uint64() != 2*priceH200 {
		t.Fatalf("rent burned %s, want %d", got, 2*priceH200)
	}

	// Supply: Σ balances + burned is what the genesis state held (this
	// chain runs no rewards module, so the genesis total's reward pools
	// are not allocated: compare with the genesis state, not the table).
	seen := map[common.Address]bool{}
	for a := range g.Alloc {
		seen[a] = true
	}
	for a := range reg.GenesisAlloc() {
		seen[a] = true
	}
	seen[crypto.PubkeyToAddress(genesis.DevSignerKey().PublicKey)] = true
	seen[native.SupplyAddress] = true
	gst, err := cf.chain.StateAt(cf.chain.GenesisBlock().Root())
	if err != nil {
		t.Fatal(err)
	}
	sum, genesisSum := native.BurnedTotal(st).Clone(), new(uint256.Int)
	for a := range seen {
		sum.Add(sum, st.GetBalance(a))
		genesisSum.Add(genesisSum, gst.GetBalance(a))
	}
	if !sum.Eq(genesisSum) || native.BurnedTotal(st).Eq(native.Burned(st, native.BurnRent)) {
		t.Fatalf("Σ balances + burned = %s, genesis %s (burned %s)", sum, genesisSum, native.BurnedTotal(st))
	}

	// Another node validates every block and reaches the same root.
	other := openChain(t, g, reg)
	for i, b := range cf.blocks {
		if err := other.InsertBlock(context.Background(), b, cf.certs[i]); err != nil {
			t.Fatalf("validating block %d: %v", b.NumberU64(), err)
		}
	}
	if other.Head().Root != cf.chain.Head().Root {
		t.Fatal("a validating node reached another state root")
	}
}
