package loadgen

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

// Config describes one load run.
type Config struct {
	// Endpoints are JSON-RPC HTTP URLs; senders are spread over them.
	Endpoints []string
	// Funder pays for the sender accounts' balances.
	Funder *ecdsa.PrivateKey
	// Accounts is the number of sender accounts.
	Accounts int
	// Rate is the offered load in tx/s across all senders (0: as fast as
	// possible, bounded by MaxInflight per account).
	Rate float64
	// Duration is how long transactions are offered.
	Duration time.Duration
	// Drain is how long to wait after Duration for outstanding transactions.
	Drain time.Duration
	// FeeCapWei and TipWei are the explicit fee policy of every transfer.
	FeeCapWei *big.Int
	TipWei    *big.Int
	// MaxInflight bounds each account's sent-but-uncommitted transactions.
	MaxInflight int
	// Seed derives the sender keys, so reruns reuse funded accounts.
	Seed string
}

// Report is the outcome of a run.
type Report struct {
	Offered     float64        `json:"offeredTps"`
	Sent        int            `json:"sent"`
	Rejected    int            `json:"rejected"`
	Committed   int            `json:"committed"`
	Lost        int            `json:"uncommitted"`
	Window      time.Duration  `json:"window"`
	SubmitTPS   float64        `json:"submitTps"`
	CommitTPS   float64        `json:"sustainedTps"`
	P50         time.Duration  `json:"p50"`
	P95         time.Duration  `json:"p95"`
	P99         time.Duration  `json:"p99"`
	Max         time.Duration  `json:"max"`
	Blocks      int            `json:"blocks"`
	MaxBlockTxs int            `json:"maxBlockTxs"`
	Errors      map[string]int `json:"errors,omitempty"`
}

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "offered:        %.0f tx/s (0 = as fast as possible)\n", r.Offered)
	fmt.Fprintf(&b, "sent:           %d (%.0f tx/s), rejected %d\n", r.Sent, r.SubmitTPS, r.Rejected)
	fmt.Fprintf(&b, "committed:      %d in %s, uncommitted %d\n", r.Committed, r.Window.Round(time.Millisecond), r.Lost)
	fmt.Fprintf(&b, "sustained TPS:  %.0f\n", r.CommitTPS)
	fmt.Fprintf(&b, "latency:        p50 %s  p95 %s  p99 %s  max %s (submit → commit seen)\n",
		r.P50.Round(time.Millisecond), r.P95.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Max.Round(time.Millisecond))
	fmt.Fprintf(&b, "blocks:         %d (max %d txs)\n", r.Blocks, r.MaxBlockTxs)
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "error x%d: %s\n", r.Errors[k], k)
	}
	return b.String()
}

type sender struct {
	key    *ecdsa.PrivateKey
	addr   common.Address
	client *ethclient.Client
	nonce  uint64
	slots  chan struct{} // in-flight bound
}

type tracker struct {
	mu        sync.Mutex
	submitted map[common.Hash]time.Time
	slots     map[common.Hash]chan struct{}
	latencies []time.Duration
	firstSend time.Time
	lastSeen  time.Time
	blocks    int
	maxTxs    int
}

