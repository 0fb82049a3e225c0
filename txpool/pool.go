package txpool

import (
	"container/heap"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"slices"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// Chain is the pool's whole view of the blockchain.
type Chain interface {
	// Head returns the current head header: its state root, gas limit, base
	// fee and number.
	Head() *types.Header
	// StateAt opens the state with the given root for reading.
	StateAt(root common.Hash) (State, error)
}

// State is the account state the pool reads. go-ethereum's *state.StateDB
// satisfies it. It need not be safe for concurrent use, and a StateDB is
// not, even for reads only: loading an account writes the StateDB's object
// cache. The pool therefore never calls a State from two goroutines at once
// (see Pool.stateMu).
type State interface {
	GetNonce(addr common.Address) uint64
	GetBalance(addr common.Address) *uint256.Int
}

// Pool is the transaction pool. All methods are safe for concurrent use.
type Pool struct {
	cfg    Config
	chain  Chain
	signer types.Signer
	clock  Clock
	log    *slog.Logger
	m      *Metrics

	mu         sync.RWMutex
	head       *types.Header
	state      State // read only through stateNonce and stateBalance
	rules      params.Rules
	baseFee    *big.Int     // base fee of the next block: admission floor
	baseFee256 *uint256.Int // the same, for the price heap
	accounts   map[common.Address]*account
	all        map[common.Hash]*txEntry
	prices     priceHeap
	numPending int
	numQueued  int
	numSlots   int
	seq        uint64
	closed     bool
	evictTimer mclock.Timer

	// stateMu serialises every call into state. Holding mu for writing
	// already excludes all other readers, but Nonce reads state under the
	// read lock, from as many goroutines as there are RPC clients asking
	// eth_getTransactionCount(addr, "pending"); without stateMu their
	// concurrent StateDB reads crash the process ("concurrent map writes").
	// Lock order: mu, then stateMu.
	stateMu sync.Mutex

	subMu   sync.Mutex
	subs    map[uint64]chan<- []*types.Transaction
	nextSub uint64
}

// New creates a pool on chain's current head and starts the stale-queue
// timer on clock. It fails if the head's state cannot be opened.
func New(cfg Config, chain Chain, signer types.Signer, clock Clock, log *slog.Logger) (*Pool, error) {
	cfg = cfg.Sanitize()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pool{
		cfg:      cfg,
		chain:    chain,
		signer:   signer,
		clock:    clock,
		log:      log.With("component", "txpool"),
		m:        cfg.Metrics,
		accounts: make(map[common.Address]*account),
		all:      make(map[common.Hash]*txEntry),
		subs:     make(map[uint64]chan<- []*types.Transaction),
	}
	if err := p.Reset(chain.Head()); err != nil {
		return nil, fmt.Errorf("txpool: open head state: %w", err)
	}
	p.mu.Lock()
	p.evictTimer = clock.AfterFunc(cfg.EvictionInterval, p.evictTick)
	p.mu.Unlock()
	p.log.Info("transaction pool started", "config", cfg.String())
	return p, nil
}

// Close stops the eviction timer and drops all subscriptions. Add fails
// with ErrClosed afterwards; reads keep working.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	if p.evictTimer != nil {
		p.evictTimer.Stop()
	}
	p.mu.Unlock()
	p.subMu.Lock()
	clear(p.subs)
	p.subMu.Unlock()
}

