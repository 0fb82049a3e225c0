package jsonrpc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// Limits of the eth namespace that are not configurable.
const (
	maxGetProofKeys      = 1024 // storage keys per eth_getProof (geth)
	maxFeeHistoryBlocks  = 1024 // blocks per eth_feeHistory (geth)
	maxRewardPercentiles = 100  // percentiles per eth_feeHistory (geth)
	gasPriceBlocks       = 20   // blocks the tip oracle samples (geth)
	gasPriceSamples      = 3    // cheapest tips taken per block (geth)
	gasPricePercentile   = 60   // percentile of the samples suggested (geth)
)

// maxSuggestedTip caps the tip oracle (geth's default max price, 500 gwei).
var maxSuggestedTip = big.NewInt(500 * params.GWei)

// ethAPI serves the eth namespace except filters and subscriptions.
type ethAPI struct {
	b    Backend
	cfg  Config
	x    *executor
	log  *slog.Logger
	send sync.Mutex // serialises eth_sendTransaction nonce assignment

	tipMu   sync.Mutex
	tipHead common.Hash
	tip     *big.Int
}

func newEthAPI(b Backend, cfg Config, log *slog.Logger) *ethAPI {
	return &ethAPI{b: b, cfg: cfg, log: log, x: &executor{b: b, gasCap: cfg.GasCap, timeout: cfg.EVMTimeout}}
}

// ChainId returns the chain id (EIP-695).
func (api *ethAPI) ChainId(ctx context.Context) (*hexutil.Big, error) {
	return (*hexutil.Big)(api.b.ChainConfig().ChainID), nil
}

// BlockNumber returns the head block number.
func (api *ethAPI) BlockNumber(ctx context.Context) (hexutil.Uint64, error) {
	return hexutil.Uint64(api.b.CurrentHeader().Number.Uint64()), nil
}

// GetBalance returns the balance of address at the given block.
func (api *ethAPI) GetBalance(ctx context.Context, address common.Address, bnh *rpc.BlockNumberOrHash) (*hexutil.Big, error) {
	st, _, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	return (*hexutil.Big)(st.GetBalance(address).ToBig()), st.Error()
}

// GetCode returns the code of address at the given block.
func (api *ethAPI) GetCode(ctx context.Context, address common.Address, bnh *rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	st, _, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	return st.GetCode(address), st.Error()
}

// GetStorageAt returns one storage slot of address at the given block.
func (api *ethAPI) GetStorageAt(ctx context.Context, address common.Address, hexKey string, bnh *rpc.BlockNumberOrHash) (hexutil.Bytes, error) {
	key, _, err := decodeStorageKey(hexKey)
	if err != nil {
		return nil, invalidParams("%v: %q", err, hexKey)
	}
	st, _, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	res := st.GetState(address, key)
	return res[:], st.Error()
}

// GetTransactionCount returns the nonce of address; "pending" counts the
// pool's transactions too.
func (api *ethAPI) GetTransactionCount(ctx context.Context, address common.Address, bnh *rpc.BlockNumberOrHash) (*hexutil.Uint64, error) {
	ref := latestOr(bnh)
	if n, ok := ref.Number(); ok && n == rpc.PendingBlockNumber {
		nonce := api.b.PoolNonce(address)
		return (*hexutil.Uint64)(&nonce), nil
	}
	st, _, err := stateAndHeader(api.b, ref)
	if err != nil {
		return nil, toRPCError(err)
	}
	nonce := st.GetNonce(address)
	return (*hexutil.Uint64)(&nonce), st.Error()
}

// Call executes args against the state at the given block without creating
// a transaction. Reverts return code 3 with the revert data.
func (api *ethAPI) Call(ctx context.Context, args TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *StateOverride) (hexutil.Bytes, error) {
	st, header, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	res, err := api.x.call(ctx, args, st, header, overrides)
	if err != nil {
		return nil, toRPCError(err)
	}
	if errors.Is(res.Err, vm.ErrExecutionReverted) {
		return nil, newRevertError(res.Revert())
	}
	return res.Return(), res.Err
}

