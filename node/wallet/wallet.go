package wallet

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/event"
	"github.com/ethereum/go-ethereum/params"

	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/txpool"
)

// Chain is the wallet's view of the blockchain; *state.Chain satisfies it.
type Chain interface {
	Config() *params.ChainConfig
	Head() *types.Header
	NextBaseFee(parent *types.Header) *big.Int
	StateAt(root common.Hash) (*ethstate.StateDB, error)
	// Transaction finds a mined transaction: its block hash, number and
	// index (nil when not mined).
	Transaction(hash common.Hash) (*types.Transaction, common.Hash, uint64, uint64)
	Receipts(blockHash common.Hash) types.Receipts
	// SubscribeHead delivers every committed block. The chain sends while
	// holding its insert lock: the wallet drains the channel at once.
	SubscribeHead(ch chan<- state.HeadEvent) event.Subscription
}

// Pool is the wallet's view of the transaction pool; *txpool.Pool
// satisfies it. Sending goes through Config.Send, not the pool.
type Pool interface {
	// Nonce is the account's next nonce counting executable pool
	// transactions.
	Nonce(addr common.Address) uint64
	Has(hash common.Hash) bool
}

// SendFunc hands a signed transaction to the node's send path: the local
// pool as a local transaction, then gossip (the node's SendTx). Pool
// rejections come back as the pool's sentinel errors.
type SendFunc func(ctx context.Context, tx *types.Transaction) error

// EstimateFunc returns the gas a request needs when sent from from.
type EstimateFunc func(ctx context.Context, from common.Address, req Request) (uint64, error)

// Config is what New needs.
type Config struct {
	Key      *ecdsa.PrivateKey
	Chain    Chain
	Pool     Pool
	Send     SendFunc
	Estimate EstimateFunc
	Policy   Policy
	// MaxInFlight bounds the transactions waiting to be mined (default 64).
	MaxInFlight int
	Metrics     *Metrics // nil: NopMetrics
}

// Request is a transaction a node service wants sent.
type Request struct {
	To    *common.Address // nil creates a contract
	Data  []byte
	Value *big.Int // nil: zero
	// Gas is the gas limit; 0 estimates it.
	Gas uint64
	// Label names the transaction in log lines ("evidence", "register").
	Label string
}

// Handle follows one submitted request until it is mined.
type Handle struct {
	label   string
	done    chan struct{}
	receipt *types.Receipt
	err     error
}

// Label returns the request's label.
func (h *Handle) Label() string { return h.label }