// Add validates and inserts txs, returning one error per transaction (nil
// when admitted). local marks transactions submitted by this node's own
// user (RPC): they are never evicted for price or staleness. Transactions
// that become executable are announced to subscribers after the lock is
// released.
func (p *Pool) Add(txs []*types.Transaction, local bool) []error {
	errs := make([]error, len(txs))
	type checked struct {
		from        common.Address
		feeCap, tip *uint256.Int
	}
	ok := make([]checked, len(txs))

	// Stateless checks, signature recovery included, run without the lock.
	p.mu.RLock()
	head, rules, closed := p.head, p.rules, p.closed
	p.mu.RUnlock()
	for i, tx := range txs {
		switch {
		case closed:
			errs[i] = ErrClosed
		case tx == nil:
			errs[i] = fmt.Errorf("%w: nil transaction", ErrInvalidSender)
		case p.Has(tx.Hash()):
			errs[i] = ErrAlreadyKnown
		default:
			ok[i].from, ok[i].feeCap, ok[i].tip, errs[i] = validateTx(tx, head, &rules, p.signer, &p.cfg)
		}
	}

	var promoted []*types.Transaction
	p.mu.Lock()
	for i, tx := range txs {
		if errs[i] != nil {
			continue
		}
		if p.closed {
			errs[i] = ErrClosed
			continue
		}
		var newly []*types.Transaction
		newly, errs[i] = p.add(tx, ok[i].from, ok[i].feeCap, ok[i].tip, local)
		promoted = append(promoted, newly...)
	}
	p.updateGauges()
	p.mu.Unlock()

	for _, err := range errs {
		if err != nil {
			p.m.Rejected.WithLabelValues(reasonOf(err)).Inc()
		}
	}
	p.notify(promoted)
	return errs
}

// Get returns the pooled transaction with the given hash, or nil.
func (p *Pool) Get(hash common.Hash) *types.Transaction {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if e := p.all[hash]; e != nil {
		return e.tx
	}
	return nil
}

// Has reports whether a transaction with the given hash is pooled.
func (p *Pool) Has(hash common.Hash) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.all[hash] != nil
}

// Nonce returns the next nonce of addr counting executable pool
// transactions: the answer to eth_getTransactionCount(addr, "pending").
func (p *Pool) Nonce(addr common.Address) uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if a := p.accounts[addr]; a != nil {
		return a.next()
	}
	return p.stateNonce(addr)
}

// Stats returns the number of pending (executable) and queued (future)
// transactions: txpool_status.
func (p *Pool) Stats() (pending, queued int) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.numPending, p.numQueued
}

// Content returns every pooled transaction, per sender and sorted by nonce,
// split into pending and queued: txpool_content and txpool_inspect key the
// lists by nonce for display.
func (p *Pool) Content() (pending, queued map[common.Address][]*types.Transaction) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pending = make(map[common.Address][]*types.Transaction)
	queued = make(map[common.Address][]*types.Transaction)
	for addr, a := range p.accounts {
		if len(a.pending) > 0 {
			pending[addr] = entryTxs(a.pending)
		}
		if len(a.queued) > 0 {
			queued[addr] = sortedQueued(a)
		}
	}
	return pending, queued
}

// ContentFrom returns addr's pending and queued transactions, sorted by nonce.
func (p *Pool) ContentFrom(addr common.Address) (pending, queued []*types.Transaction) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	a := p.accounts[addr]
	if a == nil {
		return nil, nil
	}
	return entryTxs(a.pending), sortedQueued(a)
}

// Pending returns every account's executable transactions in nonce order.
// With a non-nil baseFee each list stops before the first transaction whose
// fee cap is under it (it and its successors cannot be included yet).
func (p *Pool) Pending(baseFee *big.Int) map[common.Address][]*types.Transaction {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[common.Address][]*types.Transaction, len(p.accounts))
	for addr, a := range p.accounts {
		n := len(a.pending)
		if baseFee != nil {
			for i, e := range a.pending {
				if e.tx.GasFeeCapIntCmp(baseFee) < 0 {
					n = i
					break
				}
			}
		}
		if n > 0 {
			out[addr] = entryTxs(a.pending[:n])
		}
	}
	return out
}

// SubscribeNewTxs registers ch to receive, in batches, transactions that
// become executable (newPendingTransactions). Delivery never blocks the
// pool: when ch is full the batch is dropped for that subscriber and
// counted in Metrics.EventsDropped, so give ch a buffer. The returned func
// unsubscribes; it is safe to call more than once.
func (p *Pool) SubscribeNewTxs(ch chan<- []*types.Transaction) (unsubscribe func()) {
	p.subMu.Lock()
	id := p.nextSub
	p.nextSub++
	p.subs[id] = ch
	p.subMu.Unlock()
	return func() {
		p.subMu.Lock()
		delete(p.subs, id)
		p.subMu.Unlock()
	}
}

