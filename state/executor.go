package state

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/core"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/trie"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/state/native"
)

// MaxClockDrift is how far ahead of the local wall clock a block timestamp
// may be.
const MaxClockDrift = 15 * time.Second

// ErrUnsupportedTxType is returned for blob (type 3) and set-code (type 4)
// transactions, which emcd does not accept.
var ErrUnsupportedTxType = errors.New("transaction type not supported")

// Modules is the chain-native module hook of the executor. Bind installs the
// modules as precompiles for one message; GenesisAlloc gives the module
// accounts that genesis must create; BeginBlock and EndBlock run the
// modules' block hooks around a block's transactions (identically when
// building, validating, tracing and replaying); NextValidators decides the
// validator set at epoch boundaries (nil: keep the current one).
// *native.Registry implements it.
type Modules interface {
	Bind(evm *vm.EVM, msg *core.Message)
	GenesisAlloc() types.GenesisAlloc
	BeginBlock(s vm.StateDB, env *native.BlockEnv) error
	EndBlock(s vm.StateDB, env *native.BlockEnv) error
	NextValidators(s native.StateReader, number uint64) ([]common.Address, error)
}

// NoModules is a Modules with no modules.
type NoModules struct{}

func (NoModules) Bind(*vm.EVM, *core.Message)                   {}
func (NoModules) GenesisAlloc() types.GenesisAlloc              { return nil }
func (NoModules) BeginBlock(vm.StateDB, *native.BlockEnv) error { return nil }
func (NoModules) EndBlock(vm.StateDB, *native.BlockEnv) error   { return nil }
func (NoModules) NextValidators(native.StateReader, uint64) ([]common.Address, error) {
	return nil, nil
}

var _ Modules = (*native.Registry)(nil)

// blockEnv returns what the block hooks of header's block see. It verifies
// the parent certificate carried in header against the parent's validator
// set (verifyHeader does too; hooks must never count unverified seals).
func (c *Chain) blockEnv(header *types.Header) (*native.BlockEnv, error) {
	env := &native.BlockEnv{
		Number:      header.Number.Uint64(),
		Time:        header.Time,
		Coinbase:    header.Coinbase,
		ParentHash:  header.ParentHash,
		BaseFee:     new(big.Int),
		EpochLength: uint64(c.gen.EpochLength),
	}
	if header.BaseFee != nil {
		env.BaseFee.Set(header.BaseFee)
	}
	extra, err := cert.DecodeExtra(header.Extra)
	if err != nil {
		return nil, fmt.Errorf("%w: block %d: %w", ErrInvalidBlock, env.Number, err)
	}
	if env.Validators, err = c.ValidatorsFor(env.Number); err != nil {
		return nil, err
	}
	if env.Number%env.EpochLength == 0 {
		env.NextValidators = extra.Validators
	}
	if env.Number <= 1 {
		return env, nil
	}
	pv, err := c.ValidatorsFor(env.Number - 1)
	if err != nil {
		return nil, err
	}
	signers, err := extra.ParentCommit.Verify(header.ParentHash, pv)
	if err != nil {
		return nil, fmt.Errorf("%w: block %d: parent certificate: %w", ErrInvalidBlock, env.Number, err)
	}
	env.ParentSigners, env.ParentValidators = signers, pv
	return env, nil
}

// nextValidators is the validator set that epoch-boundary block number
// (whose parent is parent) must carry: what the modules decide from the
// parent's state, or the current set when they keep it.
func (c *Chain) nextValidators(parent *types.Header, number uint64) ([]common.Address, error) {
	cur, err := c.ValidatorsFor(number)
	if err != nil {
		return nil, err
	}
	if _, none := c.modules.(NoModules); none {
		return cur, nil
	}
	statedb, err := c.StateAt(parent.Root)
	if err != nil {
		return nil, err
	}
	next, err := c.modules.NextValidators(statedb, number)
	if err != nil {
		return nil, fmt.Errorf("state: validator set for block %d: %w", number, err)
	}
	if len(next) == 0 {
		return cur, nil
	}
	return next, nil
}

// execResult is what executing a block's transactions produced.
type execResult struct {
	receipts types.Receipts
	gasUsed  uint64
	root     common.Hash
}

