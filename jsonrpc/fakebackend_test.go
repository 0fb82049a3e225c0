package jsonrpc

// fakeBackend is a small in-memory Backend for this package's tests: a
// hand-built chain of three blocks on geth's in-memory state database,
// executed with core.ApplyTransaction, a map for a pool, and event feeds
// tests drive by hand. It stands in for the node package's Backend.

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus"
	"github.com/ethereum/go-ethereum/core"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/staking/rewards"
)

var (
	// The first account of the "test test ... junk" mnemonic and one more.
	devKey, _   = crypto.HexToECDSA("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
	devAddr     = crypto.PubkeyToAddress(devKey.PublicKey) // 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
	otherKey, _ = crypto.HexToECDSA("59c6995e998f97a5a0044966f0945389dc9e65dae88c38a93e8a3bae1f1b8ec2")
	otherAddr   = crypto.PubkeyToAddress(otherKey.PublicKey) // 0x2869f8c408F21bf16380570D32138b96c27E6Bb6

	loggerAddr   = common.HexToAddress("0x0000000000000000000000000000000000001000")
	reverterAddr = common.HexToAddress("0x0000000000000000000000000000000000002000")
	coinbase     = common.HexToAddress("0x00000000000000000000000000000000000000c0")
	logTopic     = common.HexToHash("0x00000000000000000000000000000000000000000000000000000000000000aa")

	testBaseFee = big.NewInt(params.GWei)
	// testTotalSupply is the fake chain's total supply: devAddr's genesis
	// balance, 10,000 ether.
	testTotalSupply = new(big.Int).Mul(big.NewInt(10_000), big.NewInt(params.Ether))
	testChainID     = big.NewInt(7357)
)

// loggerCode stores 42 in memory, emits LOG1(logTopic) with it, and writes
// the block number to slot 0.
var loggerCode = slices.Concat(
	[]byte{0x60, 0x2a, 0x60, 0x00, 0x52, 0x7f}, logTopic[:],
	[]byte{0x60, 0x20, 0x60, 0x00, 0xa1, 0x43, 0x60, 0x00, 0x55, 0x00},
)

// reverterCode reverts with Error("boom").
var reverterCode = slices.Concat(
	[]byte{0x7f, 0x08, 0xc3, 0x79, 0xa0}, make([]byte, 28), []byte{0x60, 0x00, 0x52}, // selector
	[]byte{0x60, 0x20, 0x60, 0x04, 0x52}, // offset
	[]byte{0x60, 0x04, 0x60, 0x24, 0x52}, // length
	[]byte{0x7f}, []byte("boom"), make([]byte, 28), []byte{0x60, 0x44, 0x52},
	[]byte{0x60, 0x64, 0x60, 0x00, 0xfd},
)

func testChainConfig() *params.ChainConfig {
	zero := uint64(0)
	return &params.ChainConfig{
		ChainID: testChainID, HomesteadBlock: common.Big0, EIP150Block: common.Big0, EIP155Block: common.Big0,
		EIP158Block: common.Big0, ByzantiumBlock: common.Big0, ConstantinopleBlock: common.Big0,
		PetersburgBlock: common.Big0, IstanbulBlock: common.Big0, MuirGlacierBlock: common.Big0,
		BerlinBlock: common.Big0, LondonBlock: common.Big0, ArrowGlacierBlock: common.Big0,
		GrayGlacierBlock: common.Big0, MergeNetsplitBlock: common.Big0, TerminalTotalDifficulty: common.Big0,
		ShanghaiTime: &zero, CancunTime: &zero,
		BlobScheduleConfig: &params.BlobScheduleConfig{Cancun: params.DefaultCancunBlobConfig},
	}
}

type txLoc struct {
	tx        *types.Transaction
	blockHash common.Hash
	number    uint64
	index     uint64
}

type fakeBackend struct {
	t      testing.TB
	config *params.ChainConfig
	sdb    ethstate.Database
	forks  map[string]uint64

	mu       sync.Mutex
	blocks   []*types.Block
	byHash   map[common.Hash]*types.Block
	receipts map[common.Hash]types.Receipts
	txs      map[common.Hash]txLoc
	pool     []*types.Transaction
	sendErr  error // returned by the next SendTx when set

	headFeed event.Feed
	txFeed   event.Feed
	signer   AccountSigner
	rewards  *rewards.Module  // emc_epochInfo's module, nil: none
	registry *registry.Module // emc_computeNodes's module, nil: none
	verify   *verify.Module   // emc_challenge's module, nil: none
}

var _ Backend = (*fakeBackend)(nil)

// newFakeBackend builds genesis plus two blocks: block 1 calls the logger
// contract (1559 tx), block 2 sends value to otherAddr (legacy tx).
func newFakeBackend(t testing.TB) *fakeBackend {
	f := &fakeBackend{
		t: t, config: testChainConfig(), sdb: ethstate.NewDatabaseForTesting(),
		byHash: map[common.Hash]*types.Block{}, receipts: map[common.Hash]types.Receipts{},
		txs:    map[common.Hash]txLoc{},
		signer: &fakeSigner{keys: map[common.Address]*ecdsa.PrivateKey{devAddr: devKey, otherAddr: otherKey}},
	}
	st, _ := ethstate.New(types.EmptyRootHash, f.sdb)
	st.SetBalance(devAddr, uint256.MustFromBig(new(big.Int).Mul(big.NewInt(10_000), big.NewInt(params.Ether))), tracing.BalanceChangeUnspecified)
	st.SetCode(loggerAddr, loggerCode, tracing.CodeChangeUnspecified)
	st.SetState(loggerAddr, common.Hash{1}, common.Hash{2})
	st.SetCode(reverterAddr, reverterCode, tracing.CodeChangeUnspecified)
	root := f.commit(st, 0)
	f.appendBlock(types.NewBlock(f.header(nil, root, 0), &types.Body{Withdrawals: []*types.Withdrawal{}}, nil, trie.NewStackTrie(nil)), nil)

	signer := types.LatestSignerForChainID(testChainID)
	tx1 := types.MustSignNewTx(devKey, signer, &types.DynamicFeeTx{
		ChainID: testChainID, Nonce: 0, GasTipCap: big.NewInt(2 * params.GWei), GasFeeCap: big.NewInt(10 * params.GWei),
		Gas: 100_000, To: &loggerAddr, Data: []byte{0x01},
	})
	f.mine(tx1)
	tx2 := types.MustSignNewTx(devKey, signer, &types.LegacyTx{
		Nonce: 1, GasPrice: big.NewInt(3 * params.GWei), Gas: 21_000, To: &otherAddr, Value: big.NewInt(params.Ether),
	})
	f.mine(tx2)
	return f
}

func (f *fakeBackend) header(parent *types.Block, root common.Hash, gasUsed uint64) *types.Header {
	zero := uint64(0)
	h := &types.Header{
		Number: common.Big0, GasLimit: 30_000_000, GasUsed: gasUsed, Time: 1_700_000_000,
		BaseFee: testBaseFee, Difficulty: common.Big0, Coinbase: coinbase, Root: root,
		UncleHash: types.EmptyUncleHash, WithdrawalsHash: &types.EmptyWithdrawalsHash,
		BlobGasUsed: &zero, ExcessBlobGas: &zero, ParentBeaconRoot: &common.Hash{},
	}
	if parent != nil {
		h.ParentHash = parent.Hash()
		h.Number = new(big.Int).Add(parent.Number(), common.Big1)
		h.Time = parent.Time() + 1
	}
	return h
}

func (f *fakeBackend) commit(st *ethstate.StateDB, number uint64) common.Hash {
	root, err := st.Commit(f.config.Rules(new(big.Int).SetUint64(number), true, 0), number)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.sdb.TrieDB().Commit(root, false); err != nil {
		f.t.Fatal(err)
	}
	return root
}

// mine executes txs in a new block on top of the head and announces it.
func (f *fakeBackend) mine(txs ...*types.Transaction) *types.Block {
	parent := f.CurrentBlock()
	st, err := ethstate.New(parent.Root(), f.sdb)
	if err != nil {
		f.t.Fatal(err)
	}
	header := f.header(parent, common.Hash{}, 0)
	evm := f.NewEVM(header, st, vm.Config{})
	gp := core.NewGasPool(header.GasLimit)
	var receipts types.Receipts
	for i, tx := range txs {
		st.SetTxContext(tx.Hash(), i, uint32(i+1))
		r, _, err := core.ApplyTransaction(context.Background(), evm, gp, st, header, tx)
		if err != nil {
			f.t.Fatalf("mine tx %d: %v", i, err)
		}
		receipts = append(receipts, r)
		header.GasUsed += r.GasUsed
	}
	header.Root = f.commit(st, header.Number.Uint64())
	block := types.NewBlock(header, &types.Body{Transactions: txs, Withdrawals: []*types.Withdrawal{}}, receipts, trie.NewStackTrie(nil))
	if err := receipts.DeriveFields(f.config, block.Hash(), block.NumberU64(), block.Time(), block.BaseFee(), big.NewInt(1), txs); err != nil {
		f.t.Fatal(err)
	}
	f.appendBlock(block, receipts)
	f.headFeed.Send(ChainHeadEvent{Block: block, Receipts: receipts})
	return block
}

// mineState appends an empty block whose state is the head's changed by
// mutate (storage a module would have written, without running it).
func (f *fakeBackend) mineState(mutate func(*ethstate.StateDB)) *types.Block {
	parent := f.CurrentBlock()
	st, err := ethstate.New(parent.Root(), f.sdb)
	if err != nil {
		f.t.Fatal(err)
	}
	mutate(st)
	header := f.header(parent, common.Hash{}, 0)
	header.Root = f.commit(st, header.Number.Uint64())
	block := types.NewBlock(header, &types.Body{Withdrawals: []*types.Withdrawal{}}, nil, trie.NewStackTrie(nil))
	f.appendBlock(block, nil)
	f.headFeed.Send(ChainHeadEvent{Block: block, Receipts: types.Receipts{}})
	return block
}

func (f *fakeBackend) appendBlock(b *types.Block, receipts types.Receipts) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks = append(f.blocks, b)
	f.byHash[b.Hash()] = b
	if receipts == nil {
		receipts = types.Receipts{}
	}
	f.receipts[b.Hash()] = receipts
	for i, tx := range b.Transactions() {
		f.txs[tx.Hash()] = txLoc{tx, b.Hash(), b.NumberU64(), uint64(i)}
		f.pool = slices.DeleteFunc(f.pool, func(p *types.Transaction) bool { return p.Hash() == tx.Hash() })
	}
}