// Reset moves the pool to newHead after a block is committed: transactions
// whose nonce the state has passed are dropped (mined or replaced in the
// block), as are those now beyond the sender's balance or the block gas
// limit; an executable transaction dropped that way sends its successors
// back to the queue; queued ones that became executable are promoted.
// Transactions whose fee cap fell under the new base fee stay pending (geth
// does the same); the block builder skips them until the base fee drops.
func (p *Pool) Reset(newHead *types.Header) error {
	st, err := p.chain.StateAt(newHead.Root)
	if err != nil {
		return fmt.Errorf("txpool: state at %v (block %v): %w", newHead.Root, newHead.Number, err)
	}
	p.mu.Lock()
	if p.head != nil && newHead.Number.Cmp(p.head.Number) < 0 {
		// A slower concurrent Reset to an older head (the state was opened
		// outside the lock): the chain is final, heads only grow, so the
		// newer head already applied wins.
		p.mu.Unlock()
		return nil
	}
	p.head = newHead
	p.state = st
	p.rules = p.cfg.rulesFor(newHead)
	p.baseFee = p.cfg.nextBaseFee(newHead)
	p.baseFee256, _ = uint256.FromBig(p.baseFee)

	var promoted []*types.Transaction
	for addr, a := range p.accounts {
		promoted = append(promoted, p.resetAccount(addr, a)...)
	}
	p.prices.baseFee = p.baseFee256
	heap.Init(&p.prices)
	p.truncateQueue(common.Address{}, p.cfg.GlobalQueue)
	p.updateGauges()
	p.mu.Unlock()

	p.notify(promoted)
	return nil
}

