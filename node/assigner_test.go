package node

// The assignment service (router/assign) over an in-memory dev chain with
// the real modules: a staked, registered router; a compute node registered
// with its peer proof; two submitted jobs, one that fits the node and one
// that asks for more GPUs than it has. The live table is a FAKE (the
// heartbeat tracker needs a network): one entry for the registered node.
// The test seals the blocks and plays the wallet: each assign the service
// sends is signed by the router's key and mined, and its handle resolves
// with the receipt.

import (
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"context"
	"crypto/ecdsa"
	"log/slog"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/router/assign"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/router/scheduler"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// fakeLiveTable is a FAKE live table with fixed entries.
type fakeLiveTable []heartbeat.Node

func (l fakeLiveTable) Snapshot() []heartbeat.Node { return l }

// minedPending resolves when the test mines the request.
type minedPending struct {
	done chan struct{}
	rc   *types.Receipt
	err  error
}

func (p *minedPending) Done() <-chan struct{} { return p.done }
func (p *minedPending) Wait(context.Context) (*types.Receipt, error) {
	<-p.done
	return p.rc, p.err
}

type chainActor struct {
	key   *ecdsa.PrivateKey
	addr  common.Address
	nonce uint64
}

type assignFixture struct {
	t                 *testing.T
	chain             *state.Chain
	mods              Modules
	sealer            *ecdsa.PrivateKey
	router, node, sub *chainActor
}

func newAssignFixture(t *testing.T) *assignFixture {
	g := genesis.Dev()
	g.EpochLength = 4
	f := &assignFixture{t: t, sealer: genesis.DevSignerKey()}
	for _, a := range []**chainActor{&f.router, &f.node, &f.sub} {
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		*a = &chainActor{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
		g.Alloc[(*a).addr] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))}
	}
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	f.chain, f.mods = chain, mods
	return f
}

// mine seals a block with the given transactions and returns their
// receipts.
func (f *assignFixture) mine(calls ...func() *types.Transaction) []*types.Receipt {
	f.t.Helper()
	var txs []*types.Transaction
	for _, c := range calls {
		txs = append(txs, c())
	}
	b := supplyMine(f.t, f.chain, f.sealer, crypto.PubkeyToAddress(f.sealer.PublicKey), txs)
	return f.chain.Receipts(b.Hash())
}

// tx signs a call from a.
func (f *assignFixture) tx(a *chainActor, to common.Address, value *big.Int, data []byte) func() *types.Transaction {
	return func() *types.Transaction {
		if value == nil {
			value = new(big.Int)
		}
		tx, err := types.SignNewTx(a.key, types.LatestSigner(f.chain.Config()), &types.DynamicFeeTx{
			ChainID: f.chain.Config().ChainID, Nonce: a.nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9),
			Gas: 3_000_000, To: &to, Value: value, Data: data,
		})
		if err != nil {
			f.t.Fatal(err)
		}
		a.nonce++
		return tx
	}
}

func (f *assignFixture) mustMine(calls ...func() *types.Transaction) {
	f.t.Helper()
	for i, rc := range f.mine(calls...) {
		if rc.Status != types.ReceiptStatusSuccessful {
			f.t.Fatalf("tx %d failed in block %d", i, rc.BlockNumber)
		}
	}
}