func (f *fakeBackend) CurrentBlock() *types.Block {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocks[len(f.blocks)-1]
}

func (f *fakeBackend) ChainConfig() *params.ChainConfig { return f.config }
func (f *fakeBackend) MinBaseFee() *big.Int             { return testBaseFee }
func (f *fakeBackend) TotalSupply() *big.Int            { return new(big.Int).Set(testTotalSupply) }
func (f *fakeBackend) CurrentHeader() *types.Header     { return f.CurrentBlock().Header() }

func (f *fakeBackend) HeaderByNumber(n uint64) *types.Header {
	if b := f.BlockByNumber(n); b != nil {
		return b.Header()
	}
	return nil
}

func (f *fakeBackend) HeaderByHash(h common.Hash) *types.Header {
	if b := f.BlockByHash(h); b != nil {
		return b.Header()
	}
	return nil
}

func (f *fakeBackend) BlockByNumber(n uint64) *types.Block {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n >= uint64(len(f.blocks)) {
		return nil
	}
	return f.blocks[n]
}

func (f *fakeBackend) BlockByHash(h common.Hash) *types.Block {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byHash[h]
}

func (f *fakeBackend) Receipts(h common.Hash) types.Receipts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.receipts[h]
}

func (f *fakeBackend) Transaction(h common.Hash) (*types.Transaction, common.Hash, uint64, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.txs[h]
	if !ok {
		return nil, common.Hash{}, 0, 0
	}
	return l.tx, l.blockHash, l.number, l.index
}