// EstimateGas returns the lowest gas limit with which args succeed.
func (api *ethAPI) EstimateGas(ctx context.Context, args TransactionArgs, bnh *rpc.BlockNumberOrHash, overrides *StateOverride) (hexutil.Uint64, error) {
	st, header, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return 0, toRPCError(err)
	}
	gas, err := api.x.estimateGas(ctx, args, st, header, overrides)
	return hexutil.Uint64(gas), toRPCError(err)
}

// GasPrice suggests a legacy gas price: the suggested tip plus the base fee.
func (api *ethAPI) GasPrice(ctx context.Context) (*hexutil.Big, error) {
	tip := api.suggestTip()
	head := api.b.CurrentHeader()
	if head.BaseFee != nil {
		fee := api.nextBaseFee(head)
		if head.BaseFee.Cmp(fee) > 0 {
			fee = head.BaseFee
		}
		tip = new(big.Int).Add(tip, fee)
	}
	return (*hexutil.Big)(tip), nil
}

// MaxPriorityFeePerGas suggests a tip for EIP-1559 transactions.
func (api *ethAPI) MaxPriorityFeePerGas(ctx context.Context) (*hexutil.Big, error) {
	return (*hexutil.Big)(api.suggestTip()), nil
}

// feeHistoryResult is eth_feeHistory's response (geth's shape).
type feeHistoryResult struct {
	OldestBlock      *hexutil.Big     `json:"oldestBlock"`
	Reward           [][]*hexutil.Big `json:"reward,omitempty"`
	BaseFee          []*hexutil.Big   `json:"baseFeePerGas,omitempty"`
	GasUsedRatio     []float64        `json:"gasUsedRatio"`
	BlobBaseFee      []*hexutil.Big   `json:"baseFeePerBlobGas,omitempty"`
	BlobGasUsedRatio []float64        `json:"blobGasUsedRatio,omitempty"`
}

// FeeHistory returns base fees, gas use ratios and tip percentiles for up
// to 1024 blocks ending at lastBlock.
func (api *ethAPI) FeeHistory(ctx context.Context, blockCount math.HexOrDecimal64, lastBlock rpc.BlockNumber, rewardPercentiles []float64) (*feeHistoryResult, error) {
	if len(rewardPercentiles) > maxRewardPercentiles {
		return nil, invalidParams("%v: over the query limit %d", ErrInvalidParams, maxRewardPercentiles)
	}
	for i, p := range rewardPercentiles {
		if p < 0 || p > 100 {
			return nil, invalidParams("invalid reward percentile: %f", p)
		}
		if i > 0 && p <= rewardPercentiles[i-1] {
			return nil, invalidParams("invalid reward percentile: #%d:%f >= #%d:%f", i-1, rewardPercentiles[i-1], i, p)
		}
	}
	head := api.b.CurrentHeader().Number.Uint64()
	if blockCount < 1 {
		return &feeHistoryResult{OldestBlock: (*hexutil.Big)(new(big.Int))}, nil
	}
	if blockCount > maxFeeHistoryBlocks {
		blockCount = maxFeeHistoryBlocks
	}
	last, ok := resolveNumber(api.b, lastBlock)
	if !ok {
		return nil, invalidParams("invalid block number %d", lastBlock)
	}
	if last > head {
		return nil, fmt.Errorf("request beyond head block: requested %d, head %d", last, head)
	}
	count := uint64(blockCount)
	if count > last+1 {
		count = last + 1
	}
	oldest := last + 1 - count
	res := &feeHistoryResult{
		OldestBlock:  (*hexutil.Big)(new(big.Int).SetUint64(oldest)),
		GasUsedRatio: make([]float64, count),
		BaseFee:      make([]*hexutil.Big, count+1),
	}
	if len(rewardPercentiles) > 0 {
		res.Reward = make([][]*hexutil.Big, count)
	}
	var lastHeader *types.Header
	for i := uint64(0); i < count; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		block := api.b.BlockByNumber(oldest + i)
		if block == nil {
			return nil, fmt.Errorf("%w: block %d", ErrHeaderNotFound, oldest+i)
		}
		h := block.Header()
		lastHeader = h
		res.BaseFee[i] = (*hexutil.Big)(baseFeeOrZero(h))
		if h.GasLimit > 0 {
			res.GasUsedRatio[i] = float64(h.GasUsed) / float64(h.GasLimit)
		}
		if h.ExcessBlobGas != nil {
			res.BlobBaseFee = append(res.BlobBaseFee, (*hexutil.Big)(big.NewInt(1)))
			res.BlobGasUsedRatio = append(res.BlobGasUsedRatio, 0)
		}
		if res.Reward != nil {
			res.Reward[i] = api.blockRewards(block, rewardPercentiles)
		}
	}
	res.BaseFee[count] = (*hexutil.Big)(api.nextBaseFee(lastHeader))
	if res.BlobBaseFee != nil {
		res.BlobBaseFee = append(res.BlobBaseFee, (*hexutil.Big)(big.NewInt(1)))
	}
	return res, nil
}

