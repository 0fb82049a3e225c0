package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/rawdb"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/triedb"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state/native"
)

var (
	// ErrGenesisMismatch is returned by Open when the data dir was created
	// from a different genesis than the one given.
	ErrGenesisMismatch = errors.New("state: data dir holds a chain with a different genesis")
	// ErrNotNext is returned by InsertBlock for a block that does not extend
	// the current head.
	ErrNotNext = errors.New("state: block does not extend the head")
	// ErrInvalidBlock wraps every reason a block is rejected.
	ErrInvalidBlock = errors.New("state: invalid block")
	// ErrNoGenesis is returned by Open for an empty store without a genesis.
	ErrNoGenesis = errors.New("state: store is empty and no genesis was given")
	// ErrClosed is returned by InsertBlock after Close.
	ErrClosed = errors.New("state: chain is closed")
	// ErrGenesisSupply is returned by Open when the genesis balances (alloc
	// plus the modules' genesis balances) do not add up to the genesis
	// totalSupplyWei, or exceed it when a reserve takes the rest.
	ErrGenesisSupply = errors.New("state: genesis balances do not add up to the total supply")
)

// HeadEvent announces a newly committed canonical block.
type HeadEvent struct {
	Block    *types.Block
	Receipts types.Receipts
}

// Chain is the canonical chain over one store. It is safe for concurrent use:
// InsertBlock calls are serialised; reads never block on them.
type Chain struct {
	db      ethdb.Database
	triedb  *triedb.Database
	sdb     ethstate.Database
	config  *params.ChainConfig
	gen     *genesis.Genesis
	genesis *types.Block
	modules Modules
	log     *slog.Logger
	scheme  string // SchemePath or SchemeHash
	metrics *Metrics
	reads   *readCounter // the store as the trie database sees it
	// recovered is how many blocks Open re-executed (recover.go).
	recovered int

	insertMu sync.Mutex
	closed   bool // Close ran (guarded by insertMu)
	// unflushed is set once a block changed the state: the path scheme
	// then holds layers above its disk layer for Close to flush (guarded
	// by insertMu).
	unflushed     bool
	flushInterval uint64 // StorageConfig.FlushInterval
	head          atomic.Pointer[types.Header]
	headFeed      event.Feed
	// commitPhases, when set (by the scale benchmark), receives how long
	// each commit spent on the state (trie commit, and the layer update or
	// the hash scheme's trie write), the block write and the WAL sync.
	// Called with insertMu held.
	commitPhases func(state, write, sync time.Duration)

	// validated caches the execution of blocks checked by ValidateBlock, so
	// InsertBlock of the same block does not execute it again.
	validMu   sync.Mutex
	validated map[common.Hash]*validatedBlock
}

// validatedBlock is a block executed on top of parent by ValidateBlock.
type validatedBlock struct {
	parent  common.Hash
	res     *execResult
	statedb *ethstate.StateDB
}

// maxValidated bounds the ValidateBlock cache (proposals of a few rounds).
const maxValidated = 8

// Open opens the chain in db with the default StorageConfig. An empty store
// is initialised from g; a non-empty one must have been created from the
// same genesis (g may be nil to use the stored one).
func Open(db ethdb.Database, g *genesis.Genesis, modules Modules, log *slog.Logger) (*Chain, error) {
	return OpenWithStorage(db, g, modules, log, StorageConfig{})
}