// PrevRandao is the deterministic PREVRANDAO (mixDigest) of the block after
// parent: keccak256(parent.mixDigest ‖ number as 8 big-endian bytes). Every
// node computes the same value; it is NOT a secure randomness source, since
// it is known to everyone in advance.
func PrevRandao(parent *types.Header) common.Hash {
	var num [8]byte
	n := parent.Number.Uint64() + 1
	for i := 7; i >= 0; i-- {
		num[i] = byte(n)
		n >>= 8
	}
	return crypto.Keccak256Hash(parent.MixDigest[:], num[:])
}

// NextBaseFee is the EIP-1559 base fee of the block after parent, never
// below the genesis minimum.
func (c *Chain) NextBaseFee(parent *types.Header) *big.Int {
	fee := eip1559.CalcBaseFee(c.config, parent)
	if min := c.gen.MinBaseFeeWei(); fee.Cmp(min) < 0 {
		return min
	}
	return fee
}

// NextTimestamp is the timestamp a block built on parent at wall time now
// gets: the current second, but never before the parent's.
func NextTimestamp(parent *types.Header, now time.Time) uint64 {
	ts := uint64(now.Unix())
	if ts < parent.Time {
		return parent.Time
	}
	return ts
}

// verifyHeader checks every header field that does not need execution.
// The bound on future timestamps applies to proposals only: a block that a
// quorum already certified is final, and a node whose clock lags must not
// refuse (and halt on) the chain everyone else agreed on.
func (c *Chain) verifyHeader(parent *types.Header, block *types.Block, certified bool) error {
	h := block.Header()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: block %d: %s", ErrInvalidBlock, h.Number, fmt.Sprintf(format, args...))
	}
	if h.Time < parent.Time {
		return bad("timestamp %d before parent's %d", h.Time, parent.Time)
	}
	if limit := uint64(time.Now().Add(MaxClockDrift).Unix()); !certified && h.Time > limit {
		return bad("timestamp %d more than %s ahead of the local clock", h.Time, MaxClockDrift)
	}
	if h.GasLimit != parent.GasLimit {
		return bad("gas limit %d differs from parent's %d", h.GasLimit, parent.GasLimit)
	}
	if h.GasUsed > h.GasLimit {
		return bad("gas used %d above limit %d", h.GasUsed, h.GasLimit)
	}
	if h.BaseFee == nil || h.BaseFee.Cmp(c.NextBaseFee(parent)) != 0 {
		return bad("base fee %v, want %v", h.BaseFee, c.NextBaseFee(parent))
	}
	vals, err := c.ValidatorsFor(h.Number.Uint64())
	if err != nil {
		return err
	}
	if !slices.Contains(vals, h.Coinbase) {
		return bad("coinbase %s is not a validator", h.Coinbase)
	}
	if h.Difficulty == nil || h.Difficulty.Sign() != 0 {
		return bad("non-zero difficulty")
	}
	if h.Nonce != (types.BlockNonce{}) {
		return bad("non-zero nonce")
	}
	if h.UncleHash != types.EmptyUncleHash || len(block.Uncles()) > 0 {
		return bad("uncles are not allowed")
	}
	if h.MixDigest != PrevRandao(parent) {
		return bad("mixDigest %s, want %s", h.MixDigest, PrevRandao(parent))
	}
	if h.WithdrawalsHash == nil || *h.WithdrawalsHash != types.EmptyWithdrawalsHash || len(block.Withdrawals()) > 0 {
		return bad("withdrawals are not allowed")
	}
	if h.BlobGasUsed == nil || *h.BlobGasUsed != 0 || h.ExcessBlobGas == nil || *h.ExcessBlobGas != 0 {
		return bad("blob gas fields must be present and zero")
	}
	if h.ParentBeaconRoot == nil || *h.ParentBeaconRoot != (common.Hash{}) {
		return bad("parent beacon root must be present and zero")
	}
	if h.RequestsHash != nil || h.SlotNumber != nil || h.BlockAccessListHash != nil {
		return bad("post-Cancun header fields are not allowed")
	}
	if th := types.DeriveSha(block.Transactions(), trieHasher()); th != h.TxHash {
		return bad("transaction root %s, header says %s", th, h.TxHash)
	}
	extra, err := cert.DecodeExtra(h.Extra)
	if err != nil {
		return bad("%v", err)
	}
	if parent.Number.Sign() == 0 {
		if len(extra.ParentCommit.Seals) != 0 {
			return bad("block 1 must not carry a parent certificate")
		}
	} else {
		pv, err := c.ValidatorsFor(parent.Number.Uint64())
		if err != nil {
			return err
		}
		if _, err := extra.ParentCommit.Verify(parent.Hash(), pv); err != nil {
			return bad("parent certificate: %v", err)
		}
	}
	isBoundary := h.Number.Uint64()%uint64(c.gen.EpochLength) == 0
	if !isBoundary && len(extra.Validators) != 0 {
		return bad("validator set outside an epoch boundary")
	}
	if isBoundary {
		want, err := c.nextValidators(parent, h.Number.Uint64())
		if err != nil {
			return err
		}
		if !sameAddresses(want, extra.Validators) {
			return bad("epoch validator set %v, want %v", extra.Validators, want)
		}
	}
	for i, tx := range block.Transactions() {
		if err := checkTxType(tx); err != nil {
			return bad("tx %d: %v", i, err)
		}
	}
	return nil
}

