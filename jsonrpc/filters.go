package jsonrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

// Filter limits that are not configurable.
const (
	maxTopics         = 4     // topic positions (LOG0..LOG4)
	maxSubTopics      = 1000  // alternatives per topic position (geth)
	maxFilterAddrs    = 1000  // addresses per filter (geth's LogQueryLimit)
	maxFilterBacklog  = 10000 // undelivered items kept per polled filter
	subscriptionQueue = 128   // events buffered per subscription
)

// FilterCriteria is the parameter of eth_getLogs, eth_newFilter and the
// logs subscription. Decoding follows geth's eth/filters.FilterCriteria.
type FilterCriteria struct {
	BlockHash *common.Hash
	FromBlock *rpc.BlockNumber
	ToBlock   *rpc.BlockNumber
	Addresses []common.Address
	Topics    [][]common.Hash
}

// UnmarshalJSON accepts one address or a list, and topics as a list whose
// entries are null (any), one topic, or a list of alternatives.
func (args *FilterCriteria) UnmarshalJSON(data []byte) error {
	type input struct {
		BlockHash *common.Hash     `json:"blockHash"`
		FromBlock *rpc.BlockNumber `json:"fromBlock"`
		ToBlock   *rpc.BlockNumber `json:"toBlock"`
		Addresses any              `json:"address"`
		Topics    []any            `json:"topics"`
	}
	var raw input
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw.BlockHash != nil {
		if raw.FromBlock != nil || raw.ToBlock != nil {
			return errors.New("cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other")
		}
	}
	*args = FilterCriteria{BlockHash: raw.BlockHash, FromBlock: raw.FromBlock, ToBlock: raw.ToBlock}
	args.Addresses = []common.Address{}
	switch rawAddr := raw.Addresses.(type) {
	case nil:
	case []any:
		if len(rawAddr) > maxFilterAddrs {
			return ErrExceedMaxAddresses
		}
		for i, addr := range rawAddr {
			s, ok := addr.(string)
			if !ok {
				return fmt.Errorf("non-string address at index %d", i)
			}
			a, err := decodeAddress(s)
			if err != nil {
				return fmt.Errorf("invalid address at index %d: %v", i, err)
			}
			args.Addresses = append(args.Addresses, a)
		}
	case string:
		a, err := decodeAddress(rawAddr)
		if err != nil {
			return fmt.Errorf("invalid address: %v", err)
		}
		args.Addresses = []common.Address{a}
	default:
		return errors.New("invalid addresses in query")
	}
	if len(raw.Topics) > maxTopics {
		return ErrExceedMaxTopics
	}
	if len(raw.Topics) > 0 {
		args.Topics = make([][]common.Hash, len(raw.Topics))
		for i, t := range raw.Topics {
			switch topic := t.(type) {
			case nil:
			case string:
				h, err := decodeTopic(topic)
				if err != nil {
					return err
				}
				args.Topics[i] = []common.Hash{h}
			case []any:
				if len(topic) > maxSubTopics {
					return ErrExceedMaxTopics
				}
				for _, rawTopic := range topic {
					if rawTopic == nil {
						// A null alternative matches anything.
						args.Topics[i] = nil
						break
					}
					s, ok := rawTopic.(string)
					if !ok {
						return invalidParams("invalid topic(s)")
					}
					h, err := decodeTopic(s)
					if err != nil {
						return err
					}
					args.Topics[i] = append(args.Topics[i], h)
				}
			default:
				return invalidParams("invalid topic(s)")
			}
		}
	}
	return nil
}

func decodeAddress(s string) (common.Address, error) {
	b, err := hexutil.Decode(s)
	if err == nil && len(b) != common.AddressLength {
		err = fmt.Errorf("hex has invalid length %d after decoding; expected %d for address", len(b), common.AddressLength)
	}
	return common.BytesToAddress(b), err
}

func decodeTopic(s string) (common.Hash, error) {
	b, err := hexutil.Decode(s)
	if err == nil && len(b) != common.HashLength {
		err = fmt.Errorf("hex has invalid length %d after decoding; expected %d for topic", len(b), common.HashLength)
	}
	return common.BytesToHash(b), err
}

// filterKind is what a polled filter collects.
type filterKind int

const (
	blockFilter filterKind = iota
	pendingTxFilter
	logFilter
)

// filter is one installed eth_newFilter / eth_newBlockFilter /
// eth_newPendingTransactionFilter.
type filter struct {
	kind     filterKind
	crit     FilterCriteria
	lastPoll time.Time
	hashes   []common.Hash
	logs     []*types.Log
}