func moduleABI(t *testing.T, mods Modules, addr common.Address) abi.ABI {
	t.Helper()
	m, ok := mods.Lookup(addr)
	if !ok {
		t.Fatalf("no module at %s", addr)
	}
	a, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func pack(t *testing.T, a abi.ABI, method string, args ...any) []byte {
	t.Helper()
	data, err := a.Pack(method, args...)
	if err != nil {
		t.Fatalf("pack %s: %v", method, err)
	}
	return data
}

// registerRouter stakes the router minimum for f.router, mines until the
// stake's epoch counts it, and registers it as a router.
func (f *assignFixture) registerRouter() {
	t := f.t
	t.Helper()
	stkABI := moduleABI(t, f.mods, native.StakingAddress)
	regABI := moduleABI(t, f.mods, native.RegistryAddress)
	f.mustMine(f.tx(f.router, native.StakingAddress, staking.DefaultParams().MinStakeWei[staking.RoleRouter].ToBig(),
		pack(t, stkABI, "stake", uint8(staking.RoleRouter), uint8(0))))
	for f.chain.Head().Number.Uint64() < 4 {
		f.mustMine()
	}
	rid, rsig, err := registry.SignPeerProof(newPeerKey(t), uint256.MustFromBig(f.chain.Config().ChainID), f.router.addr)
	if err != nil {
		t.Fatal(err)
	}
	f.mustMine(f.tx(f.router, native.RegistryAddress, nil, pack(t, regABI, "registerRouter", rid, rsig)))
}

// registerNode registers f.node under a new peer key: gpus H100s of
// 81,559 MiB at 1 gwei per GPU-second, holding image. It returns the peer
// key and the registered peer id bytes.
func (f *assignFixture) registerNode(gpus uint32, image common.Hash) (lcrypto.PrivKey, []byte) {
	t := f.t
	t.Helper()
	regABI := moduleABI(t, f.mods, native.RegistryAddress)
	nodeKey := newPeerKey(t)
	nid, nsig, err := registry.SignPeerProof(nodeKey, uint256.MustFromBig(f.chain.Config().ChainID), f.node.addr)
	if err != nil {
		t.Fatal(err)
	}
	f.mustMine(f.tx(f.node, native.RegistryAddress, nil, pack(t, regABI, "registerNode", nid, nsig,
		crypto.Keccak256Hash([]byte("inventory")), gpus, "NVIDIA H100", uint64(81_559), false,
		[]string{"NVIDIA H100"}, []*big.Int{big.NewInt(1e9)}, big.NewInt(0), [][32]byte{image})))
	return nodeKey, nid
}

func TestAssignerAssignsJobOnChain(t *testing.T) {
	f := newAssignFixture(t)
	jobsABI := moduleABI(t, f.mods, native.JobsAddress)

	f.registerRouter()

	// The compute node registers: 2 H100 of 81,559 MiB at 1 gwei per
	// GPU-second, holding one image.
	image := common.Hash{0x1a}
	_, nid := f.registerNode(2, image)

	// Two jobs: one fits the node, one asks for 8 GPUs.
	submit := func(gpus uint32) func() *types.Transaction {
		spec := jobs.Spec{Image: image, GPUs: gpus, GPUModel: "NVIDIA H100", TimeoutSeconds: 60, OutputCapBytes: 1 << 20}
		enc, err := spec.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return f.tx(f.sub, native.JobsAddress, new(big.Int).Mul(big.NewInt(1e9), big.NewInt(60*8*2)),
			pack(t, jobsABI, "submitJob", enc, big.NewInt(2e9)))
	}
	f.mustMine(submit(2), submit(8))
	submitBlock := f.chain.Head().Number.Uint64()

	// The service, with the FAKE live table holding the node's heartbeat.
	pid, err := peer.IDFromBytes(nid)
	if err != nil {
		t.Fatal(err)
	}
	live := fakeLiveTable{{
		Peer:   p2p.PeerID(pid.String()),
		Latest: heartbeat.Heartbeat{Peer: nid, Owner: f.node.addr, FreeGPUs: 2, GPUUtil: []uint32{0, 0}},
	}}
	var sends []wallet.Request
	var pendings []*minedPending
	logs := &logBuf{}
	svc, err := assign.New(assign.Config{
		Router: f.router.addr,
		View:   assignView(f.chain, f.mods, slog.New(slog.DiscardHandler)),
		Send: func(_ context.Context, req wallet.Request) (assign.Pending, error) {
			sends = append(sends, req)
			p := &minedPending{done: make(chan struct{})}
			pendings = append(pendings, p)
			return p, nil
		},
		Live:   live,
		NowMs:  func() int64 { return 0 },
		Params: scheduler.DefaultParams(),
		Log:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for len(sends) == 0 {
		if f.chain.Head().Number.Uint64() > 40 {
			t.Fatalf("no assign by block 40; log:\n%s", logs)
		}
		svc.Step(ctx, f.chain.Head())
		if len(sends) == 0 {
			f.mustMine()
		}
	}
	svc.Step(ctx, f.chain.Head()) // pending: nothing more
	if len(sends) != 1 {
		t.Fatalf("%d assigns sent, want 1 (one job fits, the other is pending); log:\n%s", len(sends), logs)
	}
	args, err := jobsABI.Methods["assign"].Inputs.Unpack(sends[0].Data[4:])
	if err != nil || args[0].(*big.Int).Uint64() != 1 || args[1].(common.Address) != f.node.addr {
		t.Fatalf("assign args %v (%v), want (1, %s)", args, err, f.node.addr)
	}
	rcs := f.mine(f.tx(f.router, *sends[0].To, nil, sends[0].Data))
	if rcs[0].Status != types.ReceiptStatusSuccessful {
		t.Fatalf("assign reverted; log:\n%s", logs)
	}
	// The service predicted the draw: the assign was sent at the seed
	// block and landed in the draw block itself, the first block in which
	// the chain lets the drawn router assign.
	if want := submitBlock + jobs.DefaultOfferDelayBlocks + 1; rcs[0].BlockNumber.Uint64() != want {
		t.Fatalf("assign landed in block %d, want the draw block %d (submitted in %d)", rcs[0].BlockNumber, want, submitBlock)
	}
	pendings[0].rc = rcs[0]
	close(pendings[0].done)

	for range 3 {
		svc.Step(ctx, f.chain.Head())
		f.mustMine()
	}
	st, err := f.chain.StateAt(f.chain.Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	j1, _, _ := jobs.JobOf(st, 1)
	j2, _, _ := jobs.JobOf(st, 2)
	if j1.State != jobs.StateAssigned || j1.Node != f.node.addr || j1.Router != f.router.addr {
		t.Fatalf("job 1: %s to %s by %s, want assigned to %s by %s", j1.State, j1.Node, j1.Router, f.node.addr, f.router.addr)
	}
	if j2.State != jobs.StateSubmitted {
		t.Fatalf("job 2 (8 GPUs): %s, want still submitted", j2.State)
	}
	if len(sends) != 1 {
		t.Fatalf("%d assigns sent, want 1", len(sends))
	}
	if logs.count("job not placed") == 0 || logs.count("job assigned") != 1 {
		t.Fatalf("log lacks the unplaced job or the assignment:\n%s", logs)
	}
}