// blockRewards returns the gas-weighted tip percentiles of block, as geth's
// fee history oracle computes them.
func (api *ethAPI) blockRewards(block *types.Block, percentiles []float64) []*hexutil.Big {
	out := make([]*hexutil.Big, len(percentiles))
	txs := block.Transactions()
	if len(txs) == 0 {
		for i := range out {
			out[i] = (*hexutil.Big)(new(big.Int))
		}
		return out
	}
	receipts := api.b.Receipts(block.Hash())
	type sorter struct {
		gas uint64
		tip *big.Int
	}
	base := baseFeeOrZero(block.Header())
	sorted := make([]sorter, len(txs))
	for i, tx := range txs {
		tip, _ := tx.EffectiveGasTip(base)
		if tip == nil || tip.Sign() < 0 {
			tip = new(big.Int)
		}
		var gas uint64
		if i < len(receipts) {
			gas = receipts[i].GasUsed
		}
		sorted[i] = sorter{gas, tip}
	}
	slices.SortStableFunc(sorted, func(a, b sorter) int { return a.tip.Cmp(b.tip) })
	var txIndex int
	sumGas := sorted[0].gas
	for i, p := range percentiles {
		threshold := uint64(float64(block.GasUsed()) * p / 100)
		for sumGas < threshold && txIndex < len(sorted)-1 {
			txIndex++
			sumGas += sorted[txIndex].gas
		}
		out[i] = (*hexutil.Big)(sorted[txIndex].tip)
	}
	return out
}

// SendRawTransaction decodes a signed transaction and hands it to the pool.
func (api *ethAPI) SendRawTransaction(ctx context.Context, input hexutil.Bytes) (common.Hash, error) {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(input); err != nil {
		return common.Hash{}, err
	}
	return api.submit(ctx, tx)
}

// submit applies the RPC-level checks geth applies, then sends tx.
func (api *ethAPI) submit(ctx context.Context, tx *types.Transaction) (common.Hash, error) {
	if !api.cfg.AllowUnprotectedTxs && !tx.Protected() {
		return common.Hash{}, errors.New("only replay-protected (EIP-155) transactions allowed over RPC")
	}
	if err := api.b.SendTx(ctx, tx); err != nil {
		return common.Hash{}, toRPCError(err)
	}
	api.log.Debug("submitted transaction", "hash", tx.Hash(), "nonce", tx.Nonce(), "to", tx.To())
	return tx.Hash(), nil
}

// signerFor returns the unlocked-account signer if addr is one of its
// accounts.
func (api *ethAPI) signerFor(addr common.Address) (AccountSigner, error) {
	s := api.b.Accounts()
	if s == nil || !slices.Contains(s.Addresses(), addr) {
		return nil, ErrUnknownAccount
	}
	return s, nil
}

// Accounts lists the unlocked accounts (dev mode; empty otherwise).
func (api *ethAPI) Accounts(ctx context.Context) ([]common.Address, error) {
	s := api.b.Accounts()
	if s == nil {
		return []common.Address{}, nil
	}
	addrs := s.Addresses()
	if addrs == nil {
		addrs = []common.Address{}
	}
	return addrs, nil
}