func checkTxType(tx *types.Transaction) error {
	switch tx.Type() {
	case types.LegacyTxType, types.AccessListTxType, types.DynamicFeeTxType:
		return nil
	default:
		return fmt.Errorf("%w: type %d", ErrUnsupportedTxType, tx.Type())
	}
}

func sameAddresses(a, b []common.Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BlockContext returns the EVM block context of header.
func (c *Chain) BlockContext(header *types.Header) vm.BlockContext {
	random := header.MixDigest
	baseFee := new(big.Int)
	if header.BaseFee != nil {
		baseFee.Set(header.BaseFee)
	}
	return vm.BlockContext{
		CanTransfer:      core.CanTransfer,
		Transfer:         core.Transfer,
		GetHash:          c.getHashFn(header),
		Coinbase:         header.Coinbase,
		GasLimit:         header.GasLimit,
		BlockNumber:      new(big.Int).Set(header.Number),
		Time:             header.Time,
		Difficulty:       new(big.Int),
		BaseFee:          baseFee,
		BlobBaseFee:      big.NewInt(params.BlobTxMinBlobGasprice),
		Random:           &random, // non-nil: merge rules (Shanghai, Cancun) apply
		CostPerStateByte: params.CostPerStateByte,
	}
}

// getHashFn serves BLOCKHASH for the 256 blocks before header.
func (c *Chain) getHashFn(header *types.Header) vm.GetHashFunc {
	return func(n uint64) common.Hash {
		num := header.Number.Uint64()
		if n >= num || num-n > 256 {
			return common.Hash{}
		}
		if n == num-1 {
			return header.ParentHash
		}
		if h := c.HeaderByNumber(n); h != nil {
			return h.Hash()
		}
		return common.Hash{}
	}
}

// NewEVM returns an EVM for executing messages on statedb in header's block.
func (c *Chain) NewEVM(header *types.Header, statedb vm.StateDB, cfg vm.Config) *vm.EVM {
	return vm.NewEVM(c.BlockContext(header), statedb, c.config, cfg)
}

// ApplyMessage runs msg on evm, binding the chain-native modules first. It
// is the one entry point for eth_call, estimateGas and tracing, and the block
// executor goes through the same binding.
func (c *Chain) ApplyMessage(evm *vm.EVM, msg *core.Message, gp *core.GasPool) (*core.ExecutionResult, error) {
	c.modules.Bind(evm, msg)
	return core.ApplyMessage(evm, msg, gp)
}

// execute runs txs on statedb in the block described by header. blockHash is
// put into receipts and logs (zero while the block is being built). Any
// failing transaction fails the whole block.
func (c *Chain) execute(ctx context.Context, header *types.Header, blockHash common.Hash, txs types.Transactions, statedb *ethstate.StateDB, tracer *vm.Config) (*execResult, error) {
	cfg := vm.Config{}
	if tracer != nil {
		cfg = *tracer
	}
	start, reads := time.Now(), c.reads.snapshot()
	if tracer == nil {
		// Load the trie paths of touched accounts on another core while
		// the transactions run, as go-ethereum's block processing does.
		statedb.StartPrefetcher("chain", nil)
		defer statedb.StopPrefetcher()
	}
	evm := c.NewEVM(header, statedb, cfg)
	signer := types.MakeSigner(c.config, header.Number, header.Time)
	RecoverSenders(signer, txs)
	env, err := c.blockEnv(header)
	if err != nil {
		return nil, err
	}
	if err := c.modules.BeginBlock(statedb, env); err != nil {
		return nil, err
	}
	gp := core.NewGasPool(header.GasLimit)
	receipts := make(types.Receipts, 0, len(txs))
	for i, tx := range txs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := c.applyTx(ctx, evm, gp, statedb, header, blockHash, signer, tx, i)
		if err != nil {
			return nil, fmt.Errorf("tx %d %s: %w", i, tx.Hash(), err)
		}
		receipts = append(receipts, r)
	}
	env.GasUsed = gp.CumulativeUsed()
	if err := c.modules.EndBlock(statedb, env); err != nil {
		return nil, err
	}
	res := &execResult{
		receipts: receipts,
		gasUsed:  gp.CumulativeUsed(),
		root:     statedb.IntermediateRoot(c.config.Rules(header.Number, true, header.Time)),
	}
	if tracer == nil {
		c.reads.observeExecution(reads, time.Since(start), statedb)
	}
	return res, nil
}