// add inserts one statelessly valid transaction. Caller holds p.mu.
func (p *Pool) add(tx *types.Transaction, from common.Address, feeCap, tip *uint256.Int, local bool) ([]*types.Transaction, error) {
	hash := tx.Hash()
	if p.all[hash] != nil {
		return nil, ErrAlreadyKnown
	}
	if tx.Gas() > p.head.GasLimit {
		return nil, fmt.Errorf("%w: gas %v, block gas limit %v", ErrGasLimit, tx.Gas(), p.head.GasLimit)
	}
	if tx.GasFeeCapIntCmp(p.baseFee) < 0 {
		return nil, fmt.Errorf("%w: address %v, maxFeePerGas: %s, baseFee: %s", ErrFeeCapTooLow, from.Hex(), tx.GasFeeCap(), p.baseFee)
	}
	a := p.accounts[from]
	stateNonce := uint64(0)
	if a != nil {
		stateNonce = a.nonce
	} else {
		stateNonce = p.stateNonce(from)
	}
	if tx.Nonce() < stateNonce {
		return nil, fmt.Errorf("%w: next nonce %v, tx nonce %v", ErrNonceTooLow, stateNonce, tx.Nonce())
	}
	balance := p.stateBalance(from)
	cost := tx.Cost()
	if balance.Cmp(cost) < 0 {
		return nil, fmt.Errorf("%w: balance %v, tx cost %v, overshot %v", ErrInsufficientFunds, balance, cost, new(big.Int).Sub(cost, balance))
	}
	spent := new(big.Int)
	if a != nil {
		spent.Set(a.spent)
	}
	e := &txEntry{
		tx: tx, hash: hash, from: from, nonce: tx.Nonce(),
		feeCap: feeCap, tip: tip, cost: cost, slots: numSlots(tx),
		local: local, heapIdx: -1,
	}

	var old *txEntry
	if a != nil {
		old = a.get(e.nonce)
	}
	if old != nil {
		if !replaces(old.tx, tx, p.cfg.PriceBump) {
			return nil, fmt.Errorf("%w: fee cap %v tip %v, existing fee cap %v tip %v, bump %d%%", ErrReplaceUnderpriced,
				tx.GasFeeCap(), tx.GasTipCap(), old.tx.GasFeeCap(), old.tx.GasTipCap(), p.cfg.PriceBump)
		}
		bump := new(big.Int).Sub(cost, old.cost)
		need := new(big.Int).Add(spent, bump)
		if balance.Cmp(need) < 0 {
			return nil, fmt.Errorf("%w: balance %v, queued cost %v, tx bumped %v, overshot %v", ErrInsufficientFunds, balance, spent, bump, new(big.Int).Sub(need, balance))
		}
		if grow := e.slots - old.slots; grow > 0 && p.numSlots+grow > p.cfg.GlobalSlots {
			if err := p.makeRoom(e, p.numSlots+grow-p.cfg.GlobalSlots); err != nil {
				return nil, err
			}
		}
		p.replace(a, old, e)
		if e.pending {
			return []*types.Transaction{tx}, nil
		}
		return nil, nil
	}

	need := new(big.Int).Add(spent, cost)
	if balance.Cmp(need) < 0 {
		return nil, fmt.Errorf("%w: balance %v, queued cost %v, tx cost %v, overshot %v", ErrInsufficientFunds, balance, spent, cost, new(big.Int).Sub(need, balance))
	}
	next := stateNonce
	if a != nil {
		next = a.next()
	}
	executable := e.nonce == next
	if a != nil {
		if executable && len(a.pending) >= p.cfg.AccountSlots {
			return nil, fmt.Errorf("%w: %d pending txs", ErrAccountLimitExceeded, len(a.pending))
		}
		if !executable && len(a.queued) >= p.cfg.AccountQueue {
			return nil, fmt.Errorf("%w: %d queued txs", ErrAccountLimitExceeded, len(a.queued))
		}
	}
	// Capacity. Neither the queue truncation nor the price eviction touches
	// the sender's own transactions, so next and executable stay valid.
	if !executable && p.numQueued >= p.cfg.GlobalQueue {
		p.truncateQueue(from, p.cfg.GlobalQueue-1)
		if p.numQueued >= p.cfg.GlobalQueue {
			return nil, fmt.Errorf("%w: %d queued txs", ErrPoolFull, p.numQueued)
		}
	}
	if p.numSlots+e.slots > p.cfg.GlobalSlots {
		if err := p.makeRoom(e, p.numSlots+e.slots-p.cfg.GlobalSlots); err != nil {
			return nil, err
		}
	}

	if a == nil {
		a = newAccount(stateNonce, p.clock.Now())
		p.accounts[from] = a
	}
	p.seq++
	e.seq = p.seq
	p.insert(a, e)
	a.beat = p.clock.Now()
	if !executable {
		p.m.Added.WithLabelValues("queued").Inc()
		return nil, nil
	}
	p.m.Added.WithLabelValues("pending").Inc()
	return append([]*types.Transaction{tx}, p.promote(a)...), nil
}

// insert adds e to a's lists and the pool's indexes. e.nonce is either
// a.next() (pending) or above it (queued).
func (p *Pool) insert(a *account, e *txEntry) {
	if e.nonce == a.next() && len(a.pending) < p.cfg.AccountSlots {
		e.pending = true
		a.pending = append(a.pending, e)
		p.numPending++
	} else {
		e.pending = false
		a.queued[e.nonce] = e
		p.numQueued++
	}
	a.spent.Add(a.spent, e.cost)
	p.all[e.hash] = e
	p.numSlots += e.slots
	if !e.local {
		heap.Push(&p.prices, e)
	}
}

// replace swaps old for e in place (same sender and nonce).
func (p *Pool) replace(a *account, old, e *txEntry) {
	p.forget(a, old)
	p.m.Replaced.Inc()
	p.seq++
	e.seq = p.seq
	if old.pending {
		e.pending = true
		a.pending[e.nonce-a.nonce] = e
		p.numPending++
	} else {
		a.queued[e.nonce] = e
		p.numQueued++
	}
	a.spent.Add(a.spent, e.cost)
	p.all[e.hash] = e
	p.numSlots += e.slots
	if !e.local {
		heap.Push(&p.prices, e)
	}
	a.beat = p.clock.Now()
}