// OpenWithStorage is Open with a choice of state scheme, history window and
// cache sizes. After an unclean shutdown it re-executes the stored blocks
// whose state was lost (see recover.go) before returning.
func OpenWithStorage(db ethdb.Database, g *genesis.Genesis, modules Modules, log *slog.Logger, sc StorageConfig) (*Chain, error) {
	if modules == nil {
		modules = NoModules{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stored, err := readGenesisJSON(db)
	if err != nil {
		return nil, err
	}
	if g == nil {
		if stored == nil {
			return nil, ErrNoGenesis
		}
		if g, err = genesis.FromJSON(stored); err != nil {
			return nil, fmt.Errorf("state: stored genesis: %w", err)
		}
	}
	sc = sc.withDefaults()
	c := &Chain{
		db:      db,
		config:  g.ChainConfig(),
		gen:     g,
		modules: modules,
		log:     log.With("component", "chain"),
		metrics: sc.Metrics,
	}
	block, err := c.genesisBlock(ethstate.NewDatabaseForTesting())
	if err != nil {
		return nil, err
	}
	storedHash := rawdb.ReadCanonicalHash(db, 0)
	switch {
	case storedHash == (common.Hash{}):
	case storedHash != block.Hash():
		return nil, fmt.Errorf("%w: stored genesis %s, given genesis %s", ErrGenesisMismatch, storedHash, block.Hash())
	default:
		v, ok, err := readSchemaVersion(db)
		if err != nil {
			return nil, err
		}
		if !ok || v != schemaVersion {
			return nil, fmt.Errorf("state: unsupported store schema version %d (want %d)", v, schemaVersion)
		}
		// The header does not commit to everything in the genesis file
		// (chain id, block period, module params): compare the files too.
		given, err := json.Marshal(g)
		if err != nil {
			return nil, fmt.Errorf("state: encode genesis: %w", err)
		}
		if stored != nil && !bytes.Equal(stored, given) {
			if err := c.changeForks(stored, given, block.Hash()); err != nil {
				return nil, err
			}
		}
	}
	if err := c.openTrieDB(sc, storedHash != (common.Hash{})); err != nil {
		return nil, err
	}
	opened := false
	defer func() {
		if !opened {
			_ = c.triedb.Close()
		}
	}()
	if storedHash == (common.Hash{}) {
		if err := c.commitGenesis(); err != nil {
			return nil, err
		}
	}
	c.genesis = block
	headHash := rawdb.ReadHeadBlockHash(db)
	num, ok := rawdb.ReadHeaderNumber(db, headHash)
	if !ok {
		return nil, fmt.Errorf("state: head block %s has no number: store corrupt", headHash)
	}
	head := rawdb.ReadHeader(db, headHash, num)
	if head == nil {
		return nil, fmt.Errorf("state: head header %d %s missing: store corrupt", num, headHash)
	}
	// The head goes in first: replayed blocks read older headers through
	// it (BLOCKHASH, module hooks).
	c.head.Store(head)
	if c.recovered, err = c.recoverHead(context.Background(), head); err != nil {
		return nil, err
	}
	c.log.Info("chain opened", "head", num, "hash", headHash, "genesis", block.Hash(), "chain_id", c.config.ChainID, "scheme", c.scheme)
	opened = true
	return c, nil
}

// genesisBlock builds the genesis block, writing its state into sdb.
func (c *Chain) genesisBlock(sdb ethstate.Database) (*types.Block, error) {
	st, err := ethstate.New(types.EmptyRootHash, sdb)
	if err != nil {
		return nil, err
	}
	alloc := make(types.GenesisAlloc, len(c.gen.Alloc))
	for a, acct := range c.gen.Alloc {
		alloc[a] = acct
	}
	for a, acct := range c.modules.GenesisAlloc() {
		if _, dup := alloc[a]; dup {
			return nil, fmt.Errorf("state: genesis alloc overlaps chain module address %s", a)
		}
		alloc[a] = acct
	}
	if err := balanceSupply(c.gen, alloc); err != nil {
		return nil, err
	}
	for addr, acct := range alloc {
		st.SetBalance(addr, uint256FromBig(acct.Balance), 0)
		st.SetNonce(addr, acct.Nonce, 0)
		if len(acct.Code) > 0 {
			st.SetCode(addr, acct.Code, 0)
		}
		for k, v := range acct.Storage {
			st.SetState(addr, k, v)
		}
	}
	root, err := st.Commit(c.config.Rules(common.Big0, true, uint64(c.gen.Timestamp)), 0)
	if err != nil {
		return nil, fmt.Errorf("state: genesis state: %w", err)
	}
	if err := sdb.TrieDB().Commit(root, false); err != nil {
		return nil, fmt.Errorf("state: genesis trie: %w", err)
	}
	extra, err := (&cert.Extra{Validators: c.gen.Validators}).Encode()
	if err != nil {
		return nil, err
	}
	zero := uint64(0)
	header := &types.Header{
		ParentHash:       common.Hash{},
		UncleHash:        types.EmptyUncleHash,
		Root:             root,
		Difficulty:       new(big.Int),
		Number:           new(big.Int),
		GasLimit:         uint64(c.gen.GasLimit),
		Time:             uint64(c.gen.Timestamp),
		Extra:            extra,
		BaseFee:          c.gen.BaseFeeWei(),
		WithdrawalsHash:  &types.EmptyWithdrawalsHash,
		BlobGasUsed:      &zero,
		ExcessBlobGas:    &zero,
		ParentBeaconRoot: &common.Hash{},
	}
	return types.NewBlock(header, &types.Body{Withdrawals: []*types.Withdrawal{}}, nil, trieHasher()), nil
}

// balanceSupply checks alloc (the user alloc merged with the modules')
// against g's total supply. With a reserve named, it adds the reserve's
// account holding the rest to alloc; without one, the balances must add up
// to the total exactly.
func balanceSupply(g *genesis.Genesis, alloc types.GenesisAlloc) error {
	total := g.TotalSupply()
	sum := new(big.Int)
	for _, acct := range alloc {
		if acct.Balance != nil {
			sum.Add(sum, acct.Balance)
		}
	}
	if g.Reserve == nil {
		if sum.Cmp(total) != 0 {
			return fmt.Errorf("%w: alloc and module balances sum to %s wei, totalSupplyWei is %s wei (name a reserve to take the rest)",
				ErrGenesisSupply, sum, total)
		}
		return nil
	}
	if _, dup := alloc[*g.Reserve]; dup || native.IsReserved(*g.Reserve) {
		return fmt.Errorf("%w: reserve %s is a module address or already has a genesis account", ErrGenesisSupply, *g.Reserve)
	}
	rest := new(big.Int).Sub(total, sum)
	if rest.Sign() < 0 {
		return fmt.Errorf("%w: alloc and module balances sum to %s wei, more than totalSupplyWei %s wei",
			ErrGenesisSupply, sum, total)
	}
	alloc[*g.Reserve] = types.Account{Balance: rest}
	return nil
}

func (c *Chain) commitGenesis() error {
	block, err := c.genesisBlock(c.sdb)
	if err != nil {
		return err
	}
	gj, err := json.Marshal(c.gen)
	if err != nil {
		return fmt.Errorf("state: encode genesis: %w", err)
	}
	batch := c.db.NewBatch()
	rawdb.WriteBlock(batch, block)
	rawdb.WriteReceipts(batch, block.Hash(), 0, nil)
	rawdb.WriteCanonicalHash(batch, block.Hash(), 0)
	rawdb.WriteHeadBlockHash(batch, block.Hash())
	rawdb.WriteHeadHeaderHash(batch, block.Hash())
	rawdb.WriteChainConfig(batch, block.Hash(), c.config)
	if err := writeGenesisJSON(batch, gj); err != nil {
		return err
	}
	if err := writeSchemaVersion(batch); err != nil {
		return err
	}
	if err := writeStateScheme(batch, c.scheme); err != nil {
		return err
	}
	if err := batch.Write(); err != nil {
		return fmt.Errorf("state: write genesis: %w", err)
	}
	return syncStore(c.db)
}

// changeForks accepts a genesis (given, its JSON) that differs from the
// stored one (stored) only in its fork schedule, when no block the store
// holds changes its rules (genesis.CheckForkChange), and stores it: the
// way an operator schedules a fork on a running chain. Any other
// difference is ErrGenesisMismatch.
func (c *Chain) changeForks(stored, given []byte, genesisHash common.Hash) error {
	mismatch := fmt.Errorf("%w: same genesis block %s but different genesis settings (chain id %d, stored chain id %d)",
		ErrGenesisMismatch, genesisHash, c.gen.ChainID, storedChainID(stored))
	old, err := genesis.FromJSON(stored)
	if err != nil {
		// A stored genesis this binary refuses (a fork it does not know,
		// say) is a different chain as far as it can tell.
		return fmt.Errorf("%w (the stored one does not load: %w)", mismatch, err)
	}
	same, err := old.SameExceptForks(c.gen)
	if err != nil {
		return err
	}
	if !same {
		return mismatch
	}
	headHash := rawdb.ReadHeadBlockHash(c.db)
	head, ok := rawdb.ReadHeaderNumber(c.db, headHash)
	if !ok {
		return fmt.Errorf("state: head block %s has no number: store corrupt", headHash)
	}
	changed, err := genesis.CheckForkChange(old.Forks, c.gen.Forks, head)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrGenesisMismatch, err)
	}
	if err := writeGenesisJSON(c.db, given); err != nil {
		return err
	}
	if err := syncStore(c.db); err != nil {
		return err
	}
	for _, name := range changed {
		from, inOld := old.ForkBlock(name)
		to, inNew := c.gen.ForkBlock(name)
		c.log.Warn("fork schedule changed", "fork", name, "from", forkAt(from, inOld), "to", forkAt(to, inNew), "head", head)
	}
	return nil
}