// SendTransaction fills in defaults, signs with an unlocked account and
// submits the transaction.
func (api *ethAPI) SendTransaction(ctx context.Context, args TransactionArgs) (common.Hash, error) {
	signer, err := api.signerFor(args.from())
	if err != nil {
		return common.Hash{}, err
	}
	if args.Nonce == nil {
		// Hold the lock across nonce lookup and submission so concurrent
		// calls do not pick the same nonce.
		api.send.Lock()
		defer api.send.Unlock()
	}
	if err := api.setDefaults(ctx, &args); err != nil {
		return common.Hash{}, toRPCError(err)
	}
	signed, err := signer.SignTx(args.from(), args.toTransaction(), api.b.ChainConfig().ChainID)
	if err != nil {
		return common.Hash{}, err
	}
	return api.submit(ctx, signed)
}

// setDefaults fills fee, nonce, gas and chain id as geth's setDefaults does.
func (api *ethAPI) setDefaults(ctx context.Context, args *TransactionArgs) error {
	head := api.b.CurrentHeader()
	if args.GasPrice != nil && (args.MaxFeePerGas != nil || args.MaxPriorityFeePerGas != nil) {
		return errors.New("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
	}
	if args.GasPrice == nil {
		if args.MaxPriorityFeePerGas == nil {
			args.MaxPriorityFeePerGas = (*hexutil.Big)(api.suggestTip())
		}
		if args.MaxFeePerGas == nil {
			fee := new(big.Int).Add(args.MaxPriorityFeePerGas.ToInt(), new(big.Int).Mul(api.nextBaseFee(head), big.NewInt(2)))
			args.MaxFeePerGas = (*hexutil.Big)(fee)
		}
		if args.MaxFeePerGas.ToInt().Cmp(args.MaxPriorityFeePerGas.ToInt()) < 0 {
			return fmt.Errorf("maxFeePerGas (%v) < maxPriorityFeePerGas (%v)", args.MaxFeePerGas, args.MaxPriorityFeePerGas)
		}
	} else if args.GasPrice.ToInt().Sign() == 0 {
		return errors.New("gasPrice must be non-zero after london fork")
	}
	if args.Value == nil {
		args.Value = new(hexutil.Big)
	}
	if args.Nonce == nil {
		nonce := api.b.PoolNonce(args.from())
		args.Nonce = (*hexutil.Uint64)(&nonce)
	}
	if args.Data != nil && args.Input != nil && !bytesEqual(*args.Data, *args.Input) {
		return errors.New(`both "data" and "input" are set and not equal. Please use "input" to pass transaction call data`)
	}
	if args.To == nil && len(args.data()) == 0 {
		return errors.New(`contract creation without any data provided`)
	}
	want := api.b.ChainConfig().ChainID
	if args.ChainID != nil {
		if have := (*big.Int)(args.ChainID); have.Cmp(want) != 0 {
			return fmt.Errorf("chainId does not match node's (have=%v, want=%v)", have, want)
		}
	} else {
		args.ChainID = (*hexutil.Big)(want)
	}
	if args.Gas == nil {
		data := args.data()
		est := TransactionArgs{
			From: args.From, To: args.To, GasPrice: args.GasPrice,
			MaxFeePerGas: args.MaxFeePerGas, MaxPriorityFeePerGas: args.MaxPriorityFeePerGas,
			Value: args.Value, Input: (*hexutil.Bytes)(&data), AccessList: args.AccessList,
		}
		st, err := api.b.StateAt(head)
		if err != nil {
			return err
		}
		gas, err := api.x.estimateGas(ctx, est, st, head, nil)
		if err != nil {
			return err
		}
		args.Gas = (*hexutil.Uint64)(&gas)
	}
	return nil
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// Sign signs keccak256("\x19Ethereum Signed Message:\n" + len + data) with
// an unlocked account; V is 27 or 28.
func (api *ethAPI) Sign(ctx context.Context, addr common.Address, data hexutil.Bytes) (hexutil.Bytes, error) {
	signer, err := api.signerFor(addr)
	if err != nil {
		return nil, err
	}
	sig, err := signer.SignHash(addr, accounts.TextHash(data))
	if err != nil {
		return nil, err
	}
	if len(sig) != crypto.SignatureLength {
		return nil, fmt.Errorf("signer returned %d-byte signature", len(sig))
	}
	sig[crypto.RecoveryIDOffset] += 27
	return sig, nil
}

// typedDataParam accepts EIP-712 typed data as a JSON object or as a JSON
// string holding one (ethers and viem send the string form).
type typedDataParam struct{ apitypes.TypedData }

// UnmarshalJSON implements json.Unmarshaler.
func (p *typedDataParam) UnmarshalJSON(data []byte) error {
	if trimmed := strings.TrimSpace(string(data)); strings.HasPrefix(trimmed, `"`) {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		data = []byte(s)
	}
	return json.Unmarshal(data, &p.TypedData)
}

// SignTypedData_v4 signs EIP-712 typed data with an unlocked account
// (eth_signTypedData_v4, as MetaMask and anvil expose it).
func (api *ethAPI) SignTypedData_v4(ctx context.Context, addr common.Address, data typedDataParam) (sig hexutil.Bytes, err error) {
	signer, err := api.signerFor(addr)
	if err != nil {
		return nil, err
	}
	hash, err := hashTypedData(data.TypedData)
	if err != nil {
		return nil, invalidParams("%v", err)
	}
	sig, err = signer.SignHash(addr, hash)
	if err != nil {
		return nil, err
	}
	if len(sig) != crypto.SignatureLength {
		return nil, fmt.Errorf("signer returned %d-byte signature", len(sig))
	}
	sig[crypto.RecoveryIDOffset] += 27
	return sig, nil
}

// hashTypedData computes the EIP-712 digest, turning a panic inside
// apitypes on hostile input into an error.
func hashTypedData(td apitypes.TypedData) (hash []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			hash, err = nil, fmt.Errorf("invalid typed data: %v", r)
		}
	}()
	hash, _, err = apitypes.TypedDataAndHash(td)
	return hash, err
}

