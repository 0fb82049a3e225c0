package state

// The state-at-scale benchmark (issue 9). It grows a state to N accounts
// with transfers that create them, then sends M transfers between random
// existing accounts, on a real pebble data dir, and reports:
//
//   - transfers per second while executing blocks: BuildBlock (one
//     execution, kept) plus InsertBlock (state commit, block write, WAL
//     sync), as a proposer does; signing and sender recovery are done
//     beforehand, as the pool does on admission;
//   - bytes of data dir per transaction after a clean stop, over the whole
//     run (growth and transfers);
//   - for the path scheme, the cost of a crash: the blocks Open re-executes
//     after the in-memory layers are dropped, and how long that takes.
//
// Run it (not part of `make test`):
//
//	go test ./state -run '^$' -bench StateScale -benchtime 1x -timeout 3h \
//	    -scale.accounts 10000,1000000 -scale.transfers 100000 -v
//
// Single runs spread by 10-30 % on small machines, and a machine's speed
// drifts over an hour: -scale.rounds 3 runs the sizes in turn three times
// and prints the median of each and the ratio of the medians.
//
// TestScaleSmall runs a small version as a normal test so it cannot rot.

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"

	"github.com/emc-network/emcd/genesis"
)

var (
	scaleAccounts  = flag.String("scale.accounts", "10000,1000000", "BenchmarkStateScale: state sizes (accounts), comma-separated")
	scaleTransfers = flag.Int("scale.transfers", 100_000, "BenchmarkStateScale: transfers between random existing accounts")
	scaleSchemes   = flag.String("scale.schemes", "path,hash", "BenchmarkStateScale: state schemes")
	scaleBlockTxs  = flag.Int("scale.blocktxs", 1000, "BenchmarkStateScale: transactions per block")
	scaleProfile   = flag.String("scale.cpuprofile", "", "BenchmarkStateScale: write a CPU profile of the transfer phase to this file")
	scaleFlush     = flag.Uint64("scale.flush", 0, "BenchmarkStateScale: StorageConfig.FlushInterval (0: off, the default)")
	scaleTrieMB    = flag.Int("scale.triecache", 0, "BenchmarkStateScale: StorageConfig.TrieCleanMB (0: the default)")
	scaleBufferMB  = flag.Int("scale.buffer", 0, "BenchmarkStateScale: StorageConfig.WriteBufferMB (0: the default)")
	scaleLayers    = flag.String("scale.layers", "", "BenchmarkStateScale: path scheme diff layer depths to run each size with, comma-separated (default: DefaultDiffLayers)")
	scaleNoIndex   = flag.Bool("scale.noindex", false, "BenchmarkStateScale: StorageConfig.NoHistoryIndex (--history.index=false)")
	scaleKeepDir   = flag.String("scale.dir", "", "BenchmarkStateScale: keep the data dirs under this directory (default: temporary)")
	scaleRounds    = flag.Int("scale.rounds", 1, "BenchmarkStateScale: run every setting this many times, sizes interleaved, and print the medians and the large/small ratio")
)

type scaleConfig struct {
	scheme        string
	accounts      int // accounts the growth phase creates
	transfers     int // transfers between random existing accounts afterwards
	blockTxs      int // transactions per block (and funders in genesis)
	dir           string
	seed          uint64
	progress      func(format string, args ...any) // nil: quiet
	cpuProfile    string                           // profile the transfer phase into this file
	flushInterval uint64
	trieCleanMB   int
	writeBufferMB int
	noIndex       bool
}

type scaleResult struct {
	growTxs, transfers           int
	growSeconds, transferSeconds float64 // building + inserting blocks only
	blocks                       int
	diskBytes                    uint64 // after a clean stop
	compactedBytes               uint64 // after a full compaction (WAL and overwritten versions gone)
	// The transfer phase split: building (execution and state root),
	// then in InsertBlock the state commit (trie commit, pathdb layer
	// update and flushes), the block write and the WAL sync.
	buildSeconds, stateSeconds, writeSeconds, syncSeconds float64
	// transferCPU is the process's CPU time (all goroutines, user and
	// system) inside the timed part of the transfer phase: on a shared
	// machine it moves less than the wall time.
	transferCPU   float64
	replayBlocks  int
	replaySeconds float64
	stats         *DBStats
}