// promote moves a's queued transactions that the pending run now reaches
// into pending, and returns them.
func (p *Pool) promote(a *account) []*types.Transaction {
	var out []*types.Transaction
	for len(a.pending) < p.cfg.AccountSlots {
		e := a.queued[a.next()]
		if e == nil {
			break
		}
		delete(a.queued, e.nonce)
		e.pending = true
		a.pending = append(a.pending, e)
		p.numQueued--
		p.numPending++
		out = append(out, e.tx)
	}
	if len(out) > 0 {
		a.beat = p.clock.Now()
	}
	return out
}

// forget removes e from the pool's indexes and counters but not from a's
// lists: the caller fixes those. Caller holds p.mu.
func (p *Pool) forget(a *account, e *txEntry) {
	delete(p.all, e.hash)
	if e.heapIdx >= 0 {
		heap.Remove(&p.prices, e.heapIdx)
	}
	if e.pending {
		p.numPending--
	} else {
		p.numQueued--
	}
	p.numSlots -= e.slots
	a.spent.Sub(a.spent, e.cost)
}

// remove drops e entirely. A pending e sends its successors back to the
// queue (they are no longer executable); the account queue limit is then
// re-applied.
func (p *Pool) remove(e *txEntry, reason string) {
	a := p.accounts[e.from]
	p.forget(a, e)
	p.m.Dropped.WithLabelValues(reason).Inc()
	if e.pending {
		i := int(e.nonce - a.nonce)
		for _, s := range a.pending[i+1:] {
			s.pending = false
			a.queued[s.nonce] = s
			p.numPending--
			p.numQueued++
		}
		clear(a.pending[i:])
		a.pending = a.pending[:i]
		for len(a.queued) > p.cfg.AccountQueue {
			p.remove(a.highestQueued(false), "truncated")
		}
	} else {
		delete(a.queued, e.nonce)
	}
	if a.empty() {
		delete(p.accounts, e.from)
	}
}

// makeRoom frees at least need slots by evicting the cheapest remote
// transactions of other senders, each of which must pay strictly less than
// e (unless e is local). Nothing is evicted when that is impossible.
func (p *Pool) makeRoom(e *txEntry, need int) error {
	var victims, skipped []*txEntry
	freed := 0
	for freed < need && p.prices.Len() > 0 {
		v := heap.Pop(&p.prices).(*txEntry)
		if v.from == e.from {
			skipped = append(skipped, v)
			continue
		}
		if !e.local && cmpPrice(e, v, p.baseFee256) <= 0 {
			victims = append(victims, v)
			break
		}
		victims = append(victims, v)
		freed += v.slots
	}
	for _, v := range skipped {
		heap.Push(&p.prices, v)
	}
	if freed < need {
		for _, v := range victims {
			heap.Push(&p.prices, v)
		}
		return fmt.Errorf("%w: %d slots in use", ErrPoolFull, p.numSlots)
	}
	for _, v := range victims {
		if p.all[v.hash] != v {
			continue // already gone: truncated with an earlier victim's account
		}
		p.log.Debug("evicting underpriced transaction", "hash", v.hash, "from", v.from, "nonce", v.nonce)
		p.remove(v, "evicted")
	}
	return nil
}

// truncateQueue drops queued remote transactions, highest nonce first from
// the longest-idle account (never keep's), until at most limit remain.
func (p *Pool) truncateQueue(keep common.Address, limit int) {
	for p.numQueued > limit {
		var (
			victim *txEntry
			oldest mclock.AbsTime
		)
		for addr, a := range p.accounts {
			if addr == keep || len(a.queued) == 0 {
				continue
			}
			if victim != nil && a.beat >= oldest {
				continue
			}
			if e := a.highestQueued(true); e != nil {
				victim, oldest = e, a.beat
			}
		}
		if victim == nil {
			return
		}
		p.remove(victim, "truncated")
	}
}