// Run executes the load described by cfg.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (*Report, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("loadgen: no endpoints")
	}
	if cfg.Accounts <= 0 || cfg.Duration <= 0 || cfg.Funder == nil {
		return nil, errors.New("loadgen: accounts, duration and funder are required")
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 256
	}
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}}
	clients := make([]*ethclient.Client, len(cfg.Endpoints))
	for i, ep := range cfg.Endpoints {
		rc, err := rpc.DialOptions(ctx, ep, rpc.WithHTTPClient(httpClient))
		if err != nil {
			return nil, fmt.Errorf("loadgen: dial %s: %w", ep, err)
		}
		defer rc.Close()
		clients[i] = ethclient.NewClient(rc)
	}
	chainID, err := clients[0].ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("loadgen: chain id: %w", err)
	}
	signer := types.LatestSignerForChainID(chainID)
	senders := make([]*sender, cfg.Accounts)
	for i := range senders {
		k, err := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("emcd-bench/%s/%d", cfg.Seed, i))))
		if err != nil {
			return nil, err
		}
		senders[i] = &sender{key: k, addr: crypto.PubkeyToAddress(k.PublicKey), client: clients[i%len(clients)], slots: make(chan struct{}, cfg.MaxInflight)}
	}
	if err := fund(ctx, clients[0], signer, cfg, senders, log); err != nil {
		return nil, err
	}
	for _, s := range senders {
		if s.nonce, err = s.client.PendingNonceAt(ctx, s.addr); err != nil {
			return nil, fmt.Errorf("loadgen: nonce of %s: %w", s.addr, err)
		}
	}

	tr := &tracker{submitted: make(map[common.Hash]time.Time), slots: make(map[common.Hash]chan struct{})}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchDone := make(chan error, 1)
	go func() { watchDone <- watch(watchCtx, clients[0], tr) }()

	var (
		sent, rejected atomic.Int64
		errMu          sync.Mutex
		errs           = make(map[string]int)
	)
	log.Info("offering load", "accounts", cfg.Accounts, "rate", cfg.Rate, "duration", cfg.Duration, "endpoints", len(cfg.Endpoints))
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.Duration)
	defer stopLoad()
	start := time.Now()
	tr.mu.Lock()
	tr.firstSend = start
	tr.mu.Unlock()
	var wg sync.WaitGroup
	perAccount := cfg.Rate / float64(cfg.Accounts)
	for idx, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var interval time.Duration
			if perAccount > 0 {
				interval = time.Duration(float64(time.Second) / perAccount)
			}
			// Stagger the senders so a rate is offered smoothly.
			next := start
			if interval > 0 {
				next = start.Add(time.Duration(idx) * interval / time.Duration(cfg.Accounts))
			}
			to := common.Address{0xbe, 0xec, byte(idx >> 8), byte(idx)}
			for {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-loadCtx.Done():
							return
						case <-time.After(d):
						}
					}
					next = next.Add(interval)
				}
				select {
				case <-loadCtx.Done():
					return
				case s.slots <- struct{}{}:
				}
				tx, err := types.SignNewTx(s.key, signer, &types.DynamicFeeTx{
					ChainID: chainID, Nonce: s.nonce, GasTipCap: cfg.TipWei, GasFeeCap: cfg.FeeCapWei,
					Gas: 21000, To: &to, Value: big.NewInt(1),
				})
				if err != nil {
					<-s.slots
					return
				}
				tr.mu.Lock()
				tr.submitted[tx.Hash()] = time.Now()
				tr.slots[tx.Hash()] = s.slots
				tr.mu.Unlock()
				if err := s.client.SendTransaction(ctx, tx); err != nil {
					tr.mu.Lock()
					delete(tr.submitted, tx.Hash())
					delete(tr.slots, tx.Hash())
					tr.mu.Unlock()
					<-s.slots
					rejected.Add(1)
					msg := err.Error()
					if len(msg) > 80 {
						msg = msg[:80]
					}
					errMu.Lock()
					errs[msg]++
					errMu.Unlock()
					if strings.Contains(msg, "nonce too low") {
						if n, err := s.client.PendingNonceAt(ctx, s.addr); err == nil {
							s.nonce = n
						}
					}
					if ctx.Err() != nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				s.nonce++
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	sendWindow := time.Since(start)
	log.Info("load offered, draining", "sent", sent.Load(), "drain", cfg.Drain)
	deadline := time.Now().Add(cfg.Drain)
	for time.Now().Before(deadline) {
		tr.mu.Lock()
		outstanding := len(tr.submitted)
		tr.mu.Unlock()
		if outstanding == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopWatch()
	if err := <-watchDone; err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("block watcher stopped", "err", err)
	}

	tr.mu.Lock()
	defer tr.mu.Unlock()
	rep := &Report{
		Offered: cfg.Rate, Sent: int(sent.Load()), Rejected: int(rejected.Load()),
		Committed: len(tr.latencies), Lost: len(tr.submitted), Blocks: tr.blocks, MaxBlockTxs: tr.maxTxs, Errors: errs,
		SubmitTPS: float64(sent.Load()) / sendWindow.Seconds(),
	}
	if rep.Committed > 0 {
		rep.Window = tr.lastSeen.Sub(tr.firstSend)
		rep.CommitTPS = float64(rep.Committed) / rep.Window.Seconds()
		lat := slices.Clone(tr.latencies)
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		rep.P50, rep.P95, rep.P99, rep.Max = pct(0.50), pct(0.95), pct(0.99), lat[len(lat)-1]
	}
	return rep, nil
}