func forkAt(block uint64, ok bool) string {
	if !ok {
		return "never"
	}
	return fmt.Sprint(block)
}

func storedChainID(data []byte) uint64 {
	var g struct {
		ChainID math.HexOrDecimal64 `json:"chainId"`
	}
	_ = json.Unmarshal(data, &g)
	return uint64(g.ChainID)
}

// StoredGenesis returns the genesis a store was initialised with, or nil if
// the store is empty.
func StoredGenesis(db ethdb.KeyValueReader) (*genesis.Genesis, error) {
	data, err := readGenesisJSON(db)
	if err != nil || data == nil {
		return nil, err
	}
	g, err := genesis.FromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("state: stored genesis: %w", err)
	}
	return g, nil
}

// Config returns the go-ethereum chain configuration.
func (c *Chain) Config() *params.ChainConfig { return c.config }

// Genesis returns the genesis description the chain was opened with.
func (c *Chain) Genesis() *genesis.Genesis { return c.gen }

// GenesisBlock returns block 0.
func (c *Chain) GenesisBlock() *types.Block { return c.genesis }

// StateDatabase returns the state database (tries and code).
func (c *Chain) StateDatabase() ethstate.Database { return c.sdb }

// DB returns the underlying key-value database.
func (c *Chain) DB() ethdb.Database { return c.db }