// Done is closed when the outcome is known.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Wait blocks until the transaction is mined or ctx ends. A transaction
// mined with status 0 returns its receipt and an error wrapping
// ErrReverted; one still in flight when the wallet stops, ErrStopped.
func (h *Handle) Wait(ctx context.Context) (*types.Receipt, error) {
	select {
	case <-h.done:
		return h.receipt, h.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (h *Handle) resolve(r *types.Receipt, err error) {
	h.receipt, h.err = r, err
	close(h.done)
}

// request is a submitted request with its current signed version.
type request struct {
	Request
	id uint64
	h  *Handle
	tx *types.Transaction
}

// Wallet sends the node's transactions and sees them mined. Submit is safe
// for concurrent use; Run drives the head loop.
type Wallet struct {
	cfg    Config
	addr   common.Address
	signer types.Signer
	log    *slog.Logger
	m      *Metrics

	mu       sync.Mutex
	tracker  *Tracker
	reqs     map[uint64]*request // by id
	nextID   uint64
	next     uint64 // next nonce for a first send; valid once nonceSet
	nonceSet bool
	stopped  bool

	// headDone, when set (tests only), receives each head number after
	// onHead handled it, so a test can seal in lockstep with the wallet.
	headDone chan<- uint64
}

// New builds a wallet; Run starts following heads.
func New(cfg Config, log *slog.Logger) (*Wallet, error) {
	if cfg.Key == nil || cfg.Chain == nil || cfg.Pool == nil || cfg.Send == nil || cfg.Estimate == nil {
		return nil, fmt.Errorf("%w: key, chain, pool, send and estimate are required", ErrBadConfig)
	}
	if err := cfg.Policy.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := crypto.PubkeyToAddress(cfg.Key.PublicKey)
	return &Wallet{
		cfg: cfg, addr: addr, signer: types.LatestSigner(cfg.Chain.Config()),
		log: log.With("component", "wallet"), m: cfg.Metrics,
		tracker: NewTracker(cfg.Policy), reqs: make(map[uint64]*request),
	}, nil
}

// Address is the account the wallet sends from.
func (w *Wallet) Address() common.Address { return w.addr }

// InFlight is the number of transactions waiting to be mined.
func (w *Wallet) InFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tracker.Len()
}

// Submit signs req with the next nonce and sends it. It fails with
// ErrWalletFull when Config.MaxInFlight transactions are in flight, and
// passes the pool's rejection up (txpool.ErrInsufficientFunds, say) wrapped
// with %w; nothing is tracked then and the nonce is not used.
func (w *Wallet) Submit(ctx context.Context, req Request) (*Handle, error) {
	if req.Value == nil {
		req.Value = new(big.Int)
	}
	if req.Value.Sign() < 0 {
		return nil, fmt.Errorf("%w: negative value %v", ErrBadRequest, req.Value)
	}
	req.Data = append([]byte(nil), req.Data...)
	if err := w.admit(); err != nil {
		return nil, err
	}
	if req.Gas == 0 {
		gas, err := w.cfg.Estimate(ctx, w.addr, req)
		if err != nil {
			return nil, fmt.Errorf("wallet: estimate gas of %q: %w", req.Label, err)
		}
		req.Gas = gas
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.admitLocked(); err != nil {
		return nil, err
	}
	r := &request{Request: req, id: w.nextID, h: &Handle{label: req.Label, done: make(chan struct{})}}
	w.nextID++
	if err := w.sendNewLocked(ctx, r); err != nil {
		return nil, err
	}
	return r.h, nil
}

func (w *Wallet) admit() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.admitLocked()
}

func (w *Wallet) admitLocked() error {
	if w.stopped {
		return ErrStopped
	}
	if n := w.tracker.Len(); n >= w.cfg.MaxInFlight {
		return fmt.Errorf("%w (%d)", ErrWalletFull, n)
	}
	return nil
}

// maxNonceRetries bounds the nonces a first send tries when the pool says
// the nonce is used (another sender of the same key).
const maxNonceRetries = 4

// sendNewLocked sends r as a first send with the next nonce and tracks it.
// When the pool says that nonce is taken, the local nonce is re-synced and
// the send retried a few times.
func (w *Wallet) sendNewLocked(ctx context.Context, r *request) error {
	head := w.cfg.Chain.Head()
	fees, err := InitialFees(w.cfg.Policy, w.cfg.Chain.NextBaseFee(head))
	if err != nil {
		return fmt.Errorf("wallet: %q: %w", r.Label, err)
	}
	if !w.nonceSet {
		w.next, w.nonceSet = w.cfg.Pool.Nonce(w.addr), true
	}
	for attempt := 0; ; attempt++ {
		nonce := w.resyncLocked(0, "send")
		tx, err := w.sign(r, nonce, fees)
		if err != nil {
			return err
		}
		err = w.cfg.Send(ctx, tx)
		if err == nil {
			w.next = nonce + 1
			r.tx = tx
			w.reqs[r.id] = r
			w.tracker.Add(r.id, nonce, fees, tx.Hash(), head.Number.Uint64())
			w.m.Sent.Inc()
			w.m.InFlight.Set(float64(w.tracker.Len()))
			w.log.Info("wallet tx sent", "label", r.Label, "hash", tx.Hash(), "nonce", nonce, "to", r.To,
				"gas", r.Gas, "fee_cap", fees.FeeCap, "tip", fees.Tip)
			return nil
		}
		if attempt < maxNonceRetries && nonceTaken(err) {
			w.log.Warn("wallet nonce taken, re-syncing", "label", r.Label, "nonce", nonce, "err", err)
			w.next = nonce + 1
			continue
		}
		return fmt.Errorf("wallet: send %q (nonce %d): %w", r.Label, nonce, err)
	}
}

// nonceTaken reports a pool rejection meaning another transaction of ours
// holds the nonce (mined, or pooled at a price we do not beat).
func nonceTaken(err error) bool {
	return errors.Is(err, txpool.ErrNonceTooLow) || errors.Is(err, txpool.ErrReplaceUnderpriced) ||
		errors.Is(err, txpool.ErrAlreadyKnown)
}

func (w *Wallet) sign(r *request, nonce uint64, fees Fees) (*types.Transaction, error) {
	tx, err := types.SignNewTx(w.cfg.Key, w.signer, &types.DynamicFeeTx{
		ChainID: w.cfg.Chain.Config().ChainID, Nonce: nonce, GasTipCap: fees.Tip, GasFeeCap: fees.FeeCap,
		Gas: r.Gas, To: r.To, Value: r.Value, Data: r.Data,
	})
	if err != nil {
		return nil, fmt.Errorf("wallet: sign %q: %w", r.Label, err)
	}
	return tx, nil
}

// Run follows the chain's heads until ctx ends, then stops the wallet:
// Submit fails with ErrStopped and every handle still in flight resolves
// with ErrStopped. It returns nil on ctx's end, or the head subscription's
// error.
func (w *Wallet) Run(ctx context.Context) error {
	defer w.stop()
	// A head's work here sends transactions into the pool: the follower
	// never makes the chain wait on it and keeps only the newest head
	// (OnHead counts heads by number, so a skipped one costs nothing).
	heads := state.FollowHeads(w.cfg.Chain)
	defer heads.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-heads.Err():
			if err != nil {
				return fmt.Errorf("wallet: head subscription: %w", err)
			}
			return nil
		case h := <-heads.C:
			w.onHead(ctx, h)
			if w.headDone != nil {
				select {
				case w.headDone <- h.Number.Uint64():
				case <-ctx.Done():
					return nil
				}
			}
		}
	}
}