func (r *scaleResult) growTPS() float64     { return float64(r.growTxs) / r.growSeconds }
func (r *scaleResult) transferTPS() float64 { return float64(r.transfers) / r.transferSeconds }
func (r *scaleResult) bytesPerTx() float64 {
	return float64(r.diskBytes) / float64(r.growTxs+r.transfers)
}

func (r *scaleResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "grow %d txs at %.0f tx/s; %d transfers at %.0f tx/s; %d blocks; data dir %s = %.0f B/tx",
		r.growTxs, r.growTPS(), r.transfers, r.transferTPS(), r.blocks, common.StorageSize(r.diskBytes), r.bytesPerTx())
	fmt.Fprintf(&b, "; compacted %s = %.0f B/tx", common.StorageSize(r.compactedBytes), float64(r.compactedBytes)/float64(r.growTxs+r.transfers))
	fmt.Fprintf(&b, "; crash replay %d blocks in %.2fs", r.replayBlocks, r.replaySeconds)
	if r.transfers > 0 {
		us := func(s float64) float64 { return s / float64(r.transfers) * 1e6 }
		fmt.Fprintf(&b, "\n  transfer phase per tx: CPU %.1f µs; wall: build %.1f µs, state commit %.1f µs, block write %.1f µs, WAL sync %.1f µs",
			us(r.transferCPU), us(r.buildSeconds), us(r.stateSeconds), us(r.writeSeconds), us(r.syncSeconds))
	}
	if r.stats != nil {
		b.WriteString("\n  ")
		for _, c := range r.stats.Categories {
			if c.Bytes > 0 {
				fmt.Fprintf(&b, "%s=%s ", c.Name, common.StorageSize(c.Bytes))
			}
		}
	}
	return b.String()
}

// processCPU returns the CPU seconds (user and system) the process used so
// far, or 0 where getrusage fails.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// scaleKey is the deterministic key of grown account i.
func scaleKey(i int) *ecdsa.PrivateKey {
	seed := binary.BigEndian.AppendUint64([]byte("emcd-scale-account"), uint64(i))
	for {
		k, err := crypto.ToECDSA(crypto.Keccak256(seed))
		if err == nil {
			return k
		}
		seed = crypto.Keccak256(seed) // astronomically unlikely: out of range
	}
}

// parallel runs f(i) for i in [0, n) on all CPUs.
func parallel(n int, f func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}

type scaleTx struct {
	key   *ecdsa.PrivateKey
	nonce uint64
	to    common.Address
	value *big.Int
}