// GetTransactionByHash returns a mined or pooled transaction, or null.
func (api *ethAPI) GetTransactionByHash(ctx context.Context, hash common.Hash) (*rpcTransaction, error) {
	tx, blockHash, number, index := api.b.Transaction(hash)
	if tx == nil {
		if ptx := api.b.PoolTransaction(hash); ptx != nil {
			return newRPCPendingTransaction(ptx, api.b.CurrentHeader(), api.b.ChainConfig()), nil
		}
		return nil, nil
	}
	header := api.b.HeaderByHash(blockHash)
	if header == nil {
		return nil, nil
	}
	return newRPCTransaction(tx, blockHash, number, header.Time, index, header.BaseFee, api.b.ChainConfig()), nil
}

// GetRawTransactionByHash returns the encoded bytes of a mined or pooled
// transaction.
func (api *ethAPI) GetRawTransactionByHash(ctx context.Context, hash common.Hash) (hexutil.Bytes, error) {
	tx, _, _, _ := api.b.Transaction(hash)
	if tx == nil {
		if tx = api.b.PoolTransaction(hash); tx == nil {
			return nil, nil
		}
	}
	return tx.MarshalBinary()
}

// GetTransactionByBlockHashAndIndex returns the index-th transaction of a block.
func (api *ethAPI) GetTransactionByBlockHashAndIndex(ctx context.Context, blockHash common.Hash, index hexutil.Uint) (*rpcTransaction, error) {
	if block := api.b.BlockByHash(blockHash); block != nil {
		return newRPCTransactionFromBlockIndex(block, uint64(index), api.b.ChainConfig()), nil
	}
	return nil, nil
}