// filterAPI serves the polled filters, eth_getLogs and eth_subscribe. One
// goroutine (loop) feeds installed filters from the backend's events and
// expires filters not polled within Config.FilterTimeout.
type filterAPI struct {
	b   Backend
	cfg Config
	log *slog.Logger
	now func() time.Time // the clock for filter expiry; tests replace it

	mu      sync.Mutex
	filters map[rpc.ID]*filter

	subsMu sync.Mutex
	subs   int // active eth_subscribe subscriptions

	quit chan struct{}
	done chan struct{}
}

func newFilterAPI(b Backend, cfg Config, log *slog.Logger) *filterAPI {
	return &filterAPI{
		b: b, cfg: cfg, log: log, now: time.Now,
		filters: make(map[rpc.ID]*filter),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// start runs the event loop until stop.
func (api *filterAPI) start() {
	heads := make(chan ChainHeadEvent, subscriptionQueue)
	txs := make(chan []*types.Transaction, subscriptionQueue)
	headSub := api.b.SubscribeChainHead(heads)
	txSub := api.b.SubscribeNewTxs(txs)
	go func() {
		defer close(api.done)
		defer headSub.Unsubscribe()
		defer txSub.Unsubscribe()
		ticker := time.NewTicker(max(api.cfg.FilterTimeout/4, time.Second))
		defer ticker.Stop()
		for {
			select {
			case ev := <-heads:
				api.onHead(ev)
			case batch := <-txs:
				api.onTxs(batch)
			case <-ticker.C:
				api.expire()
			case <-headSub.Err():
				return
			case <-txSub.Err():
				return
			case <-api.quit:
				return
			}
		}
	}()
}

// stop ends the event loop and waits for it.
func (api *filterAPI) stop() {
	close(api.quit)
	<-api.done
}

func (api *filterAPI) onHead(ev ChainHeadEvent) {
	if ev.Block == nil {
		return
	}
	var logs []*types.Log
	for _, r := range ev.Receipts {
		logs = append(logs, r.Logs...)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	for _, f := range api.filters {
		switch f.kind {
		case blockFilter:
			f.hashes = appendBounded(f.hashes, ev.Block.Hash())
		case logFilter:
			for _, l := range filterLogs(logs, f.crit.Addresses, f.crit.Topics) {
				f.logs = appendBounded(f.logs, l)
			}
		}
	}
}

func (api *filterAPI) onTxs(txs []*types.Transaction) {
	api.mu.Lock()
	defer api.mu.Unlock()
	for _, f := range api.filters {
		if f.kind == pendingTxFilter {
			for _, tx := range txs {
				f.hashes = appendBounded(f.hashes, tx.Hash())
			}
		}
	}
}

// appendBounded appends v, dropping the oldest entry at maxFilterBacklog so
// an abandoned filter cannot grow without bound before it expires.
func appendBounded[T any](s []T, v T) []T {
	if len(s) >= maxFilterBacklog {
		s = slices.Delete(s, 0, 1)
	}
	return append(s, v)
}

// expire uninstalls filters not polled within Config.FilterTimeout.
func (api *filterAPI) expire() {
	now := api.now()
	api.mu.Lock()
	defer api.mu.Unlock()
	for id, f := range api.filters {
		if now.Sub(f.lastPoll) > api.cfg.FilterTimeout {
			delete(api.filters, id)
		}
	}
}

func (api *filterAPI) install(f *filter) (rpc.ID, error) {
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.filters) >= api.cfg.MaxFilters {
		return "", ErrTooManyFilters
	}
	f.lastPoll = api.now()
	id := rpc.NewID()
	api.filters[id] = f
	return id, nil
}

// NewBlockFilter installs a filter collecting new block hashes.
func (api *filterAPI) NewBlockFilter(ctx context.Context) (rpc.ID, error) {
	id, err := api.install(&filter{kind: blockFilter})
	return id, toRPCError(err)
}

// NewPendingTransactionFilter installs a filter collecting hashes of
// transactions entering the pool.
func (api *filterAPI) NewPendingTransactionFilter(ctx context.Context, fullTx *bool) (rpc.ID, error) {
	id, err := api.install(&filter{kind: pendingTxFilter})
	return id, toRPCError(err)
}

// NewFilter installs a log filter. Logs are collected from blocks committed
// after installation; fromBlock/toBlock matter for eth_getFilterLogs.
func (api *filterAPI) NewFilter(ctx context.Context, crit FilterCriteria) (rpc.ID, error) {
	if crit.BlockHash != nil {
		return "", toRPCError(ErrBlockHashWithRange)
	}
	id, err := api.install(&filter{kind: logFilter, crit: crit})
	return id, toRPCError(err)
}

// GetFilterChanges returns what a filter collected since the last poll:
// hashes for block and pending filters, logs for log filters.
func (api *filterAPI) GetFilterChanges(ctx context.Context, id rpc.ID) (any, error) {
	api.mu.Lock()
	defer api.mu.Unlock()
	f, ok := api.filters[id]
	if !ok {
		return []any{}, ErrFilterNotFound
	}
	f.lastPoll = api.now()
	switch f.kind {
	case logFilter:
		logs := f.logs
		f.logs = nil
		if logs == nil {
			logs = []*types.Log{}
		}
		return logs, nil
	default:
		hashes := f.hashes
		f.hashes = nil
		if hashes == nil {
			hashes = []common.Hash{}
		}
		return hashes, nil
	}
}

// GetFilterLogs runs a log filter's criteria as an eth_getLogs query.
func (api *filterAPI) GetFilterLogs(ctx context.Context, id rpc.ID) ([]*types.Log, error) {
	api.mu.Lock()
	f, ok := api.filters[id]
	if ok {
		f.lastPoll = api.now()
	}
	api.mu.Unlock()
	if !ok || f.kind != logFilter {
		return nil, ErrFilterNotFound
	}
	return api.GetLogs(ctx, f.crit)
}

// UninstallFilter removes a filter; false if it did not exist.
func (api *filterAPI) UninstallFilter(ctx context.Context, id rpc.ID) (bool, error) {
	api.mu.Lock()
	defer api.mu.Unlock()
	_, ok := api.filters[id]
	delete(api.filters, id)
	return ok, nil
}

// GetLogs returns the logs matching crit in one block (blockHash) or a
// range of at most Config.LogBlockRange blocks, at most
// Config.LogResultLimit logs.
func (api *filterAPI) GetLogs(ctx context.Context, crit FilterCriteria) ([]*types.Log, error) {
	logs, err := api.logs(ctx, crit)
	if err != nil {
		return nil, toRPCError(err)
	}
	if logs == nil {
		logs = []*types.Log{}
	}
	return logs, nil
}

func (api *filterAPI) logs(ctx context.Context, crit FilterCriteria) ([]*types.Log, error) {
	if len(crit.Topics) > maxTopics {
		return nil, ErrExceedMaxTopics
	}
	if crit.BlockHash != nil {
		if crit.FromBlock != nil || crit.ToBlock != nil {
			return nil, ErrBlockHashWithRange
		}
		header := api.b.HeaderByHash(*crit.BlockHash)
		if header == nil {
			return nil, ErrUnknownBlock
		}
		var out []*types.Log
		return api.blockLogs(header, crit, out)
	}
	head := api.b.CurrentHeader().Number.Uint64()
	resolve := func(n *rpc.BlockNumber) (uint64, error) {
		if n == nil {
			return head, nil
		}
		v, ok := resolveNumber(api.b, *n)
		if !ok {
			return 0, errors.New("negative block number")
		}
		return v, nil
	}
	begin, err := resolve(crit.FromBlock)
	if err != nil {
		return nil, err
	}
	end, err := resolve(crit.ToBlock)
	if err != nil {
		return nil, err
	}
	if begin > end {
		return nil, ErrInvalidBlockRange
	}
	if end > head {
		return nil, ErrBlockRangeIntoFuture
	}
	if api.cfg.LogBlockRange != 0 && end-begin > api.cfg.LogBlockRange {
		return nil, fmt.Errorf("%w %d", ErrBlockRangeTooLarge, api.cfg.LogBlockRange)
	}
	var out []*types.Log
	for n := begin; n <= end; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		header := api.b.HeaderByNumber(n)
		if header == nil {
			break
		}
		if out, err = api.blockLogs(header, crit, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// blockLogs appends the logs of header's block matching crit to out,
// skipping the receipts when the header bloom rules the block out.
func (api *filterAPI) blockLogs(header *types.Header, crit FilterCriteria, out []*types.Log) ([]*types.Log, error) {
	if !bloomFilter(header.Bloom, crit.Addresses, crit.Topics) {
		return out, nil
	}
	for _, r := range api.b.Receipts(header.Hash()) {
		for _, l := range filterLogs(r.Logs, crit.Addresses, crit.Topics) {
			if api.cfg.LogResultLimit > 0 && len(out) >= api.cfg.LogResultLimit {
				return nil, fmt.Errorf("%w (max %d)", ErrTooManyLogs, api.cfg.LogResultLimit)
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// bloomFilter reports whether bloom may contain logs matching the criteria.
func bloomFilter(bloom types.Bloom, addresses []common.Address, topics [][]common.Hash) bool {
	if len(addresses) > 0 {
		var included bool
		for _, addr := range addresses {
			if types.BloomLookup(bloom, addr) {
				included = true
				break
			}
		}
		if !included {
			return false
		}
	}
	for _, sub := range topics {
		included := len(sub) == 0 // empty rule set == wildcard
		for _, topic := range sub {
			if types.BloomLookup(bloom, topic) {
				included = true
				break
			}
		}
		if !included {
			return false
		}
	}
	return true
}

// filterLogs returns the logs matching addresses and topics.
func filterLogs(logs []*types.Log, addresses []common.Address, topics [][]common.Hash) []*types.Log {
	var ret []*types.Log
	for _, l := range logs {
		if len(addresses) > 0 && !slices.Contains(addresses, l.Address) {
			continue
		}
		if len(topics) > len(l.Topics) {
			continue
		}
		match := true
		for i, sub := range topics {
			if len(sub) == 0 {
				continue
			}
			if !slices.Contains(sub, l.Topics[i]) {
				match = false
				break
			}
		}
		if match {
			ret = append(ret, l)
		}
	}
	return ret
}

// reserveSubscription counts a new eth_subscribe against Config.MaxSubscriptions.
func (api *filterAPI) reserveSubscription() error {
	api.subsMu.Lock()
	defer api.subsMu.Unlock()
	if api.subs >= api.cfg.MaxSubscriptions {
		return &codedError{err: fmt.Errorf("%w: too many subscriptions", ErrLimitExceeded), code: codeLimitExceeded}
	}
	api.subs++
	return nil
}

func (api *filterAPI) releaseSubscription() {
	api.subsMu.Lock()
	api.subs--
	api.subsMu.Unlock()
}

// subscribe starts a subscription that forwards backend events through
// handle until the client unsubscribes or disconnects.
func subscribe[T any](api *filterAPI, ctx context.Context, feed func(chan<- T) interface {
	Unsubscribe()
	Err() <-chan error
}, handle func(notifier *rpc.Notifier, id rpc.ID, ev T)) (*rpc.Subscription, error) {
	notifier, supported := rpc.NotifierFromContext(ctx)
	if !supported {
		return &rpc.Subscription{}, rpc.ErrNotificationsUnsupported
	}
	if err := api.reserveSubscription(); err != nil {
		return nil, err
	}
	rpcSub := notifier.CreateSubscription()
	ch := make(chan T, subscriptionQueue)
	sub := feed(ch)
	go func() {
		defer api.releaseSubscription()
		defer sub.Unsubscribe()
		for {
			select {
			case ev := <-ch:
				handle(notifier, rpcSub.ID, ev)
			case <-rpcSub.Err():
				return
			case <-sub.Err():
				return
			case <-api.quit:
				return
			}
		}
	}()
	return rpcSub, nil
}

type feedSub = interface {
	Unsubscribe()
	Err() <-chan error
}

// NewHeads is eth_subscribe("newHeads"): one header per new block.
func (api *filterAPI) NewHeads(ctx context.Context) (*rpc.Subscription, error) {
	return subscribe(api, ctx, func(ch chan<- ChainHeadEvent) feedSub { return api.b.SubscribeChainHead(ch) },
		func(n *rpc.Notifier, id rpc.ID, ev ChainHeadEvent) {
			if ev.Block != nil {
				_ = n.Notify(id, marshalHeader(ev.Block.Header()))
			}
		})
}

// Logs is eth_subscribe("logs", crit): each matching log of new blocks.
func (api *filterAPI) Logs(ctx context.Context, crit FilterCriteria) (*rpc.Subscription, error) {
	// Like geth, a live subscription ignores fromBlock/toBlock but cannot
	// be pinned to one block.
	if crit.BlockHash != nil {
		return nil, toRPCError(ErrBlockHashWithRange)
	}
	return subscribe(api, ctx, func(ch chan<- ChainHeadEvent) feedSub { return api.b.SubscribeChainHead(ch) },
		func(n *rpc.Notifier, id rpc.ID, ev ChainHeadEvent) {
			for _, r := range ev.Receipts {
				for _, l := range filterLogs(r.Logs, crit.Addresses, crit.Topics) {
					_ = n.Notify(id, l)
				}
			}
		})
}

// NewPendingTransactions is eth_subscribe("newPendingTransactions"[, true]):
// hashes (or full transactions) entering the pool.
func (api *filterAPI) NewPendingTransactions(ctx context.Context, fullTx *bool) (*rpc.Subscription, error) {
	full := fullTx != nil && *fullTx
	return subscribe(api, ctx, func(ch chan<- []*types.Transaction) feedSub { return api.b.SubscribeNewTxs(ch) },
		func(n *rpc.Notifier, id rpc.ID, txs []*types.Transaction) {
			for _, tx := range txs {
				if full {
					_ = n.Notify(id, newRPCPendingTransaction(tx, api.b.CurrentHeader(), api.b.ChainConfig()))
				} else {
					_ = n.Notify(id, tx.Hash())
				}
			}
		})
}