func (f *fakeBackend) StateAt(h *types.Header) (*ethstate.StateDB, error) {
	return ethstate.New(h.Root, f.sdb)
}

func (f *fakeBackend) StateDatabase() ethstate.Database { return f.sdb }

func (f *fakeBackend) StateAtTransaction(ctx context.Context, block *types.Block, txIndex int) (*ethstate.StateDB, error) {
	parent := f.HeaderByHash(block.ParentHash())
	if parent == nil {
		return nil, fmt.Errorf("parent of %d not found", block.NumberU64())
	}
	st, err := f.StateAt(parent)
	if err != nil {
		return nil, err
	}
	header := block.Header()
	evm := f.NewEVM(header, st, vm.Config{})
	gp := core.NewGasPool(header.GasLimit)
	for i, tx := range block.Transactions()[:txIndex] {
		st.SetTxContext(tx.Hash(), i, uint32(i+1))
		if _, _, err := core.ApplyTransaction(ctx, evm, gp, st, header, tx); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func (f *fakeBackend) NewEVM(header *types.Header, st *ethstate.StateDB, cfg vm.Config) *vm.EVM {
	blockCtx := core.NewEVMBlockContext(header, fakeChain{f}, &header.Coinbase)
	return vm.NewEVM(blockCtx, st, f.config, cfg)
}

func (f *fakeBackend) ApplyMessage(evm *vm.EVM, msg *core.Message, gp *core.GasPool) (*core.ExecutionResult, error) {
	return core.ApplyMessage(evm, msg, gp)
}

// SendTx validates like a tiny pool, with geth's error wording.
func (f *fakeBackend) SendTx(ctx context.Context, tx *types.Transaction) error {
	f.mu.Lock()
	if err := f.sendErr; err != nil {
		f.sendErr = nil
		f.mu.Unlock()
		return err
	}
	for _, p := range f.pool {
		if p.Hash() == tx.Hash() {
			f.mu.Unlock()
			return txpool.ErrAlreadyKnown
		}
	}
	f.mu.Unlock()
	from, err := types.Sender(types.LatestSignerForChainID(testChainID), tx)
	if err != nil {
		return fmt.Errorf("%w: %v", txpool.ErrInvalidSender, err)
	}
	st, _ := f.StateAt(f.CurrentHeader())
	if n := st.GetNonce(from); tx.Nonce() < n {
		return fmt.Errorf("%w: address %v, tx: %d state: %d", core.ErrNonceTooLow, from, tx.Nonce(), n)
	}
	if bal := st.GetBalance(from).ToBig(); bal.Cmp(tx.Cost()) < 0 {
		return fmt.Errorf("%w: balance %v, tx cost %v, overshot %v", core.ErrInsufficientFunds, bal, tx.Cost(), new(big.Int).Sub(tx.Cost(), bal))
	}
	f.mu.Lock()
	f.pool = append(f.pool, tx)
	f.mu.Unlock()
	f.txFeed.Send([]*types.Transaction{tx})
	return nil
}

func (f *fakeBackend) PoolTransaction(h common.Hash) *types.Transaction {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pool {
		if p.Hash() == h {
			return p
		}
	}
	return nil
}

func (f *fakeBackend) PoolNonce(addr common.Address) uint64 {
	st, _ := f.StateAt(f.CurrentHeader())
	n := st.GetNonce(addr)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pool {
		if from, _ := types.Sender(types.LatestSignerForChainID(testChainID), p); from == addr && p.Nonce() >= n {
			n = p.Nonce() + 1
		}
	}
	return n
}

func (f *fakeBackend) PoolContent() (map[common.Address][]*types.Transaction, map[common.Address][]*types.Transaction) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pending := map[common.Address][]*types.Transaction{}
	for _, p := range f.pool {
		from, _ := types.Sender(types.LatestSignerForChainID(testChainID), p)
		pending[from] = append(pending[from], p)
	}
	return pending, map[common.Address][]*types.Transaction{}
}

func (f *fakeBackend) PoolStatus() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pool), 0
}