// runScale runs the benchmark described at the top of this file.
func runScale(tb testing.TB, cfg scaleConfig) *scaleResult {
	tb.Helper()
	logf := cfg.progress
	if logf == nil {
		logf = func(string, ...any) {}
	}
	g := genesis.Dev()
	funders := make([]*ecdsa.PrivateKey, cfg.blockTxs)
	for i := range funders {
		funders[i], _ = crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("emcd-scale-funder-%d", i))))
		// 100,000 ETH each: the 1,000 funders fit in the dev genesis supply
		// (the reserve takes the rest) and pay for far more than 1M accounts.
		g.Alloc[crypto.PubkeyToAddress(funders[i].PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1e5), big.NewInt(1e18))}
	}
	db, err := OpenStore(cfg.dir)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := OpenWithStorage(db, g, nil, nil, StorageConfig{Scheme: cfg.scheme, FlushInterval: cfg.flushInterval,
		TrieCleanMB: cfg.trieCleanMB, WriteBufferMB: cfg.writeBufferMB, NoHistoryIndex: cfg.noIndex})
	if err != nil {
		tb.Fatal(err)
	}
	// The chain's own signer, as the pool uses: the sender it caches in
	// each transaction is the one the executor looks up.
	signer := types.LatestSigner(c.Config())
	sealKey := genesis.DevSignerKey()
	coinbase := crypto.PubkeyToAddress(sealKey.PublicKey)
	res := &scaleResult{}
	var phases struct {
		build, state, write, sync time.Duration
		cpu                       float64
	}
	c.commitPhases = func(state, write, sync time.Duration) {
		phases.state, phases.write, phases.sync = state, write, sync
	}

	// mine signs txs (in parallel, untimed), then builds and inserts one
	// block of them (timed).
	mine := func(batch []scaleTx) time.Duration {
		txs := make([]*types.Transaction, len(batch))
		parallel(len(batch), func(i int) {
			s := batch[i]
			tx, err := types.SignNewTx(s.key, signer, &types.DynamicFeeTx{
				ChainID: c.Config().ChainID, Nonce: s.nonce, GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(100e9),
				Gas: 21000, To: &s.to, Value: s.value,
			})
			if err != nil {
				panic(err) // a fixed-size, well-formed tx cannot fail to sign
			}
			_, _ = types.Sender(signer, tx) // as the pool does on admission
			txs[i] = tx
		})
		head := c.Head()
		var parentCert *certificateT
		if head.Number.Sign() > 0 {
			if parentCert, err = c.Certificate(head.Number.Uint64(), head.Hash()); err != nil {
				tb.Fatal(err)
			}
		}
		cpu0 := processCPU()
		start := time.Now()
		blk, err := c.BuildBlock(context.Background(), &listSource{txs: txs}, BuildParams{
			Coinbase: coinbase, Time: time.Now(), ParentCommit: parentCert, KeepExecution: true,
		})
		if err != nil {
			tb.Fatal(err)
		}
		if blk.Transactions().Len() != len(txs) {
			tb.Fatalf("block %d holds %d of %d txs", blk.NumberU64(), blk.Transactions().Len(), len(txs))
		}
		phases.build = time.Since(start)
		seal := sealFor(tb, blk.Hash(), sealKey)
		if err := c.InsertBlock(context.Background(), blk, seal); err != nil {
			tb.Fatal(err)
		}
		res.blocks++
		took := time.Since(start)
		phases.cpu = processCPU() - cpu0
		return took
	}

	// Growth: funder j sends 1 ETH to new account i; one tx per funder per
	// block keeps every block's nonces in order.
	addrs := make([]common.Address, cfg.accounts)
	oneEth := big.NewInt(1e18)
	var elapsed time.Duration
	for start := 0; start < cfg.accounts; start += cfg.blockTxs {
		n := min(cfg.blockTxs, cfg.accounts-start)
		parallel(n, func(i int) { addrs[start+i] = crypto.PubkeyToAddress(scaleKey(start + i).PublicKey) })
		batch := make([]scaleTx, n)
		for i := range batch {
			batch[i] = scaleTx{key: funders[i], nonce: uint64(start / cfg.blockTxs), to: addrs[start+i], value: oneEth}
		}
		elapsed += mine(batch)
		if b := start / cfg.blockTxs; b%100 == 99 {
			logf("grow: %d accounts, %.0f tx/s", start+n, float64(start+n)/elapsed.Seconds())
		}
	}
	res.growTxs, res.growSeconds = cfg.accounts, elapsed.Seconds()

	// Transfers between random existing accounts (grown ones: they have
	// keys and funds).
	rng := rand.New(rand.NewPCG(cfg.seed, 9))
	nonces := make(map[int]uint64)
	keys := make(map[int]*ecdsa.PrivateKey)
	elapsed = 0
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			tb.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			tb.Fatal(err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	for done := 0; done < cfg.transfers; {
		n := min(cfg.blockTxs, cfg.transfers-done)
		batch := make([]scaleTx, n)
		senders := make([]int, n)
		for i := range batch {
			from, to := rng.IntN(cfg.accounts), rng.IntN(cfg.accounts)
			senders[i] = from
			batch[i] = scaleTx{nonce: nonces[from], to: addrs[to], value: big.NewInt(1)}
			nonces[from]++
		}
		parallel(n, func(i int) {
			if k := keys[senders[i]]; k != nil {
				batch[i].key = k
				return
			}
			batch[i].key = scaleKey(senders[i])
		})
		for i := range batch {
			keys[senders[i]] = batch[i].key
		}
		elapsed += mine(batch)
		res.buildSeconds += phases.build.Seconds()
		res.stateSeconds += phases.state.Seconds()
		res.writeSeconds += phases.write.Seconds()
		res.syncSeconds += phases.sync.Seconds()
		res.transferCPU += phases.cpu
		done += n
		if b := done / cfg.blockTxs; b%20 == 0 {
			logf("transfers: %d, %.0f tx/s", done, float64(done)/elapsed.Seconds())
		}
	}
	res.transfers, res.transferSeconds = cfg.transfers, elapsed.Seconds()
	if cfg.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	head := c.Head()

	// A crash: drop the in-memory layers, reopen, time the replay.
	c.insertMu.Lock()
	c.closed = true
	c.insertMu.Unlock()
	if err := c.triedb.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	if db, err = OpenStore(cfg.dir); err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	if c, err = OpenWithStorage(db, nil, nil, nil, StorageConfig{NoHistoryIndex: cfg.noIndex}); err != nil {
		tb.Fatal(err)
	}
	res.replaySeconds, res.replayBlocks = time.Since(start).Seconds(), c.RecoveredBlocks()
	if c.Head().Hash() != head.Hash() {
		tb.Fatalf("head %d after the crash, want %d", c.Head().Number, head.Number)
	}
	st, err := c.StateAt(head.Root)
	if err != nil {
		tb.Fatal(err)
	}
	// Every grown account got 1 ETH and paid fees only as a sender.
	for _, i := range []int{0, cfg.accounts / 2, cfg.accounts - 1} {
		if bal := st.GetBalance(addrs[i]); bal.IsZero() {
			tb.Fatalf("grown account %d has no balance", i)
		}
	}

	// A clean stop, then the size of the data dir.
	closeStore(tb, c, db)
	if res.diskBytes, err = DirSize(cfg.dir); err != nil {
		tb.Fatal(err)
	}
	ro, err := OpenStoreReadOnly(cfg.dir)
	if err != nil {
		tb.Fatal(err)
	}
	if res.stats, err = CollectDBStats(ro, cfg.dir); err != nil {
		tb.Fatal(err)
	}
	if err := ro.Close(); err != nil {
		tb.Fatal(err)
	}
	// The settled size: pebble's WAL folded into tables, overwritten trie
	// node versions compacted away.
	if db, err = OpenStore(cfg.dir); err != nil {
		tb.Fatal(err)
	}
	if err := db.Compact(nil, nil); err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	if res.compactedBytes, err = DirSize(cfg.dir); err != nil {
		tb.Fatal(err)
	}
	return res
}