func (c *Chain) applyTx(ctx context.Context, evm *vm.EVM, gp *core.GasPool, statedb *ethstate.StateDB, header *types.Header, blockHash common.Hash, signer types.Signer, tx *types.Transaction, index int) (*types.Receipt, error) {
	if err := checkTxType(tx); err != nil {
		return nil, err
	}
	msg, err := core.TransactionToMessage(tx, signer, header.BaseFee)
	if err != nil {
		return nil, err
	}
	statedb.SetTxContext(tx.Hash(), index, uint32(index+1))
	c.modules.Bind(evm, msg)
	receipt, _, err := core.ApplyTransactionWithEVM(ctx, msg, gp, statedb, header.Number, blockHash, header.Time, tx, evm)
	return receipt, err
}

// StateAtTransaction returns the state before transaction txIndex of block.
func (c *Chain) StateAtTransaction(ctx context.Context, block *types.Block, txIndex int) (*ethstate.StateDB, error) {
	parent := c.HeaderByHash(block.ParentHash())
	if parent == nil {
		return nil, fmt.Errorf("state: parent of block %d not found", block.NumberU64())
	}
	statedb, err := c.StateAt(parent.Root)
	if err != nil {
		return nil, err
	}
	if txIndex > block.Transactions().Len() {
		return nil, fmt.Errorf("state: tx index %d out of range", txIndex)
	}
	header := block.Header()
	evm := c.NewEVM(header, statedb, vm.Config{})
	signer := types.MakeSigner(c.config, header.Number, header.Time)
	env, err := c.blockEnv(header)
	if err != nil {
		return nil, err
	}
	if err := c.modules.BeginBlock(statedb, env); err != nil {
		return nil, err
	}
	gp := core.NewGasPool(header.GasLimit)
	for i, tx := range block.Transactions()[:txIndex] {
		if _, err := c.applyTx(ctx, evm, gp, statedb, header, block.Hash(), signer, tx, i); err != nil {
			return nil, fmt.Errorf("state: replay tx %d: %w", i, err)
		}
	}
	return statedb, nil
}

// TxSource feeds BuildBlock with candidate transactions in priority order.
// Peek returns the best remaining transaction (nil when done); Shift moves on
// to the same account's next transaction; Pop drops the account entirely.
type TxSource interface {
	Peek() *types.Transaction
	Shift()
	Pop()
}

// BuildParams are the proposer's choices for a new block.
type BuildParams struct {
	Coinbase     common.Address
	Time         time.Time
	ParentCommit *cert.Certificate
	// MaxTxs bounds the transactions in the block (0: only the gas limit).
	MaxTxs int
	// KeepExecution caches the builder's execution so that InsertBlock of
	// this block commits it without executing again (a proposer trusting its
	// own build, as geth's miner does). Off, InsertBlock re-executes the
	// block exactly as it would one received from a peer (dev mode).
	KeepExecution bool
}