// resetAccount re-derives a's lists against the new state.
func (p *Pool) resetAccount(addr common.Address, a *account) []*types.Transaction {
	nonce := p.stateNonce(addr)
	balance := p.stateBalance(addr)
	kept := make(map[uint64]*txEntry, len(a.pending)+len(a.queued))
	wasPending := make(map[common.Hash]bool, len(a.pending))
	drop := func(e *txEntry, reason string) {
		p.forget(a, e)
		p.m.Dropped.WithLabelValues(reason).Inc()
	}
	for _, list := range [][]*txEntry{a.pending, slices.Collect(maps.Values(a.queued))} {
		for _, e := range list {
			switch {
			case e.nonce < nonce:
				drop(e, "mined")
			case e.cost.Cmp(balance) > 0 || e.tx.Gas() > p.head.GasLimit:
				drop(e, "unaffordable")
			default:
				if e.pending {
					wasPending[e.hash] = true
					e.pending = false
					p.numPending--
					p.numQueued++
				}
				kept[e.nonce] = e
			}
		}
	}
	a.nonce = nonce
	clear(a.pending)
	a.pending = a.pending[:0]
	a.queued = kept
	var out []*types.Transaction
	for _, tx := range p.promote(a) {
		if !wasPending[tx.Hash()] {
			out = append(out, tx)
		}
	}
	for len(a.queued) > p.cfg.AccountQueue {
		p.remove(a.highestQueued(false), "truncated")
	}
	if a.empty() {
		delete(p.accounts, addr)
	}
	return out
}

// evictTick runs on the clock's timer: drop stale queues, re-arm.
func (p *Pool) evictTick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.evictStale()
	p.updateGauges()
	p.evictTimer = p.clock.AfterFunc(p.cfg.EvictionInterval, p.evictTick)
}

// evictStale drops the remote queued transactions of every account idle for
// at least Lifetime. Caller holds p.mu.
func (p *Pool) evictStale() {
	now := p.clock.Now()
	for _, a := range p.accounts {
		if len(a.queued) == 0 || now.Sub(a.beat) < p.cfg.Lifetime {
			continue
		}
		for _, e := range a.queued {
			if !e.local {
				p.log.Debug("evicting stale queued transaction", "hash", e.hash, "from", e.from, "nonce", e.nonce)
				p.remove(e, "stale")
			}
		}
	}
}

// notify sends txs to every subscriber without blocking.
func (p *Pool) notify(txs []*types.Transaction) {
	if len(txs) == 0 {
		return
	}
	p.subMu.Lock()
	defer p.subMu.Unlock()
	for _, ch := range p.subs {
		select {
		case ch <- txs:
		default:
			p.m.EventsDropped.Inc()
		}
	}
}

// stateNonce reads addr's nonce from the head state. Caller holds p.mu
// (either mode).
func (p *Pool) stateNonce(addr common.Address) uint64 {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	return p.state.GetNonce(addr)
}

// stateBalance reads addr's balance from the head state, as a copy the
// caller may keep. Caller holds p.mu (either mode).
func (p *Pool) stateBalance(addr common.Address) *big.Int {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	return p.state.GetBalance(addr).ToBig()
}

func (p *Pool) updateGauges() {
	p.m.Pending.Set(float64(p.numPending))
	p.m.Queued.Set(float64(p.numQueued))
	p.m.Slots.Set(float64(p.numSlots))
}

func entryTxs(es []*txEntry) []*types.Transaction {
	out := make([]*types.Transaction, len(es))
	for i, e := range es {
		out[i] = e.tx
	}
	return out
}

func sortedQueued(a *account) []*types.Transaction {
	es := slices.Collect(maps.Values(a.queued))
	slices.SortFunc(es, func(x, y *txEntry) int {
		switch {
		case x.nonce < y.nonce:
			return -1
		case x.nonce > y.nonce:
			return 1
		}
		return 0
	})
	return entryTxs(es)
}