// Head returns the current head header.
func (c *Chain) Head() *types.Header { return c.head.Load() }

// HeaderByNumber returns the canonical header at number, or nil.
func (c *Chain) HeaderByNumber(number uint64) *types.Header {
	if number > c.Head().Number.Uint64() {
		return nil
	}
	hash := rawdb.ReadCanonicalHash(c.db, number)
	if hash == (common.Hash{}) {
		return nil
	}
	return rawdb.ReadHeader(c.db, hash, number)
}

// HeaderByHash returns the header with hash, or nil.
func (c *Chain) HeaderByHash(hash common.Hash) *types.Header {
	num, ok := rawdb.ReadHeaderNumber(c.db, hash)
	if !ok {
		return nil
	}
	return rawdb.ReadHeader(c.db, hash, num)
}

// BlockByNumber returns the canonical block at number, or nil.
func (c *Chain) BlockByNumber(number uint64) *types.Block {
	if number > c.Head().Number.Uint64() {
		return nil
	}
	hash := rawdb.ReadCanonicalHash(c.db, number)
	if hash == (common.Hash{}) {
		return nil
	}
	return rawdb.ReadBlock(c.db, hash, number)
}

// BlockByHash returns the block with hash, or nil.
func (c *Chain) BlockByHash(hash common.Hash) *types.Block {
	num, ok := rawdb.ReadHeaderNumber(c.db, hash)
	if !ok {
		return nil
	}
	return rawdb.ReadBlock(c.db, hash, num)
}

// Receipts returns the fully derived receipts of the block with hash.
func (c *Chain) Receipts(hash common.Hash) types.Receipts {
	h := c.HeaderByHash(hash)
	if h == nil {
		return nil
	}
	return rawdb.ReadReceipts(c.db, hash, h.Number.Uint64(), h.Time, c.config)
}

// Transaction finds a canonical transaction by hash.
func (c *Chain) Transaction(hash common.Hash) (*types.Transaction, common.Hash, uint64, uint64) {
	num := rawdb.ReadTxLookupEntry(c.db, hash)
	if num == nil || *num > c.Head().Number.Uint64() {
		return nil, common.Hash{}, 0, 0
	}
	block := c.BlockByNumber(*num)
	if block == nil {
		return nil, common.Hash{}, 0, 0
	}
	for i, tx := range block.Transactions() {
		if tx.Hash() == hash {
			return tx, block.Hash(), *num, uint64(i)
		}
	}
	return nil, common.Hash{}, 0, 0
}

// Certificate returns the commit certificate of the block (number, hash).
func (c *Chain) Certificate(number uint64, hash common.Hash) (*cert.Certificate, error) {
	return ReadCertificate(c.db, number, hash)
}

