package apps_test

// TestOnChain runs one instance through the real block executor
// (state.Chain: BuildBlock, InsertBlock, the hooks) with signed
// transactions and the modules the node loads from the dev genesis
// (node.LoadModules), then has a second node validate every block and
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

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node"
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
	chain  *state.Chain
	keys   []*ecdsa.PrivateKey
	nonces map[common.Address]uint64
	blocks []*types.Block
	certs  []*cert.Certificate
	abis   map[common.Address]abi.ABI
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
	a := cf.abis[to]
	data, err := a.Pack(name, args...)
	if err != nil {
		cf.t.Fatal(err)
	}
	key := cf.keys[from]
	from20 := crypto.PubkeyToAddress(key.PublicKey)
	cid := cf.chain.Config().ChainID
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(cid), &types.DynamicFeeTx{
		ChainID: cid, Nonce: cf.nonces[from20], GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9),
		Gas: 5_000_000, To: &to, Value: value, Data: data,
	})
	if err != nil {
		cf.t.Fatal(err)
	}
	cf.nonces[from20]++
	return tx
}

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

func (cf *chainFixture) fees(b *types.Block) *uint256.Int {
	sum := new(uint256.Int)
	for _, r := range cf.chain.Receipts(b.Hash()) {
		sum.Add(sum, new(uint256.Int).Mul(uint256.NewInt(r.GasUsed), uint256.MustFromBig(r.EffectiveGasPrice)))
	}
	return sum
}

func (cf *chainFixture) head() *stateReader {
	cf.t.Helper()
	st, err := cf.chain.StateAt(cf.chain.Head().Root)
	if err != nil {
		cf.t.Fatal(err)
	}
	return &stateReader{st}
}

type stateReader struct{ native.StateReader }

// chainGenesis is the dev genesis with short epochs, a 1-EMC router
// minimum and short apps windows.
func chainGenesis(t *testing.T) (*genesis.Genesis, *native.Registry) {
	t.Helper()
	g := genesis.Dev()
	g.EpochLength = 4
	g.Params[staking.Name] = json.RawMessage(`{"minRouterStakeWei":"1000000000000000000"}`)
	g.Params[apps.Name] = json.RawMessage(`{"placeBlocks":10,"readyBlocks":5,"settleBlocks":3}`)
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	mods, err := node.LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mods.Lookup(native.AppsAddress); !ok {
		t.Fatal("the dev genesis does not load the apps module")
	}
	return g, mods.Registry
}