// GetTransactionByBlockNumberAndIndex returns the index-th transaction of a block.
func (api *ethAPI) GetTransactionByBlockNumberAndIndex(ctx context.Context, number rpc.BlockNumber, index hexutil.Uint) (*rpcTransaction, error) {
	if block := blockByNumber(api.b, number); block != nil {
		return newRPCTransactionFromBlockIndex(block, uint64(index), api.b.ChainConfig()), nil
	}
	return nil, nil
}

// GetTransactionReceipt returns the receipt of a mined transaction, or null.
func (api *ethAPI) GetTransactionReceipt(ctx context.Context, hash common.Hash) (map[string]any, error) {
	tx, blockHash, number, index := api.b.Transaction(hash)
	if tx == nil {
		return nil, nil
	}
	header := api.b.HeaderByHash(blockHash)
	if header == nil {
		return nil, nil
	}
	receipts := api.b.Receipts(blockHash)
	if index >= uint64(len(receipts)) {
		return nil, fmt.Errorf("receipt %d of block %s not found", index, blockHash)
	}
	signer := types.MakeSigner(api.b.ChainConfig(), header.Number, header.Time)
	return marshalReceipt(receipts[index], blockHash, number, signer, tx, int(index)), nil
}

// GetBlockReceipts returns all receipts of a block, or null.
func (api *ethAPI) GetBlockReceipts(ctx context.Context, bnh rpc.BlockNumberOrHash) ([]map[string]any, error) {
	block, err := blockByNumberOrHash(api.b, bnh)
	if block == nil || err != nil {
		return nil, toRPCError(err)
	}
	receipts := api.b.Receipts(block.Hash())
	txs := block.Transactions()
	if len(txs) != len(receipts) {
		return nil, fmt.Errorf("receipts length mismatch: %d vs %d", len(txs), len(receipts))
	}
	signer := types.MakeSigner(api.b.ChainConfig(), block.Number(), block.Time())
	result := make([]map[string]any, len(receipts))
	for i, receipt := range receipts {
		result[i] = marshalReceipt(receipt, block.Hash(), block.NumberU64(), signer, txs[i], i)
	}
	return result, nil
}

// GetBlockByNumber returns a block with transaction hashes or full
// transactions, or null.
func (api *ethAPI) GetBlockByNumber(ctx context.Context, number rpc.BlockNumber, fullTx bool) (map[string]any, error) {
	if block := blockByNumber(api.b, number); block != nil {
		return marshalBlock(block, fullTx, api.b.ChainConfig()), nil
	}
	return nil, nil
}

// GetBlockByHash returns a block, or null.
func (api *ethAPI) GetBlockByHash(ctx context.Context, hash common.Hash, fullTx bool) (map[string]any, error) {
	if block := api.b.BlockByHash(hash); block != nil {
		return marshalBlock(block, fullTx, api.b.ChainConfig()), nil
	}
	return nil, nil
}

// GetHeaderByNumber returns a block header, or null.
func (api *ethAPI) GetHeaderByNumber(ctx context.Context, number rpc.BlockNumber) (map[string]any, error) {
	if h := headerByNumber(api.b, number); h != nil {
		return marshalHeader(h), nil
	}
	return nil, nil
}

// GetHeaderByHash returns a block header, or null.
func (api *ethAPI) GetHeaderByHash(ctx context.Context, hash common.Hash) (map[string]any, error) {
	if h := api.b.HeaderByHash(hash); h != nil {
		return marshalHeader(h), nil
	}
	return nil, nil
}

// GetBlockTransactionCountByHash returns the number of transactions in a
// block, or null.
func (api *ethAPI) GetBlockTransactionCountByHash(ctx context.Context, hash common.Hash) (*hexutil.Uint, error) {
	if block := api.b.BlockByHash(hash); block != nil {
		n := hexutil.Uint(len(block.Transactions()))
		return &n, nil
	}
	return nil, nil
}

// GetBlockTransactionCountByNumber returns the number of transactions in a
// block, or null.
func (api *ethAPI) GetBlockTransactionCountByNumber(ctx context.Context, number rpc.BlockNumber) (*hexutil.Uint, error) {
	if block := blockByNumber(api.b, number); block != nil {
		n := hexutil.Uint(len(block.Transactions()))
		return &n, nil
	}
	return nil, nil
}