func (w *Wallet) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	for id, r := range w.reqs {
		r.h.resolve(nil, ErrStopped)
		delete(w.reqs, id)
	}
	w.tracker = NewTracker(w.cfg.Policy)
	w.m.InFlight.Set(0)
}

// onHead observes the chain and the pool for every transaction in flight,
// lets the tracker decide, and carries out its actions.
func (w *Wallet) onHead(ctx context.Context, head *types.Header) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	entries := w.tracker.Entries()
	if len(entries) == 0 {
		return
	}
	st, err := w.cfg.Chain.StateAt(head.Root)
	if err != nil {
		w.log.Error("wallet cannot read head state", "number", head.Number, "err", err)
		return
	}
	view := HeadView{
		Number: head.Number.Uint64(), StateNonce: st.GetNonce(w.addr),
		NextBaseFee: w.cfg.Chain.NextBaseFee(head), Txs: make(map[uint64]TxView, len(entries)),
	}
	receipts := make(map[common.Hash]*types.Receipt)
	for _, e := range entries {
		// Pool first, chain second: a transaction that leaves the pool
		// because it was mined is then seen mined, never dropped.
		tv := TxView{InPool: w.cfg.Pool.Has(e.Current())}
		for _, h := range e.Hashes {
			if r := w.receipt(h); r != nil {
				receipts[h] = r
				tv.Mined = &h
				break
			}
		}
		view.Txs[e.Nonce] = tv
	}
	for _, a := range w.tracker.OnHead(view) {
		w.apply(ctx, a, receipts[a.Hash], view.Number)
	}
	w.resyncLocked(view.StateNonce, "head")
	w.m.InFlight.Set(float64(w.tracker.Len()))
}

// resyncLocked moves the local nonce past nonces used by transactions the
// wallet did not send (in the chain's state or executable in the pool), and
// returns it.
func (w *Wallet) resyncLocked(stateNonce uint64, at string) uint64 {
	next := ResyncNonce(w.next, stateNonce, w.cfg.Pool.Nonce(w.addr))
	if next != w.next {
		w.log.Warn("wallet nonce gap: another sender used this key, re-synced", "at", at, "local_nonce", w.next,
			"state_nonce", stateNonce, "next_nonce", next)
		w.next = next
	}
	return next
}