// StateAt opens the world state with the given root. Every call returns a
// new StateDB owned by the caller: a StateDB is not safe for concurrent use,
// not even by readers (loading an account writes its object map), so it must
// not be shared between goroutines without a lock of the owner's.
func (c *Chain) StateAt(root common.Hash) (*ethstate.StateDB, error) {
	st, err := ethstate.New(root, c.sdb)
	if err != nil {
		return nil, fmt.Errorf("state: open state %s: %w", root, err)
	}
	return st, nil
}

// SubscribeHead delivers a HeadEvent for every committed block, in order.
func (c *Chain) SubscribeHead(ch chan<- HeadEvent) event.Subscription {
	return c.headFeed.Subscribe(ch)
}

// ValidatorsFor returns the validator set that must certify block number.
// The set changes only after epoch-boundary blocks, whose extra-data carries
// the set for the blocks that follow.
func (c *Chain) ValidatorsFor(number uint64) ([]common.Address, error) {
	if number == 0 {
		return nil, nil
	}
	epoch := uint64(c.gen.EpochLength)
	boundary := ((number - 1) / epoch) * epoch
	h := c.HeaderByNumber(boundary)
	if h == nil {
		return nil, fmt.Errorf("state: epoch header %d not found", boundary)
	}
	extra, err := cert.DecodeExtra(h.Extra)
	if err != nil {
		return nil, err
	}
	if len(extra.Validators) == 0 {
		return nil, fmt.Errorf("state: epoch header %d carries no validator set", boundary)
	}
	return extra.Validators, nil
}

// InsertBlock validates block against the head, executes it, checks the
// result against the header, verifies cert (the block's commit certificate)
// and durably commits everything. It is the only way blocks enter the chain.
func (c *Chain) InsertBlock(ctx context.Context, block *types.Block, commit *cert.Certificate) error {
	c.insertMu.Lock()
	defer c.insertMu.Unlock()
	if c.closed {
		return ErrClosed
	}

	parent := c.Head()
	if block.ParentHash() != parent.Hash() || block.NumberU64() != parent.Number.Uint64()+1 {
		return fmt.Errorf("%w: block %d (parent %s), head %d (%s)", ErrNotNext,
			block.NumberU64(), block.ParentHash(), parent.Number, parent.Hash())
	}
	validators, err := c.ValidatorsFor(block.NumberU64())
	if err != nil {
		return err
	}
	if commit == nil {
		return fmt.Errorf("%w: no commit certificate", ErrInvalidBlock)
	}
	if _, err := commit.Verify(block.Hash(), validators); err != nil {
		return fmt.Errorf("%w: block %d commit certificate: %w", ErrInvalidBlock, block.NumberU64(), err)
	}
	c.validMu.Lock()
	v := c.validated[block.Hash()]
	c.validated = nil // every cached execution was on this parent or older
	c.validMu.Unlock()
	if v == nil || v.parent != parent.Hash() {
		var err error
		if v, err = c.validate(ctx, parent, block, true); err != nil {
			return err
		}
	}
	return c.commit(block, v.res, v.statedb, commit)
}

// ValidateBlock checks that block is a valid next block on the current head
// (header rules and full execution), without a commit certificate and without
// committing it. The execution is cached for a following InsertBlock.
func (c *Chain) ValidateBlock(ctx context.Context, block *types.Block) error {
	parent := c.Head()
	if block.ParentHash() != parent.Hash() || block.NumberU64() != parent.Number.Uint64()+1 {
		return fmt.Errorf("%w: block %d (parent %s), head %d (%s)", ErrNotNext,
			block.NumberU64(), block.ParentHash(), parent.Number, parent.Hash())
	}
	v, err := c.validate(ctx, parent, block, false)
	if err != nil {
		return err
	}
	c.cacheValidated(block.Hash(), v)
	return nil
}

func (c *Chain) cacheValidated(hash common.Hash, v *validatedBlock) {
	c.validMu.Lock()
	defer c.validMu.Unlock()
	if c.validated == nil || len(c.validated) >= maxValidated {
		c.validated = make(map[common.Hash]*validatedBlock)
	}
	c.validated[hash] = v
}