// GetUncleCountByBlockNumber is always 0 (or null for unknown blocks): BFT
// blocks have no uncles.
func (api *ethAPI) GetUncleCountByBlockNumber(ctx context.Context, number rpc.BlockNumber) (*hexutil.Uint, error) {
	if block := blockByNumber(api.b, number); block != nil {
		n := hexutil.Uint(len(block.Uncles()))
		return &n, nil
	}
	return nil, nil
}

// GetUncleCountByBlockHash is always 0 (or null for unknown blocks).
func (api *ethAPI) GetUncleCountByBlockHash(ctx context.Context, hash common.Hash) (*hexutil.Uint, error) {
	if block := api.b.BlockByHash(hash); block != nil {
		n := hexutil.Uint(len(block.Uncles()))
		return &n, nil
	}
	return nil, nil
}

// Syncing returns false, or the sync progress while catching up.
func (api *ethAPI) Syncing(ctx context.Context) (any, error) {
	p, syncing := api.b.Syncing()
	if !syncing {
		return false, nil
	}
	return map[string]any{
		"startingBlock": hexutil.Uint64(p.StartingBlock),
		"currentBlock":  hexutil.Uint64(p.CurrentBlock),
		"highestBlock":  hexutil.Uint64(p.HighestBlock),
	}, nil
}

// accountResult is eth_getProof's response (EIP-1186).
type accountResult struct {
	Address      common.Address  `json:"address"`
	AccountProof []string        `json:"accountProof"`
	Balance      *hexutil.Big    `json:"balance"`
	CodeHash     common.Hash     `json:"codeHash"`
	Nonce        hexutil.Uint64  `json:"nonce"`
	StorageHash  common.Hash     `json:"storageHash"`
	StorageProof []storageResult `json:"storageProof"`
}

type storageResult struct {
	Key   string       `json:"key"`
	Value *hexutil.Big `json:"value"`
	Proof []string     `json:"proof"`
}

// proofList collects trie proof nodes as hex strings.
type proofList []string

func (n *proofList) Put(key []byte, value []byte) error {
	*n = append(*n, hexutil.Encode(value))
	return nil
}

func (n *proofList) Delete(key []byte) error { return errors.New("proofList: delete not supported") }

// GetProof returns the account and storage Merkle proofs (EIP-1186).
func (api *ethAPI) GetProof(ctx context.Context, address common.Address, storageKeys []string, bnh *rpc.BlockNumberOrHash) (*accountResult, error) {
	if len(storageKeys) > maxGetProofKeys {
		return nil, invalidParams("too many storage keys requested (max %d, got %d)", maxGetProofKeys, len(storageKeys))
	}
	keys := make([]common.Hash, len(storageKeys))
	keyLengths := make([]int, len(storageKeys))
	for i, hexKey := range storageKeys {
		var err error
		if keys[i], keyLengths[i], err = decodeStorageKey(hexKey); err != nil {
			return nil, invalidParams("%v: %q", err, hexKey)
		}
	}
	st, header, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	codeHash := st.GetCodeHash(address)
	storageRoot := st.GetStorageRoot(address)
	storageProof := make([]storageResult, len(keys))
	if len(keys) > 0 {
		var storageTrie ethstate.Trie
		if storageRoot != types.EmptyRootHash && storageRoot != (common.Hash{}) {
			t, err := api.b.StateDatabase().OpenStorageTrie(header.Root, address, storageRoot, nil)
			if err != nil {
				return nil, err
			}
			storageTrie = t
		}
		for i, key := range keys {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			outputKey := hexutil.Encode(key[:])
			if keyLengths[i] != 32 {
				outputKey = hexutil.EncodeBig(key.Big())
			}
			if storageTrie == nil {
				storageProof[i] = storageResult{outputKey, &hexutil.Big{}, []string{}}
				continue
			}
			var proof proofList
			if err := storageTrie.Prove(crypto.Keccak256(key.Bytes()), &proof); err != nil {
				return nil, err
			}
			storageProof[i] = storageResult{outputKey, (*hexutil.Big)(st.GetState(address, key).Big()), proof}
		}
	}
	tr, err := api.b.StateDatabase().OpenTrie(header.Root)
	if err != nil {
		return nil, err
	}
	var accountProof proofList
	if err := tr.Prove(crypto.Keccak256(address.Bytes()), &accountProof); err != nil {
		return nil, err
	}
	return &accountResult{
		Address:      address,
		AccountProof: accountProof,
		Balance:      (*hexutil.Big)(st.GetBalance(address).ToBig()),
		CodeHash:     codeHash,
		Nonce:        hexutil.Uint64(st.GetNonce(address)),
		StorageHash:  storageRoot,
		StorageProof: storageProof,
	}, st.Error()
}

