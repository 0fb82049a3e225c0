package state

// Block hooks (state/native BlockHooks) run identically when a block is
// built, validated by another node, replayed for tracing and re-executed
// after a crash: the test module below records what it saw, and every path
// must reach the same state root.

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state/native"
)

var hookModuleAddr = common.HexToAddress("0x00000000000000000000000000000000000010fe")

// Storage of hookModule.
const (
	slotBegins     = 0 // BeginBlock calls
	slotEnds       = 1 // EndBlock calls
	slotLastGas    = 2 // env.GasUsed at the last EndBlock
	slotLastSealed = 3 // len(env.ParentSigners) at the last BeginBlock
	slotLastVals   = 4 // len(env.Validators) at the last BeginBlock
	slotLastParent = 5 // env.ParentHash at the last BeginBlock
)

// hookModule counts its hooks; failAt makes BeginBlock fail at that block.
type hookModule struct{ failAt uint64 }

func (hookModule) Name() string            { return "hooktest" }
func (hookModule) Address() common.Address { return hookModuleAddr }
func (hookModule) ABI() string {
	return `[{"type":"function","name":"begins","inputs":[],"outputs":[{"type":"uint256"}],"stateMutability":"view"}]`
}
func (hookModule) Methods() []native.Method {
	return []native.Method{{Name: "begins", Gas: 2200, Handler: func(c *native.Call, _ []any) ([]any, error) {
		return []any{c.LoadUint(native.Slot(slotBegins)).ToBig()}, nil
	}}}
}

func (m hookModule) BeginBlock(c *native.Call, env *native.BlockEnv) error {
	if m.failAt != 0 && env.Number == m.failAt {
		return errors.New("hook test failure")
	}
	if !c.InHook() {
		return errors.New("hook call not marked")
	}
	c.StoreUint(native.Slot(slotBegins), new(uint256.Int).AddUint64(c.LoadUint(native.Slot(slotBegins)), 1))
	c.StoreUint(native.Slot(slotLastSealed), uint256.NewInt(uint64(len(env.ParentSigners))))
	c.StoreUint(native.Slot(slotLastVals), uint256.NewInt(uint64(len(env.Validators))))
	c.Store(native.Slot(slotLastParent), env.ParentHash)
	return nil
}

func (hookModule) EndBlock(c *native.Call, env *native.BlockEnv) error {
	c.StoreUint(native.Slot(slotEnds), new(uint256.Int).AddUint64(c.LoadUint(native.Slot(slotEnds)), 1))
	c.StoreUint(native.Slot(slotLastGas), uint256.NewInt(env.GasUsed))
	return nil
}