func closeStore(tb testing.TB, c *Chain, db ethdb.Database) {
	tb.Helper()
	if err := c.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
}

// TestScaleSmall is the benchmark at a small size, under both schemes.
func TestScaleSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("grows a state on disk")
	}
	for _, scheme := range []string{SchemePath, SchemeHash} {
		t.Run(scheme, func(t *testing.T) {
			res := runScale(t, scaleConfig{scheme: scheme, accounts: 2000, transfers: 1000, blockTxs: 250, dir: t.TempDir(), seed: 1})
			t.Log(res)
			if res.blocks != 12 || res.growTxs != 2000 || res.transfers != 1000 {
				t.Fatalf("ran %d blocks, %d + %d txs", res.blocks, res.growTxs, res.transfers)
			}
			if res.diskBytes == 0 || res.stats.Scheme != scheme {
				t.Fatalf("data dir %d bytes, scheme %q", res.diskBytes, res.stats.Scheme)
			}
			// Every block is newer than the last flush of a small state,
			// so the path scheme replays them all; the hash scheme none.
			if want := map[string]int{SchemePath: res.blocks, SchemeHash: 0}[scheme]; res.replayBlocks != want {
				t.Fatalf("replayed %d blocks after the crash, want %d", res.replayBlocks, want)
			}
		})
	}
}