func TestOnChain(t *testing.T) {
	g, reg := chainGenesis(t)
	keys, err := genesis.DevAccountKeys(4)
	if err != nil {
		t.Fatal(err)
	}
	cf := &chainFixture{t: t, chain: openChain(t, g, reg), keys: keys, nonces: map[common.Address]uint64{}, abis: map[common.Address]abi.ABI{}}
	for _, m := range reg.All() {
		a, err := abi.JSON(strings.NewReader(m.ABI()))
		if err != nil {
			t.Fatal(err)
		}
		cf.abis[m.Address()] = a
	}
	const owner, router, nodeIdx, developer = 0, 1, 2, 3
	addrOf := func(i int) common.Address { return crypto.PubkeyToAddress(keys[i].PublicKey) }
	cid := uint256.MustFromBig(cf.chain.Config().ChainID)

	cf.mine(cf.tx(router, native.StakingAddress, big.NewInt(1e18), "stake", uint8(staking.RoleRouter), uint8(0)))
	for cf.chain.Head().Number.Uint64() < 4 {
		cf.mine()
	}
	rid, rsig := proof2(t, 21, cid, addrOf(router))
	nid, nsig := proof2(t, 22, cid, addrOf(nodeIdx))
	cf.mine(
		cf.tx(router, native.RegistryAddress, nil, "registerRouter", rid, rsig),
		cf.tx(nodeIdx, native.RegistryAddress, nil, "registerNode", nid, nsig, [32]byte{1}, uint32(2), "NVIDIA H200",
			uint64(143_771), true, []string{"NVIDIA H200"}, []*big.Int{big.NewInt(1e9)}, big.NewInt(0), [][32]byte{imageA}),
		cf.tx(developer, native.AppsAddress, nil, "publishApp", [32]byte(imageA), uint16(8080), "/health", "echo", "an echo server", "",
			big.NewInt(perCall), big.NewInt(perGPUSecond), uint16(1_000)),
	)
	escrow := big.NewInt(1e17)
	cf.mine(cf.tx(owner, native.AppsAddress, escrow, "deploy", big.NewInt(1), uint32(1), uint64(1), apiKeyHash))
	cf.mine(cf.tx(router, native.AppsAddress, nil, "place", big.NewInt(1), addrOf(nodeIdx)))
	cf.mine(cf.tx(nodeIdx, native.AppsAddress, nil, "ready", big.NewInt(1)))
	for i := 0; i < 10; i++ {
		cf.mine()
	}
	mt := &meter{m: apps.NewMeter(cid.Uint64(), 1, uint256.NewInt(perCall), uint256.NewInt(perGPUSecond)), node: keys[nodeIdx], router: keys[router]}
	rc := mt.calls(t, 20, 400)
	devBefore := cf.head().GetBalance(addrOf(developer)).Clone()
	nodeBefore := cf.head().GetBalance(addrOf(nodeIdx)).Clone()
	sb := cf.mine(cf.tx(nodeIdx, native.AppsAddress, nil, "settle", big.NewInt(1), rc))
	charge, _ := apps.Charge(uint256.NewInt(perCall), uint256.NewInt(perGPUSecond), 20, 8_000)
	roy, nodeShare, burn := apps.SplitCharge(charge, 1_000)
	st := cf.head()
	if got := new(uint256.Int).Sub(st.GetBalance(addrOf(developer)), devBefore); !got.Eq(roy) {
		t.Fatalf("royalty %s, want %s", got, roy)
	}
	wantNode := new(uint256.Int).Add(nodeBefore, nodeShare)
	if got := st.GetBalance(addrOf(nodeIdx)); !got.Eq(wantNode.Sub(wantNode, cf.fees(sb))) {
		t.Fatalf("node %s, want %s", got, wantNode)
	}
	if got := native.Burned(st, native.BurnRent); !got.Eq(burn) {
		t.Fatalf("rent burned %s, want %s", got, burn)
	}
	ownerBefore := st.GetBalance(addrOf(owner)).Clone()
	stop := cf.mine(cf.tx(owner, native.AppsAddress, nil, "stop", big.NewInt(1)))
	for i := 0; i < 4; i++ {
		cf.mine()
	}
	st = cf.head()
	in, ok, err := apps.InstanceOf(st, 1)
	if err != nil || !ok || in.State != apps.StateClosed || in.EndReason != apps.EndStopped || in.EndBlock != stop.NumberU64()+3 {
		t.Fatalf("closed: %+v %v %v", in, ok, err)
	}
	refund := new(uint256.Int).Sub(uint256.MustFromBig(escrow), charge)
	want := new(uint256.Int).Add(ownerBefore, refund)
	if got := st.GetBalance(addrOf(owner)); !got.Eq(want.Sub(want, cf.fees(stop))) {
		t.Fatalf("owner %s, want %s", got, want)
	}
	if !st.GetBalance(native.AppsAddress).IsZero() || !apps.EscrowTotal(st).IsZero() {
		t.Fatalf("module holds %s", st.GetBalance(native.AppsAddress))
	}

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

func proof2(t *testing.T, seed int64, cid *uint256.Int, owner common.Address) ([]byte, []byte) {
	t.Helper()
	id, sig, err := registry.SignPeerProof(peerKey(t, seed), cid, owner)
	if err != nil {
		t.Fatal(err)
	}
	return id, sig
}