func hookChain(t *testing.T, m hookModule) *testChain {
	t.Helper()
	reg, err := native.NewRegistry(m)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(OpenMemoryStore(), genesis.Dev(), reg, nil)
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

func hookSlot(t *testing.T, c *Chain, root common.Hash, slot uint64) uint64 {
	t.Helper()
	st, err := c.StateAt(root)
	if err != nil {
		t.Fatal(err)
	}
	return native.LoadUint(st, hookModuleAddr, native.Slot(slot)).Uint64()
}

func TestBlockHooksRunAlikeEverywhere(t *testing.T) {
	a := hookChain(t, hookModule{})
	b := hookChain(t, hookModule{})
	to := common.HexToAddress("0xbeef")
	var blocks []*types.Block
	var certs []*cert.Certificate
	wantBurn := new(big.Int)
	for i := range 4 {
		var txs []*types.Transaction
		if i%2 == 1 {
			txs = append(txs, a.transfer(0, uint64(i/2), to, big.NewInt(1)), a.transfer(1, uint64(i/2), to, big.NewInt(2)))
		}
		blk := a.mine(txs...)
		wantBurn.Add(wantBurn, new(big.Int).Mul(new(big.Int).SetUint64(blk.GasUsed()), blk.BaseFee()))
		ct, err := a.Certificate(blk.NumberU64(), blk.Hash())
		if err != nil {
			t.Fatal(err)
		}
		blocks, certs = append(blocks, blk), append(certs, ct)
	}
	head := a.Head()
	if got := hookSlot(t, a.Chain, head.Root, slotBegins); got != 4 {
		t.Fatalf("BeginBlock ran %d times over 4 blocks", got)
	}
	if got := hookSlot(t, a.Chain, head.Root, slotEnds); got != 4 {
		t.Fatalf("EndBlock ran %d times over 4 blocks", got)
	}
	if got := hookSlot(t, a.Chain, head.Root, slotLastSealed); got != 1 {
		t.Fatalf("block 4's hook saw %d parent signers, want the dev signer's 1", got)
	}
	if got := hookSlot(t, a.Chain, head.Root, slotLastVals); got != 1 {
		t.Fatalf("block 4's hook saw %d validators, want 1", got)
	}
	for _, blk := range blocks {
		st, err := a.StateAt(blk.Root())
		if err != nil {
			t.Fatal(err)
		}
		if got := st.GetState(hookModuleAddr, native.Slot(slotLastParent)); got != blk.ParentHash() || got == (common.Hash{}) {
			t.Fatalf("block %d's hook saw parent hash %s, want %s", blk.NumberU64(), got, blk.ParentHash())
		}
	}
	if got := hookSlot(t, a.Chain, blocks[1].Root(), slotLastGas); got != 2*21000 {
		t.Fatalf("EndBlock of block 2 saw gas %d, want %d", got, 2*21000)
	}
	st, _ := a.StateAt(head.Root)
	if got := native.Burned(st, native.BurnBaseFee).ToBig(); got.Cmp(wantBurn) != 0 || wantBurn.Sign() == 0 {
		t.Fatalf("base fee burned %s, want %s", got, wantBurn)
	}
	if got := native.BurnedTotal(st).ToBig(); got.Cmp(wantBurn) != 0 {
		t.Fatalf("total burned %s, want %s", got, wantBurn)
	}

	// Another node validates and inserts the same blocks: same roots.
	for i, blk := range blocks {
		if err := b.InsertBlock(context.Background(), blk, certs[i]); err != nil {
			t.Fatalf("validating block %d: %v", blk.NumberU64(), err)
		}
	}
	if b.Head().Root != head.Root {
		t.Fatal("a validating node reached another state root")
	}

	// Tracing replays from the parent: BeginBlock has run, EndBlock has not.
	st, err := a.StateAtTransaction(context.Background(), blocks[3], 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := native.LoadUint(st, hookModuleAddr, native.Slot(slotBegins)).Uint64(); got != 4 {
		t.Fatalf("state before tx 1 of block 4: %d BeginBlocks, want 4", got)
	}
	if got := native.LoadUint(st, hookModuleAddr, native.Slot(slotEnds)).Uint64(); got != 3 {
		t.Fatalf("state before tx 1 of block 4: %d EndBlocks, want 3", got)
	}
}

func TestFailingHookInvalidatesBlock(t *testing.T) {
	good := hookChain(t, hookModule{})
	bad := hookChain(t, hookModule{failAt: 2})
	good.mine()
	two := good.mine()
	ct, _ := good.Certificate(1, good.BlockByNumber(1).Hash())
	if err := bad.InsertBlock(context.Background(), good.BlockByNumber(1), ct); err != nil {
		t.Fatal(err)
	}
	ct2, _ := good.Certificate(2, two.Hash())
	if err := bad.InsertBlock(context.Background(), two, ct2); !errors.Is(err, native.ErrHook) {
		t.Fatalf("insert with a failing hook: %v, want ErrHook", err)
	}
	_, err := bad.BuildBlock(context.Background(), nil, BuildParams{
		Coinbase: crypto.PubkeyToAddress(bad.signer.PublicKey), Time: time.Now(), ParentCommit: ct,
	})
	if !errors.Is(err, native.ErrHook) {
		t.Fatalf("build with a failing hook: %v, want ErrHook", err)
	}
	if bad.Head().Number.Uint64() != 1 {
		t.Fatal("a block whose hook failed entered the chain")
	}
}

// setSource hands the chain a fixed next set at every boundary.
type setSource struct {
	hookModule
	next []common.Address
}

func (s setSource) NextValidators(native.StateReader, uint64) ([]common.Address, error) {
	return s.next, nil
}

func TestBoundaryTakesTheModulesValidatorSet(t *testing.T) {
	newKey, _ := crypto.ToECDSA(crypto.Keccak256([]byte("next-epoch-validator")))
	next := []common.Address{crypto.PubkeyToAddress(newKey.PublicKey)}
	open := func(src setSource) *Chain {
		reg, err := native.NewRegistry(src)
		if err != nil {
			t.Fatal(err)
		}
		g := genesis.Dev()
		g.EpochLength = 3
		c, err := Open(OpenMemoryStore(), g, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	c := open(setSource{next: next})
	liar := open(setSource{next: []common.Address{genesis.DevAccounts()[0]}})
	old := genesis.DevSignerKey()
	var parent *cert.Certificate
	for n := uint64(1); n <= 5; n++ {
		key := old
		if n > 3 {
			key = newKey
		}
		b, err := c.BuildBlock(context.Background(), nil, BuildParams{
			Coinbase: crypto.PubkeyToAddress(key.PublicKey), Time: time.Now(), ParentCommit: parent,
		})
		if err != nil {
			t.Fatalf("build %d: %v", n, err)
		}
		ct := sealFor(t, b.Hash(), key)
		if err := c.InsertBlock(context.Background(), b, ct); err != nil {
			t.Fatalf("insert %d: %v", n, err)
		}
		if n == 3 {
			// The other node's module wants another set: it refuses
			// the boundary block.
			if err := liar.InsertBlock(context.Background(), c.BlockByNumber(1), mustCert(t, c, 1)); err != nil {
				t.Fatal(err)
			}
			if err := liar.InsertBlock(context.Background(), c.BlockByNumber(2), mustCert(t, c, 2)); err != nil {
				t.Fatal(err)
			}
			if err := liar.InsertBlock(context.Background(), b, ct); !errors.Is(err, ErrInvalidBlock) {
				t.Fatalf("boundary with another set: %v, want ErrInvalidBlock", err)
			}
		}
		parent = ct
	}
	for n, want := range map[uint64]common.Address{3: crypto.PubkeyToAddress(old.PublicKey), 4: next[0], 6: next[0]} {
		vals, err := c.ValidatorsFor(n)
		if err != nil || len(vals) != 1 || vals[0] != want {
			t.Fatalf("validators for %d: %v %v, want %s", n, vals, err, want)
		}
	}
}

func mustCert(t *testing.T, c *Chain, n uint64) *cert.Certificate {
	t.Helper()
	ct, err := c.Certificate(n, c.BlockByNumber(n).Hash())
	if err != nil {
		t.Fatal(err)
	}
	return ct
}