// watch follows new blocks and records when each submitted hash commits.
func watch(ctx context.Context, c *ethclient.Client, tr *tracker) error {
	next, err := c.BlockNumber(ctx)
	if err != nil {
		return err
	}
	next++
	for ctx.Err() == nil {
		head, err := c.BlockNumber(ctx)
		if err != nil {
			return err
		}
		if head < next {
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		for ; next <= head; next++ {
			var blk struct {
				Transactions []common.Hash `json:"transactions"`
			}
			if err := c.Client().CallContext(ctx, &blk, "eth_getBlockByNumber", hexutil.EncodeUint64(next), false); err != nil {
				return err
			}
			now := time.Now()
			tr.mu.Lock()
			tr.blocks++
			tr.maxTxs = max(tr.maxTxs, len(blk.Transactions))
			for _, h := range blk.Transactions {
				if at, ok := tr.submitted[h]; ok {
					tr.latencies = append(tr.latencies, now.Sub(at))
					tr.lastSeen = now
					delete(tr.submitted, h)
					<-tr.slots[h]
					delete(tr.slots, h)
				}
			}
			tr.mu.Unlock()
		}
	}
	return ctx.Err()
}

// fund tops every sender up to a balance that covers the run.
func fund(ctx context.Context, c *ethclient.Client, signer types.Signer, cfg Config, senders []*sender, log *slog.Logger) error {
	perTx := new(big.Int).Add(new(big.Int).Mul(cfg.FeeCapWei, big.NewInt(21000)), big.NewInt(1))
	txsEach := int64(cfg.Duration.Seconds()*max(cfg.Rate, 2000)/float64(cfg.Accounts)) + 100
	want := new(big.Int).Mul(perTx, big.NewInt(txsEach))
	funderAddr := crypto.PubkeyToAddress(cfg.Funder.PublicKey)
	nonce, err := c.PendingNonceAt(ctx, funderAddr)
	if err != nil {
		return fmt.Errorf("loadgen: funder nonce: %w", err)
	}
	tip := cfg.TipWei
	var last common.Hash
	funded := 0
	for _, s := range senders {
		bal, err := c.BalanceAt(ctx, s.addr, nil)
		if err != nil {
			return fmt.Errorf("loadgen: balance: %w", err)
		}
		if bal.Cmp(want) >= 0 {
			continue
		}
		tx, err := types.SignNewTx(cfg.Funder, signer, &types.DynamicFeeTx{
			ChainID: signer.ChainID(), Nonce: nonce, GasTipCap: tip, GasFeeCap: cfg.FeeCapWei, Gas: 21000, To: &s.addr,
			Value: new(big.Int).Sub(want, bal),
		})
		if err != nil {
			return err
		}
		if err := c.SendTransaction(ctx, tx); err != nil {
			return fmt.Errorf("loadgen: fund %s: %w", s.addr, err)
		}
		nonce++
		funded++
		last = tx.Hash()
	}
	if funded == 0 {
		return nil
	}
	log.Info("funding sender accounts", "accounts", funded, "each_wei", want)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if r, err := c.TransactionReceipt(ctx, last); err == nil {
			if r.Status != types.ReceiptStatusSuccessful {
				return errors.New("loadgen: funding transaction failed")
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("loadgen: funding transactions not mined within 2 minutes")
}