// validate verifies block's header against parent and executes it.
// certified is true when a valid commit certificate came with the block.
func (c *Chain) validate(ctx context.Context, parent *types.Header, block *types.Block, certified bool) (*validatedBlock, error) {
	if err := c.verifyHeader(parent, block, certified); err != nil {
		return nil, err
	}
	statedb, err := c.StateAt(parent.Root)
	if err != nil {
		return nil, err
	}
	res, err := c.execute(ctx, block.Header(), block.Hash(), block.Transactions(), statedb, nil)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("state: block %d: %w", block.NumberU64(), ctxErr) // not the block's fault
	}
	if err != nil {
		return nil, fmt.Errorf("%w: block %d: %w", ErrInvalidBlock, block.NumberU64(), err)
	}
	if err := c.checkResult(block, res); err != nil {
		return nil, err
	}
	return &validatedBlock{parent: parent.Hash(), res: res, statedb: statedb}, nil
}

// commit persists an executed, validated block and makes it the head.
func (c *Chain) commit(block *types.Block, res *execResult, statedb *ethstate.StateDB, commit *cert.Certificate) error {
	start := time.Now()
	number := block.NumberU64()
	root, err := statedb.Commit(c.config.Rules(block.Number(), true, block.Time()), number)
	if err != nil {
		return fmt.Errorf("state: commit state of block %d: %w", number, err)
	}
	if root != block.Root() {
		return fmt.Errorf("%w: committed root %s != header root %s", ErrInvalidBlock, root, block.Root())
	}
	c.unflushed = c.unflushed || root != c.Head().Root
	if err := c.flattenLayers(number, root); err != nil {
		return err
	}
	// The hash scheme writes the block's trie nodes now. The path scheme
	// keeps them in its layers and flushes in batches; recover.go rebuilds
	// what a crash loses.
	if c.scheme == SchemeHash {
		if err := c.triedb.Commit(root, false); err != nil {
			return fmt.Errorf("state: commit trie of block %d: %w", number, err)
		}
	}
	stateDone := time.Now()
	batch := c.db.NewBatch()
	rawdb.WriteBlock(batch, block)
	rawdb.WriteReceipts(batch, block.Hash(), number, res.receipts)
	rawdb.WriteCanonicalHash(batch, block.Hash(), number)
	rawdb.WriteTxLookupEntriesByBlock(batch, block)
	if err := WriteCertificate(batch, number, block.Hash(), commit); err != nil {
		return err
	}
	rawdb.WriteHeadHeaderHash(batch, block.Hash())
	rawdb.WriteHeadBlockHash(batch, block.Hash())
	if err := batch.Write(); err != nil {
		return fmt.Errorf("state: write block %d: %w", number, err)
	}
	writeDone := time.Now()
	if err := syncStore(c.db); err != nil {
		return err
	}
	end := time.Now()
	c.metrics.BlockCommit.Observe(end.Sub(start).Seconds())
	if c.commitPhases != nil {
		c.commitPhases(stateDone.Sub(start), writeDone.Sub(stateDone), end.Sub(writeDone))
	}
	c.head.Store(block.Header())
	// Give subscribers receipts with every derived field filled.
	receipts := res.receipts
	for _, r := range receipts {
		r.BlockHash = block.Hash()
		for _, l := range r.Logs {
			l.BlockHash = block.Hash()
		}
	}
	c.headFeed.Send(HeadEvent{Block: block, Receipts: receipts})
	return nil
}

// checkResult compares the execution result with what the header claims.
func (c *Chain) checkResult(block *types.Block, res *execResult) error {
	h := block.Header()
	if res.gasUsed != h.GasUsed {
		return fmt.Errorf("%w: block %d gas used %d, header says %d", ErrInvalidBlock, h.Number, res.gasUsed, h.GasUsed)
	}
	if root := res.root; root != h.Root {
		return fmt.Errorf("%w: block %d state root %s, header says %s", ErrInvalidBlock, h.Number, root, h.Root)
	}
	if rh := types.DeriveSha(res.receipts, trieHasher()); rh != h.ReceiptHash {
		return fmt.Errorf("%w: block %d receipt root %s, header says %s", ErrInvalidBlock, h.Number, rh, h.ReceiptHash)
	}
	if bloom := types.MergeBloom(res.receipts); !bytes.Equal(bloom[:], h.Bloom[:]) {
		return fmt.Errorf("%w: block %d bloom mismatch", ErrInvalidBlock, h.Number)
	}
	return nil
}