// receipt returns the receipt of a mined transaction, nil if not mined.
func (w *Wallet) receipt(hash common.Hash) *types.Receipt {
	tx, blockHash, _, index := w.cfg.Chain.Transaction(hash)
	if tx == nil {
		return nil
	}
	rs := w.cfg.Chain.Receipts(blockHash)
	if index >= uint64(len(rs)) {
		return nil
	}
	return rs[index]
}

func (w *Wallet) apply(ctx context.Context, a Action, receipt *types.Receipt, head uint64) {
	r := w.reqs[a.ID]
	if r == nil {
		w.log.Error("wallet tracker names an unknown request", "id", a.ID, "action", a.Kind)
		return
	}
	switch a.Kind {
	case ActMined:
		delete(w.reqs, a.ID)
		if receipt.Status != types.ReceiptStatusSuccessful {
			w.m.Failed.Inc()
			w.log.Warn("wallet tx failed", "label", r.Label, "hash", a.Hash, "nonce", a.Nonce, "block", receipt.BlockNumber,
				"gas_used", receipt.GasUsed, "effective_gas_price", receipt.EffectiveGasPrice, "bumps", a.Bumps)
			r.h.resolve(receipt, fmt.Errorf("%w: %q %v in block %v", ErrReverted, r.Label, a.Hash, receipt.BlockNumber))
			return
		}
		w.m.Mined.Inc()
		w.log.Info("wallet tx mined", "label", r.Label, "hash", a.Hash, "nonce", a.Nonce, "block", receipt.BlockNumber,
			"gas_used", receipt.GasUsed, "effective_gas_price", receipt.EffectiveGasPrice, "bumps", a.Bumps)
		r.h.resolve(receipt, nil)
	case ActResubmit:
		err := w.cfg.Send(ctx, r.tx)
		if err != nil && !errors.Is(err, txpool.ErrAlreadyKnown) {
			// Mined meanwhile (nonce too low) or refused for now: the next
			// head looks again.
			w.log.Warn("wallet tx resubmit refused", "label", r.Label, "hash", a.Hash, "nonce", a.Nonce, "err", err)
			return
		}
		w.tracker.Resent(a.Nonce, head)
		w.m.Resubmitted.Inc()
		w.log.Info("wallet tx resubmitted", "label", r.Label, "hash", a.Hash, "nonce", a.Nonce,
			"fee_cap", a.Fees.FeeCap, "tip", a.Fees.Tip)
	case ActBump:
		tx, err := w.sign(r, a.Nonce, a.Fees)
		if err == nil {
			err = w.cfg.Send(ctx, tx)
		}
		if err != nil {
			w.log.Warn("wallet tx replacement refused", "label", r.Label, "hash", a.Hash, "nonce", a.Nonce,
				"fee_cap", a.Fees.FeeCap, "tip", a.Fees.Tip, "err", err)
			return
		}
		w.tracker.Replaced(a.Nonce, a.Fees, tx.Hash(), head)
		r.tx = tx
		w.m.Replaced.Inc()
		w.log.Info("wallet tx replaced", "label", r.Label, "hash", tx.Hash(), "replaces", a.Hash, "nonce", a.Nonce,
			"fee_cap", a.Fees.FeeCap, "tip", a.Fees.Tip)
	case ActStuck:
		w.log.Warn("wallet tx stuck at its highest fees", "label", r.Label, "hash", a.Hash, "nonce", a.Nonce,
			"fee_cap", a.Fees.FeeCap, "tip", a.Fees.Tip, "max_fee_cap", w.cfg.Policy.MaxFeeCapWei)
	case ActReassign:
		delete(w.reqs, a.ID)
		w.log.Warn("wallet tx nonce used by another transaction, sending with a new nonce", "label", r.Label,
			"hash", a.Hash, "nonce", a.Nonce)
		w.next = ResyncNonce(w.next, a.Nonce+1, 0)
		if err := w.sendNewLocked(ctx, r); err != nil {
			w.m.Failed.Inc()
			w.log.Error("wallet tx failed", "label", r.Label, "err", err)
			r.h.resolve(nil, err)
		}
	}
}

// Policy returns the fee policy the wallet prices its transactions with.
func (w *Wallet) Policy() Policy { return w.cfg.Policy }