func (f *fakeBackend) SubscribeChainHead(ch chan<- ChainHeadEvent) event.Subscription {
	return f.headFeed.Subscribe(ch)
}

func (f *fakeBackend) SubscribeNewTxs(ch chan<- []*types.Transaction) event.Subscription {
	return f.txFeed.Subscribe(ch)
}

func (f *fakeBackend) Forks() map[string]uint64 { return f.forks }

func (f *fakeBackend) SystemContracts() []SystemContract {
	return []SystemContract{{Name: "echo", Address: common.HexToAddress("0x0000000000000000000000000000000000e3c001"), ABI: []byte(`[{"type":"function","name":"echo","inputs":[],"outputs":[]}]`)}}
}

func (f *fakeBackend) Rewards() *rewards.Module { return f.rewards }

func (f *fakeBackend) Registry() *registry.Module { return f.registry }
func (f *fakeBackend) Verify() *verify.Module     { return f.verify }

func (f *fakeBackend) PeerCount() int                { return 3 }
func (f *fakeBackend) Syncing() (SyncProgress, bool) { return SyncProgress{}, false }
func (f *fakeBackend) ConsensusStatus() (any, error) {
	return map[string]any{"height": 2, "round": 0}, nil
}
func (f *fakeBackend) Evidence() ([]Evidence, error) {
	return []Evidence{{Validator: common.HexToAddress("0x01"), Code: "PREPARE", Height: 5, Round: 1, Data: []byte{0xc0}}}, nil
}
func (f *fakeBackend) Accounts() AccountSigner { return f.signer }
func (f *fakeBackend) ValidatorsAfter(number uint64) ([]common.Address, error) {
	return []common.Address{stakeSignerAddr, otherAddr}, nil
}

