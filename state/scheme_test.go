package state

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/ethdb"

	"github.com/emc-network/emcd/genesis"
)

// Tests of the state schemes: the scheme a data dir records, crash recovery
// by replay (path scheme), and the history window. Each crash is simulated
// in-process by releasing the trie database without journaling its layers
// (what a SIGKILL leaves: pebble holds every synced block, the in-memory
// layers are gone); the real SIGKILL test is cmd/emcd's e2e test.

// openChainAt opens (creating) a pebble store in dir with sc.
func openChainAt(t *testing.T, dir string, sc StorageConfig) (*testChain, ethdb.Database) {
	t.Helper()
	db, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenWithStorage(db, genesis.Dev(), nil, nil, sc)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	keys, err := genesis.DevAccountKeys(3)
	if err != nil {
		t.Fatal(err)
	}
	return &testChain{Chain: c, t: t, signer: genesis.DevSignerKey(), keys: keys}, db
}

// crash drops the chain's in-memory state layers and closes the store.
func crash(t *testing.T, tc *testChain, db ethdb.Database) {
	t.Helper()
	tc.insertMu.Lock()
	tc.closed = true
	tc.insertMu.Unlock()
	if err := tc.triedb.Close(); err != nil { // no Journal: the layers are lost
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func closeClean(t *testing.T, tc *testChain, db ethdb.Database) {
	t.Helper()
	if err := tc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSchemeIsRecordedAndMismatchRefused(t *testing.T) {
	for _, scheme := range []string{SchemePath, SchemeHash} {
		t.Run(scheme, func(t *testing.T) {
			dir := t.TempDir()
			tc, db := openChainAt(t, dir, StorageConfig{Scheme: scheme})
			if tc.Scheme() != scheme {
				t.Fatalf("scheme %q, want %q", tc.Scheme(), scheme)
			}
			tc.mine(tc.transfer(0, 0, common.Address{7}, big.NewInt(5)))
			closeClean(t, tc, db)

			db, err := OpenStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got, err := StoredScheme(db); err != nil || got != scheme {
				t.Fatalf("StoredScheme = %q, %v", got, err)
			}
			other := SchemeHash
			if scheme == SchemeHash {
				other = SchemePath
			}
			_, err = OpenWithStorage(db, nil, nil, nil, StorageConfig{Scheme: other})
			if !errors.Is(err, ErrSchemeMismatch) || !strings.Contains(err.Error(), "--state.scheme "+scheme) {
				t.Fatalf("open with %s: %v", other, err)
			}
			// No flag: the recorded scheme.
			c, err := OpenWithStorage(db, nil, nil, nil, StorageConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Scheme() != scheme || c.Head().Number.Uint64() != 1 {
				t.Fatalf("reopened scheme %q head %d", c.Scheme(), c.Head().Number)
			}
		})
	}
}

func TestStoreWithoutSchemeRecordIsHash(t *testing.T) {
	dir := t.TempDir()
	tc, db := openChainAt(t, dir, StorageConfig{Scheme: SchemeHash})
	tc.mine(tc.transfer(0, 0, common.Address{7}, big.NewInt(5)))
	// A data dir from before this change has no record.
	if err := db.Delete(stateSchemeKey); err != nil {
		t.Fatal(err)
	}
	closeClean(t, tc, db)
	db, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := OpenWithStorage(db, nil, nil, nil, StorageConfig{Scheme: SchemePath}); !errors.Is(err, ErrSchemeMismatch) {
		t.Fatalf("legacy store opened as path: %v", err)
	}
	c, err := OpenWithStorage(db, nil, nil, nil, StorageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Scheme() != SchemeHash {
		t.Fatalf("legacy store scheme %q", c.Scheme())
	}
	st, err := c.StateAt(c.Head().Root)
	if err != nil || st.GetBalance(common.Address{7}).Uint64() != 5 {
		t.Fatalf("legacy state: %v", err)
	}
}

func TestUnknownSchemeRefused(t *testing.T) {
	_, err := OpenWithStorage(OpenMemoryStore(), genesis.Dev(), nil, nil, StorageConfig{Scheme: "flat"})
	if !errors.Is(err, ErrUnknownScheme) {
		t.Fatalf("got %v", err)
	}
}

// TestCrashLosesNoBlock mines blocks, crashes, and checks that reopening
// gives the same head with the same state. Under the path scheme the lost
// layers are rebuilt by re-executing every block since the persisted state.
func TestCrashLosesNoBlock(t *testing.T) {
	for _, scheme := range []string{SchemePath, SchemeHash} {
		t.Run(scheme, func(t *testing.T) {
			dir := t.TempDir()
			tc, db := openChainAt(t, dir, StorageConfig{Scheme: scheme})
			const blocks = 20
			for i := range blocks {
				tc.mine(tc.transfer(0, uint64(i), common.Address{7}, big.NewInt(5)))
			}
			head := tc.Head()
			crash(t, tc, db)

			db, err := OpenStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			c, err := OpenWithStorage(db, nil, nil, nil, StorageConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Head().Hash() != head.Hash() {
				t.Fatalf("head %d after crash, want %d", c.Head().Number, head.Number)
			}
			st, err := c.StateAt(c.Head().Root)
			if err != nil || st.GetBalance(common.Address{7}).Uint64() != 5*blocks {
				t.Fatalf("state after crash: %v", err)
			}
			replayed := c.RecoveredBlocks()
			if want := map[string]int{SchemePath: blocks, SchemeHash: 0}[scheme]; replayed != want {
				t.Fatalf("replayed %v blocks, want %v", replayed, want)
			}
			// The chain goes on from the recovered head.
			tc2 := &testChain{Chain: c, t: t, signer: tc.signer, keys: tc.keys}
			tc2.mine(tc2.transfer(0, blocks, common.Address{7}, big.NewInt(5)))
		})
	}
}

// TestFlushIntervalBoundsReplay: with the layers flattened every 10 blocks,
// a crash after block 25 replays blocks 21-25 only, and block 15 (on disk,
// below the layers) is read from the state history.
func TestFlushIntervalBoundsReplay(t *testing.T) {
	dir := t.TempDir()
	sc := StorageConfig{FlushInterval: 10}
	tc, db := openChainAt(t, dir, sc)
	for i := range 25 {
		tc.mine(tc.transfer(0, uint64(i), common.Address{7}, big.NewInt(5)))
	}
	crash(t, tc, db)
	db, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := OpenWithStorage(db, nil, nil, nil, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := c.RecoveredBlocks(); n != 5 {
		t.Fatalf("replayed %d blocks, want 5", n)
	}
	st, err := waitState(t, c, c.HeaderByNumber(15).Root)
	if err != nil || st.GetBalance(common.Address{7}).Uint64() != 75 {
		t.Fatalf("state of block 15: %v", err)
	}
}

// TestCleanCloseNeedsNoReplay: Close flushes the layers, so the next Open
// re-executes nothing, and the states of the flushed blocks stay readable
// (from the state history).
func TestCleanCloseNeedsNoReplay(t *testing.T) {
	dir := t.TempDir()
	tc, db := openChainAt(t, dir, StorageConfig{})
	for i := range 5 {
		tc.mine(tc.transfer(0, uint64(i), common.Address{7}, big.NewInt(5)))
	}
	closeClean(t, tc, db)
	db, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := OpenWithStorage(db, nil, nil, nil, StorageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := c.RecoveredBlocks(); n != 0 {
		t.Fatalf("replayed %v blocks after a clean close", n)
	}
	h2 := c.HeaderByNumber(2)
	st, err := waitState(t, c, h2.Root)
	if err != nil || st.GetBalance(common.Address{7}).Uint64() != 10 {
		t.Fatalf("state of block 2 after a clean close: %v", err)
	}
	if err := c.InsertBlock(t.Context(), c.GenesisBlock(), nil); !errors.Is(err, ErrNotNext) {
		t.Fatalf("insert after reopen: %v", err)
	}
}

// TestHistoryWindow: with --history.state N, states of the last N blocks
// below the in-memory layers are readable (balances, proofs); older ones
// answer go-ethereum's "not available" error. The hash scheme keeps all.
func TestHistoryWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("mines blocks")
	}
	const window = 8
	dir := t.TempDir()
	tc, db := openChainAt(t, dir, StorageConfig{StateHistory: window, TrienodeHistory: window})
	defer closeClean(t, tc, db)
	blocks := DiffLayers() + 22 // more than the in-memory layers
	for i := range blocks {
		tc.mine(tc.transfer(0, uint64(i), common.Address{7}, big.NewInt(5)))
	}
	// The disk layer is at blocks-DiffLayers(); histories cover the window below.
	disk := uint64(blocks - DiffLayers())
	inside := tc.HeaderByNumber(disk - 2)
	outside := tc.HeaderByNumber(disk - window - 3)

	st, err := waitState(t, tc.Chain, inside.Root)
	if err != nil {
		t.Fatalf("state of block %d inside the window: %v", inside.Number, err)
	}
	if got := st.GetBalance(common.Address{7}).Uint64(); got != 5*inside.Number.Uint64() {
		t.Fatalf("balance at block %d = %d", inside.Number, got)
	}
	if err := waitFor(func() error { _, err := tc.StateDatabase().OpenTrie(inside.Root); return err }); err != nil {
		t.Fatalf("account trie (proofs) of block %d: %v", inside.Number, err)
	}
	waitHistoryReady(t, tc.Chain)
	_, err = tc.StateAt(outside.Root)
	if err == nil || !strings.Contains(err.Error(), "not available") || IsHistoryIndexing(err) {
		t.Fatalf("state of block %d outside the window: %v", outside.Number, err)
	}
	t.Logf("outside the window: %v", err)
}

// TestHistoryWithoutTrienodes: by default the window serves state reads
// but not proofs below the in-memory layers.
func TestHistoryWithoutTrienodes(t *testing.T) {
	if testing.Short() {
		t.Skip("mines blocks")
	}
	dir := t.TempDir()
	tc, db := openChainAt(t, dir, StorageConfig{StateHistory: 8})
	defer closeClean(t, tc, db)
	blocks := DiffLayers() + 12
	for i := range blocks {
		tc.mine(tc.transfer(0, uint64(i), common.Address{7}, big.NewInt(5)))
	}
	inside := tc.HeaderByNumber(uint64(blocks - DiffLayers() - 2))
	st, err := waitState(t, tc.Chain, inside.Root)
	if err != nil || st.GetBalance(common.Address{7}).Uint64() != 5*inside.Number.Uint64() {
		t.Fatalf("state of block %d: %v", inside.Number, err)
	}
	if _, err := tc.StateDatabase().OpenTrie(inside.Root); err == nil {
		t.Fatalf("account trie of block %d opened without trie node history", inside.Number)
	}
	// Tracing replays a historical block on its parent's historic state.
	block := tc.BlockByNumber(inside.Number.Uint64() + 1)
	traced, err := tc.StateAtTransaction(t.Context(), block, 1)
	if err != nil || traced.GetBalance(common.Address{7}).Uint64() != 5*block.NumberU64() {
		t.Fatalf("state inside block %d after its first tx: %v", block.NumberU64(), err)
	}
	if _, err := tc.StateDatabase().OpenTrie(tc.HeaderByNumber(uint64(blocks - 5)).Root); err != nil {
		t.Fatalf("account trie of a block in memory: %v", err)
	}
}

// waitState opens root, retrying (up to 90 s) while go-ethereum's
// background history indexer catches up: until it has, a historic state
// answers "not available" (as in go-ethereum). The indexer's first pass
// after an open can wait for its 15 s heartbeat.
func waitState(t *testing.T, c *Chain, root common.Hash) (*ethstate.StateDB, error) {
	t.Helper()
	var st *ethstate.StateDB
	err := waitFor(func() (err error) {
		st, err = c.StateAt(root)
		return err
	})
	return st, err
}

// waitHistoryReady waits (up to 90 s) until c's history index has finished
// its first pass after the open, so states below the layers are readable.
func waitHistoryReady(t *testing.T, c *Chain) {
	t.Helper()
	if err := waitFor(func() error {
		if !c.HistoryReady() {
			return errors.New("the history index's first pass has not finished")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// waitFor retries read until it succeeds or 90 s pass: go-ethereum indexes
// state and trie node histories in the background, and a read below the
// in-memory layers fails until its history is indexed.
func waitFor(read func() error) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := read()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHistoryIndexOff: without the state history index only the layer
// tree's states are readable, with an error that names the setting; the
// history is still written, so reopening with the index on serves the older
// states again.
func TestHistoryIndexOff(t *testing.T) {
	if testing.Short() {
		t.Skip("mines blocks")
	}
	dir := t.TempDir()
	tc, db := openChainAt(t, dir, StorageConfig{NoHistoryIndex: true})
	blocks := DiffLayers() + 6
	for i := range blocks {
		tc.mine(tc.transfer(0, uint64(i), common.Address{7}, big.NewInt(5)))
	}
	disk := uint64(blocks - DiffLayers())
	below := tc.HeaderByNumber(disk - 2)
	inLayers := tc.HeaderByNumber(uint64(blocks - 3))
	st, err := tc.StateAt(inLayers.Root)
	if err != nil || st.GetBalance(common.Address{7}).Uint64() != 5*inLayers.Number.Uint64() {
		t.Fatalf("state of block %d in the layers: %v", inLayers.Number, err)
	}
	_, err = tc.StateAt(below.Root)
	if err == nil || !strings.Contains(err.Error(), "not available") || !strings.Contains(err.Error(), "--history.index=false") || IsHistoryIndexing(err) {
		t.Fatalf("state of block %d below the layers, index off: %v", below.Number, err)
	}
	t.Logf("index off: %v", err)
	if !tc.HistoryReady() {
		t.Fatal("HistoryReady false with the index off: nothing is being built")
	}
	closeClean(t, tc, db)

	tc, db = openChainAt(t, dir, StorageConfig{})
	defer closeClean(t, tc, db)
	st, err = waitState(t, tc.Chain, below.Root)
	if err != nil || st.GetBalance(common.Address{7}).Uint64() != 5*below.Number.Uint64() {
		t.Fatalf("state of block %d after reopening with the index on: %v", below.Number, err)
	}
}