// BenchmarkStateScale is the acceptance benchmark of issue 9 (see the top
// of this file). Each sub-benchmark runs once whatever b.N is.
func BenchmarkStateScale(b *testing.B) {
	var sizes []int
	for _, s := range strings.Split(*scaleAccounts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			b.Fatalf("-scale.accounts %q: want positive integers", *scaleAccounts)
		}
		sizes = append(sizes, n)
	}
	layers := []int{DefaultDiffLayers}
	if *scaleLayers != "" {
		layers = nil
		for _, s := range strings.Split(*scaleLayers, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				b.Fatalf("-scale.layers %q: want positive integers", *scaleLayers)
			}
			layers = append(layers, n)
		}
	}
	if *scaleRounds < 1 {
		b.Fatalf("-scale.rounds %d: want at least 1", *scaleRounds)
	}
	// One run per scheme, size and layer depth (the hash scheme has no diff
	// layers); a round is all of them once, so rounds interleave the sizes
	// and a drift of the machine's speed hits them alike.
	type scaleRun struct {
		scheme          string
		accounts, depth int
	}
	var runs []scaleRun
	for _, scheme := range strings.Split(*scaleSchemes, ",") {
		for _, n := range sizes {
			for _, depth := range layers {
				if scheme == SchemePath || depth == layers[0] {
					runs = append(runs, scaleRun{scheme, n, depth})
				}
			}
		}
	}
	defer SetDiffLayers(SetDiffLayers(DefaultDiffLayers))
	summary := newScaleSummary()
	defer summary.print(os.Stdout)
	for round := 1; round <= *scaleRounds; round++ {
		for _, r := range runs {
			SetDiffLayers(r.depth)
			name := fmt.Sprintf("scheme=%s/accounts=%d", r.scheme, r.accounts)
			suffix := fmt.Sprintf("%s-%d-%d", r.scheme, r.accounts, r.depth)
			if r.scheme == SchemePath && len(layers) > 1 {
				name += fmt.Sprintf("/layers=%d", r.depth)
			}
			if *scaleRounds > 1 {
				name += fmt.Sprintf("/round=%d", round)
				suffix += fmt.Sprintf("-%d", round)
			}
			b.Run(name, func(b *testing.B) {
				var progress func(string, ...any)
				if testing.Verbose() {
					progress = func(format string, args ...any) {
						fmt.Printf("%s %s/%d: %s\n", time.Now().UTC().Format("15:04:05"), r.scheme, r.accounts, fmt.Sprintf(format, args...))
					}
				}
				b.ReportAllocs()
				dir := b.TempDir()
				if *scaleKeepDir != "" {
					dir = filepath.Join(*scaleKeepDir, suffix)
				}
				res := runScale(b, scaleConfig{scheme: r.scheme, accounts: r.accounts, transfers: *scaleTransfers, blockTxs: *scaleBlockTxs,
					dir: dir, seed: 1, progress: progress, cpuProfile: *scaleProfile, flushInterval: *scaleFlush,
					trieCleanMB: *scaleTrieMB, writeBufferMB: *scaleBufferMB, noIndex: *scaleNoIndex})
				b.ReportMetric(res.transferTPS(), "transfer-tx/s")
				b.ReportMetric(res.growTPS(), "grow-tx/s")
				b.ReportMetric(res.transferCPU/float64(res.transfers)*1e6, "transfer-cpu-µs/tx")
				b.ReportMetric(res.bytesPerTx(), "datadir-B/tx")
				b.ReportMetric(float64(res.compactedBytes)/float64(res.growTxs+res.transfers), "compacted-B/tx")
				b.ReportMetric(float64(res.replayBlocks), "replay-blocks")
				b.ReportMetric(res.replaySeconds, "replay-s")
				fmt.Printf("RESULT scheme=%s accounts=%d layers=%d: %s\n", r.scheme, r.accounts, DiffLayers(), res)
				set := scaleSetting{scheme: r.scheme}
				if r.scheme == SchemePath {
					set.layers = DiffLayers()
				}
				summary.add(set, r.accounts, round, res.transferTPS())
			})
		}
	}
}