// fakeChain adapts fakeBackend to core.ChainContext for block contexts.
type fakeChain struct{ f *fakeBackend }

func (c fakeChain) Config() *params.ChainConfig                 { return c.f.config }
func (c fakeChain) CurrentHeader() *types.Header                { return c.f.CurrentHeader() }
func (c fakeChain) GetHeaderByNumber(n uint64) *types.Header    { return c.f.HeaderByNumber(n) }
func (c fakeChain) GetHeaderByHash(h common.Hash) *types.Header { return c.f.HeaderByHash(h) }
func (c fakeChain) Engine() consensus.Engine                    { return nil }
func (c fakeChain) GetHeader(h common.Hash, n uint64) *types.Header {
	if hd := c.f.HeaderByHash(h); hd != nil && hd.Number.Uint64() == n {
		return hd
	}
	return nil
}

// fakeSigner signs with in-memory keys, as the dev-mode signer does.
type fakeSigner struct {
	keys map[common.Address]*ecdsa.PrivateKey
}

func (s *fakeSigner) Addresses() []common.Address { return []common.Address{devAddr, otherAddr} }

func (s *fakeSigner) SignTx(addr common.Address, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	key, ok := s.keys[addr]
	if !ok {
		return nil, ErrUnknownAccount
	}
	return types.SignTx(tx, types.LatestSignerForChainID(chainID), key)
}

func (s *fakeSigner) SignHash(addr common.Address, digest []byte) ([]byte, error) {
	key, ok := s.keys[addr]
	if !ok {
		return nil, ErrUnknownAccount
	}
	return crypto.Sign(digest, key)
}

func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
