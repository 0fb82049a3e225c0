package node

// Decision tests of the registrar (node/registrar) over an in-memory chain
// with the real modules: the test seals the blocks and plays the wallet,
// so every head is chosen and every request the registrar sends is seen.

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/inventory"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node/registrar"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// recWallet records what the registrar submits; its handles never resolve.
type recWallet struct {
	addr common.Address
	reqs []wallet.Request
}

func (w *recWallet) Address() common.Address { return w.addr }

func (w *recWallet) Submit(_ context.Context, req wallet.Request) (*wallet.Handle, error) {
	w.reqs = append(w.reqs, req)
	return &wallet.Handle{}, nil
}

type stepFixture struct {
	t      *testing.T
	chain  *state.Chain
	mods   Modules
	key    *ecdsa.PrivateKey
	owner  common.Address
	nonce  uint64
	sealer *ecdsa.PrivateKey
}

// newStepFixture opens a dev chain with 4-block epochs whose owner account
// holds enough for a router stake.
func newStepFixture(t *testing.T) *stepFixture {
	g := genesis.Dev()
	g.EpochLength = 4
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	owner := crypto.PubkeyToAddress(key.PublicKey)
	g.Alloc[owner] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))}
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	return &stepFixture{t: t, chain: chain, mods: mods, key: key, owner: owner, sealer: genesis.DevSignerKey()}
}

// mine seals a block with the owner's transactions (to, value, data),
// which must all succeed.
func (f *stepFixture) mine(calls ...wallet.Request) {
	f.t.Helper()
	var txs []*types.Transaction
	for _, c := range calls {
		gas := c.Gas
		if gas == 0 {
			gas = 3_000_000
		}
		value := c.Value
		if value == nil {
			value = new(big.Int)
		}
		tx, err := types.SignNewTx(f.key, types.LatestSigner(f.chain.Config()), &types.DynamicFeeTx{
			ChainID: f.chain.Config().ChainID, Nonce: f.nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9),
			Gas: gas, To: c.To, Value: value, Data: c.Data,
		})
		if err != nil {
			f.t.Fatal(err)
		}
		f.nonce++
		txs = append(txs, tx)
	}
	b := supplyMine(f.t, f.chain, f.sealer, crypto.PubkeyToAddress(f.sealer.PublicKey), txs)
	for i, rc := range f.chain.Receipts(b.Hash()) {
		if rc.Status != types.ReceiptStatusSuccessful {
			f.t.Fatalf("tx %d (%s) failed in block %d", i, calls[i].Label, b.NumberU64())
		}
	}
}