// decodeStorageKey parses a storage key leniently (0x optional, odd length
// allowed, at most 32 bytes), as geth does.
func decodeStorageKey(s string) (h common.Hash, inputLength int, err error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		s = s[2:]
	}
	if (len(s) & 1) > 0 {
		s = "0" + s
	}
	if len(s) > 64 {
		return common.Hash{}, len(s) / 2, errors.New("storage key too long (want at most 32 bytes)")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return common.Hash{}, 0, errors.New("invalid hex in storage key")
	}
	return common.BytesToHash(b), len(b), nil
}

// baseFeeOrZero returns h's base fee, or zero before London.
func baseFeeOrZero(h *types.Header) *big.Int {
	if h.BaseFee == nil {
		return new(big.Int)
	}
	return new(big.Int).Set(h.BaseFee)
}

// nextBaseFee is the base fee of the block after head: EIP-1559's formula
// floored at the chain's minimum base fee.
func (api *ethAPI) nextBaseFee(head *types.Header) *big.Int {
	cfg := api.b.ChainConfig()
	if head.BaseFee == nil || !cfg.IsLondon(new(big.Int).Add(head.Number, common.Big1)) {
		return new(big.Int)
	}
	fee := eip1559.CalcBaseFee(cfg, head)
	if min := api.b.MinBaseFee(); min != nil && fee.Cmp(min) < 0 {
		fee = new(big.Int).Set(min)
	}
	return fee
}

// suggestTip is geth's gas price oracle in small: the 60th percentile of the
// three cheapest effective tips in each of the last 20 blocks, Config.DefaultTip
// when those blocks are empty, cached per head.
func (api *ethAPI) suggestTip() *big.Int {
	head := api.b.CurrentHeader()
	api.tipMu.Lock()
	defer api.tipMu.Unlock()
	if api.tip != nil && api.tipHead == head.Hash() {
		return new(big.Int).Set(api.tip)
	}
	var samples []*big.Int
	n := head.Number.Uint64()
	for i := uint64(0); i < gasPriceBlocks && i <= n; i++ {
		block := api.b.BlockByNumber(n - i)
		if block == nil {
			break
		}
		base := baseFeeOrZero(block.Header())
		var tips []*big.Int
		for _, tx := range block.Transactions() {
			if tip, err := tx.EffectiveGasTip(base); err == nil && tip.Sign() > 0 {
				tips = append(tips, tip)
			}
		}
		slices.SortFunc(tips, func(a, b *big.Int) int { return a.Cmp(b) })
		if len(tips) > gasPriceSamples {
			tips = tips[:gasPriceSamples]
		}
		samples = append(samples, tips...)
	}
	tip := new(big.Int).Set(api.cfg.DefaultTip)
	if len(samples) > 0 {
		slices.SortFunc(samples, func(a, b *big.Int) int { return a.Cmp(b) })
		tip = samples[(len(samples)-1)*gasPricePercentile/100]
	}
	if tip.Cmp(maxSuggestedTip) > 0 {
		tip = new(big.Int).Set(maxSuggestedTip)
	}
	api.tip, api.tipHead = tip, head.Hash()
	return new(big.Int).Set(tip)
}