// BuildBlock assembles a block on top of the current head from txs. Invalid
// transactions are skipped (nonce too low: next of that account; others: drop
// the account for this block). The result still has to go through
// InsertBlock with a commit certificate to become part of the chain.
func (c *Chain) BuildBlock(ctx context.Context, txs TxSource, p BuildParams) (*types.Block, error) {
	parent := c.Head()
	number := new(big.Int).Add(parent.Number, common.Big1)
	extra := &cert.Extra{}
	if p.ParentCommit != nil {
		extra.ParentCommit = *p.ParentCommit
	}
	if number.Uint64()%uint64(c.gen.EpochLength) == 0 {
		vals, err := c.nextValidators(parent, number.Uint64())
		if err != nil {
			return nil, err
		}
		extra.Validators = vals
	}
	extraBytes, err := extra.Encode()
	if err != nil {
		return nil, err
	}
	zero := uint64(0)
	header := &types.Header{
		ParentHash:       parent.Hash(),
		UncleHash:        types.EmptyUncleHash,
		Coinbase:         p.Coinbase,
		Difficulty:       new(big.Int),
		Number:           number,
		GasLimit:         parent.GasLimit,
		Time:             NextTimestamp(parent, p.Time),
		Extra:            extraBytes,
		MixDigest:        PrevRandao(parent),
		BaseFee:          c.NextBaseFee(parent),
		WithdrawalsHash:  &types.EmptyWithdrawalsHash,
		BlobGasUsed:      &zero,
		ExcessBlobGas:    &zero,
		ParentBeaconRoot: &common.Hash{},
	}
	statedb, err := c.StateAt(parent.Root)
	if err != nil {
		return nil, err
	}
	start, reads := time.Now(), c.reads.snapshot()
	statedb.StartPrefetcher("miner", nil)
	defer statedb.StopPrefetcher()
	evm := c.NewEVM(header, statedb, vm.Config{})
	signer := types.MakeSigner(c.config, header.Number, header.Time)
	env, err := c.blockEnv(header)
	if err != nil {
		return nil, err
	}
	if err := c.modules.BeginBlock(statedb, env); err != nil {
		return nil, err
	}
	gp := core.NewGasPool(header.GasLimit)
	var included types.Transactions
	var receipts types.Receipts
	for txs != nil {
		if p.MaxTxs > 0 && len(included) >= p.MaxTxs {
			break
		}
		if ctx.Err() != nil {
			break
		}
		tx := txs.Peek()
		if tx == nil {
			break
		}
		if gp.Available(false) < params.TxGas {
			break
		}
		if tx.Gas() > gp.Available(false) {
			txs.Pop()
			continue
		}
		snap := statedb.Snapshot()
		gpSnap := gp.Snapshot()
		r, err := c.applyTx(ctx, evm, gp, statedb, header, common.Hash{}, signer, tx, len(included))
		switch {
		case err == nil:
			included = append(included, tx)
			receipts = append(receipts, r)
			txs.Shift()
		case errors.Is(err, core.ErrNonceTooLow):
			statedb.RevertToSnapshot(snap)
			gp.Set(gpSnap)
			txs.Shift()
		default:
			statedb.RevertToSnapshot(snap)
			gp.Set(gpSnap)
			txs.Pop()
		}
	}
	header.GasUsed = gp.CumulativeUsed()
	env.GasUsed = header.GasUsed
	if err := c.modules.EndBlock(statedb, env); err != nil {
		return nil, err
	}
	header.Root = statedb.IntermediateRoot(c.config.Rules(header.Number, true, header.Time))
	c.reads.observeExecution(reads, time.Since(start), statedb)
	body := &types.Body{Transactions: included, Withdrawals: []*types.Withdrawal{}}
	block := types.NewBlock(header, body, receipts, trieHasher())
	if p.KeepExecution {
		// InsertBlock commits a kept build without validating it again, so
		// check here what the caller supplied (the parent certificate) and
		// what it computed from the head it read.
		if err := c.verifyHeader(parent, block, false); err != nil {
			return nil, err
		}
		c.cacheValidated(block.Hash(), &validatedBlock{
			parent: parent.Hash(), statedb: statedb,
			res: &execResult{receipts: receipts, gasUsed: header.GasUsed, root: header.Root},
		})
	}
	return block, nil
}

// RecoverSenders recovers (and caches in each transaction) the senders of
// txs on all CPUs, so sequential execution finds them ready. Invalid
// signatures are left for the executor to report.
func RecoverSenders(signer types.Signer, txs types.Transactions) {
	const minPerWorker = 32
	workers := min(runtime.GOMAXPROCS(0), len(txs)/minPerWorker)
	if workers < 2 {
		return
	}
	var wg sync.WaitGroup
	chunk := (len(txs) + workers - 1) / workers
	for start := 0; start < len(txs); start += chunk {
		part := txs[start:min(start+chunk, len(txs))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tx := range part {
				_, _ = types.Sender(signer, tx)
			}
		}()
	}
	wg.Wait()
}

func trieHasher() types.ListHasher { return trie.NewStackTrie(nil) }

func uint256FromBig(b *big.Int) *uint256.Int {
	if b == nil {
		return new(uint256.Int)
	}
	u, _ := uint256.FromBig(b)
	return u
}