func (f *stepFixture) registrar(role string, peerKey lcrypto.PrivKey, l inventory.Listing, estimate wallet.EstimateFunc, logs *logBuf) (*registrar.Registrar, *recWallet) {
	f.t.Helper()
	w := &recWallet{addr: f.owner}
	if estimate == nil {
		estimate = func(context.Context, common.Address, wallet.Request) (uint64, error) { return 400_000, nil }
	}
	r, err := registrar.New(registrar.Config{
		Role: role, PeerKey: peerKey, Listing: l, Chain: f.chain, Wallet: w, Estimate: estimate,
		Policy: wallet.DefaultPolicy(), RouterStaked: f.mods.registry().RouterStaked, Log: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return r, w
}

func registryABIFor(t *testing.T) abi.ABI {
	t.Helper()
	var m registry.Module
	a, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newPeerKey(t *testing.T) lcrypto.PrivKey {
	t.Helper()
	k, _, err := lcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A router whose owner has no stake sends nothing; once its stake is
// effective (the next epoch) it sends registerRouter with a proof of its
// peer ID that the registry accepts; registered, it sends nothing more.
func TestRegistrarRouterRegistersOnceStaked(t *testing.T) {
	f := newStepFixture(t)
	logs := &logBuf{}
	peerKey := newPeerKey(t)
	r, w := f.registrar(registrar.RoleRouter, peerKey, inventory.Listing{}, nil, logs)
	ctx := context.Background()
	r.Step(ctx, f.chain.Head())
	if len(w.reqs) != 0 || logs.count("no router stake") != 1 {
		t.Fatalf("unstaked router: %d requests; log:\n%s", len(w.reqs), logs)
	}
	var sm staking.Module
	sa, err := abi.JSON(strings.NewReader(sm.ABI()))
	if err != nil {
		t.Fatal(err)
	}
	stakeData, err := sa.Pack("stake", uint8(staking.RoleRouter), uint8(0))
	if err != nil {
		t.Fatal(err)
	}
	to := native.StakingAddress
	f.mine(wallet.Request{To: &to, Value: staking.DefaultParams().MinStakeWei[staking.RoleRouter].ToBig(), Data: stakeData, Label: "stake"})
	r.Step(ctx, f.chain.Head())
	for len(w.reqs) == 0 {
		if f.chain.Head().Number.Uint64() > 40 {
			t.Fatalf("no registerRouter by block 40; log:\n%s", logs)
		}
		f.mine()
		r.Step(ctx, f.chain.Head())
	}
	// Staked in block 1 (epoch 0 of 4-block epochs), effective from epoch
	// 1: the request goes out at head 3, for block 4 (attempts at heads 0,
	// 1 and 3 by the backoff), never earlier.
	if n := f.chain.Head().Number.Uint64(); n != 3 {
		t.Fatalf("registerRouter sent at head %d, want 3 (the last block before the stake's epoch)", n)
	}
	req := w.reqs[0]
	if req.Label != "registerRouter" || *req.To != native.RegistryAddress || req.Gas != 400_000 {
		t.Fatalf("request %+v, want registerRouter to the registry with the estimated gas", req)
	}
	f.mine(req)
	st, err := f.chain.StateAt(f.chain.Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	rt, ok, err := registry.RouterOf(st, f.owner)
	if err != nil || !ok || string(rt.PeerID) != string(r.PeerID()) {
		t.Fatalf("router after registerRouter: %+v %v %v, want peer %s", rt, ok, err, r.PeerID())
	}
	r2, w2 := f.registrar(registrar.RoleRouter, peerKey, inventory.Listing{}, nil, logs)
	r2.Step(ctx, f.chain.Head())
	if len(w2.reqs) != 0 || logs.count("registration up to date") != 1 {
		t.Fatalf("registered router sent %d requests; log:\n%s", len(w2.reqs), logs)
	}
}

func testListing(t *testing.T, price string) inventory.Listing {
	t.Helper()
	s := inventory.Summary{InventoryHash: crypto.Keccak256Hash([]byte("inv")), GPUCount: 1, GPUModel: "H100", MemoryMiB: 80 << 10, Simulated: true}
	o, err := inventory.ParseOffer(s, []string{price}, "0", nil)
	if err != nil {
		t.Fatal(err)
	}
	return inventory.Listing{Summary: s, Offer: o}
}

// The owner's node registered under another peer ID (another machine, or
// a lost node key): the registrar says how to fix it and sends nothing;
// registerNode would be refused and updateNode keeps the old peer ID.
func TestRegistrarRefusesOtherPeerID(t *testing.T) {
	f := newStepFixture(t)
	l := testListing(t, "1000")
	old := newPeerKey(t)
	id, sig, err := registry.SignPeerProof(old, uint256.MustFromBig(f.chain.Config().ChainID), f.owner)
	if err != nil {
		t.Fatal(err)
	}
	a := registryABIFor(t)
	data, err := a.Pack("registerNode", append([]any{id, sig}, l.Args()...)...)
	if err != nil {
		t.Fatal(err)
	}
	to := native.RegistryAddress
	f.mine(wallet.Request{To: &to, Data: data, Label: "registerNode"})
	logs := &logBuf{}
	r, w := f.registrar(registrar.RoleCompute, newPeerKey(t), testListing(t, "2000"), nil, logs)
	r.Step(context.Background(), f.chain.Head())
	if len(w.reqs) != 0 || logs.count("another peer ID") != 1 || !strings.Contains(logs.String(), "emcd node deregister") {
		t.Fatalf("other peer ID: %d requests; log:\n%s", len(w.reqs), logs)
	}
	// With its own key the same registrar would update the price.
	r, w = f.registrar(registrar.RoleCompute, old, testListing(t, "2000"), nil, logs)
	r.Step(context.Background(), f.chain.Head())
	if len(w.reqs) != 1 || w.reqs[0].Label != "updateNode" {
		t.Fatalf("own peer ID, new price: requests %+v, want one updateNode", w.reqs)
	}
}

// A registration the registry would refuse (gas estimation fails) is
// logged with the reason and retried 1, 2, 4 … blocks later, never more
// often; the attempts go on (capped at MaxBackoffBlocks apart).
func TestRegistrarBacksOff(t *testing.T) {
	f := newStepFixture(t)
	logs := &logBuf{}
	var calls []uint64
	var head uint64
	refuse := errors.New("execution reverted: registry: simulated GPUs are not allowed")
	estimate := func(context.Context, common.Address, wallet.Request) (uint64, error) {
		calls = append(calls, head)
		return 0, refuse
	}
	r, w := f.registrar(registrar.RoleCompute, newPeerKey(t), testListing(t, "1000"), estimate, logs)
	base := f.chain.Head()
	for head = 0; head <= 200; head++ {
		h := types.CopyHeader(base)
		h.Number = new(big.Int).SetUint64(head)
		r.Step(context.Background(), h)
	}
	want := []uint64{0, 1, 3, 7, 15, 31, 63, 127, 191}
	if len(w.reqs) != 0 || len(calls) != len(want) {
		t.Fatalf("attempts at heads %v, want %v (and no request sent: %d)", calls, want, len(w.reqs))
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Fatalf("attempts at heads %v, want %v", calls, want)
		}
	}
	if logs.count("simulated GPUs are not allowed") != len(want) {
		t.Fatalf("want one line with the reason per attempt; log:\n%s", logs)
	}
}

// A registered compute node whose listing matches sends nothing until its
// last on-chain update is PingEveryBlocks old, then the registry's ping;
// once the ping is mined, nothing again until the next interval. The
// jobs module's liveness window is what the pings keep open.
func TestRegistrarPings(t *testing.T) {
	f := newStepFixture(t)
	logs := &logBuf{}
	key := newPeerKey(t)
	l := testListing(t, "1000")
	w := &recWallet{addr: f.owner}
	r, err := registrar.New(registrar.Config{
		Role: registrar.RoleCompute, PeerKey: key, Listing: l, Chain: f.chain, Wallet: w,
		Estimate:        func(context.Context, common.Address, wallet.Request) (uint64, error) { return 400_000, nil },
		Policy:          wallet.DefaultPolicy(),
		RouterStaked:    f.mods.registry().RouterStaked,
		PingEveryBlocks: 5,
		Log:             slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r.Step(ctx, f.chain.Head())
	if len(w.reqs) != 1 || w.reqs[0].Label != "registerNode" {
		t.Fatalf("requests %+v, want registerNode", w.reqs)
	}
	f.mine(w.reqs[0])
	registered := f.chain.Head().Number.Uint64()
	// A fresh registrar (the first's handle never resolves) over the
	// registered node.
	w2 := &recWallet{addr: f.owner}
	r2, err := registrar.New(registrar.Config{
		Role: registrar.RoleCompute, PeerKey: key, Listing: l, Chain: f.chain, Wallet: w2,
		Estimate:        func(context.Context, common.Address, wallet.Request) (uint64, error) { return 100_000, nil },
		Policy:          wallet.DefaultPolicy(),
		RouterStaked:    f.mods.registry().RouterStaked,
		PingEveryBlocks: 5,
		Log:             slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for len(w2.reqs) == 0 {
		if f.chain.Head().Number.Uint64() > registered+10 {
			t.Fatalf("no ping by block %d; log:\n%s", registered+10, logs)
		}
		r2.Step(ctx, f.chain.Head())
		if len(w2.reqs) == 0 {
			f.mine()
		}
	}
	// Registered in block b: the ping is due for block b+5, sent at head b+4.
	if head := f.chain.Head().Number.Uint64(); head != registered+4 || w2.reqs[0].Label != "ping" {
		t.Fatalf("request %q at head %d, want ping at head %d", w2.reqs[0].Label, head, registered+4)
	}
	f.mine(w2.reqs[0])
	st, err := f.chain.StateAt(f.chain.Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := registry.NodeOf(st, f.owner)
	if err != nil {
		t.Fatal(err)
	}
	if seen := registry.LastSeen(st, &n); seen != registered+5 {
		t.Fatalf("last seen %d after the ping, want %d", seen, registered+5)
	}
	// A third registrar after the ping: nothing to send until the next
	// interval.
	w3 := &recWallet{addr: f.owner}
	r3, err := registrar.New(registrar.Config{
		Role: registrar.RoleCompute, PeerKey: key, Listing: l, Chain: f.chain, Wallet: w3,
		Estimate:        func(context.Context, common.Address, wallet.Request) (uint64, error) { return 100_000, nil },
		Policy:          wallet.DefaultPolicy(),
		RouterStaked:    f.mods.registry().RouterStaked,
		PingEveryBlocks: 5,
		Log:             slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	r3.Step(ctx, f.chain.Head())
	if len(w3.reqs) != 0 {
		t.Fatalf("sent %+v right after a ping", w3.reqs)
	}
}
