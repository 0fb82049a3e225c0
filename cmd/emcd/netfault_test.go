package main

// Fault tests: four emcd validators, each in its own Linux network
// namespace on a private bridge (internal/netharness), driven over
// JSON-RPC only while the network between them is partitioned, lossy or
// slow. They need root, ip and iptables and skip with the reason otherwise;
// -short skips them too. Every test checks agreement (one hash per height
// on every node) besides its own liveness property, and prints its figures
// with t.Logf (run with -v to see them).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/internal/netharness"
)

// faultPeriod is the block period of the fault tests' chains.
const faultPeriod = 500 * time.Millisecond

// nsNode is one validator process of an nsCluster.
type nsNode struct {
	cfg  netharness.EmcdNode
	proc *netharness.Proc
	rpc  *rpc.Client
	eth  *ethclient.Client
	self common.Address // its validator address (emc_consensusStatus.self)
}

// nsCluster is a testnet of validators, one per namespace of net.
type nsCluster struct {
	t     *testing.T
	net   *netharness.Net
	nodes []*nsNode
}

// consensusStatus is emc_consensusStatus's answer (consensus/engine.Status).
type consensusStatus struct {
	Height     uint64           `json:"height"`
	Round      uint64           `json:"round"`
	Validators []common.Address `json:"validators"`
	Proposer   common.Address   `json:"proposer"`
	Self       common.Address   `json:"self"`
}

// faultCtx bounds a fault test: budget, or the test binary's deadline less
// a minute for cleanup, whichever comes first.
func faultCtx(t *testing.T, budget time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(budget)
	if d, ok := t.Deadline(); ok && d.Add(-time.Minute).Before(deadline) {
		deadline = d.Add(-time.Minute)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

type tLogWriter struct{ t *testing.T }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newNSCluster starts n validators in n namespaces and waits until every
// node is past height 3. It skips the test where namespaces are not
// available, and registers the teardown (log tails on failure, then
// netharness.Net.Close, which must leave nothing behind).
func newNSCluster(t *testing.T, ctx context.Context, n int) *nsCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process network-namespace test: skipped with -short")
	}
	if err := netharness.Probe(ctx); err != nil {
		if errors.Is(err, netharness.ErrUnsupported) {
			t.Skipf("fault tests need network namespaces: %v", err)
		}
		t.Fatal(err)
	}
	bin := emcdBinary(t)
	log := slog.New(slog.NewTextHandler(tLogWriter{t}, nil))
	nw, err := netharness.New(ctx, netharness.Options{Nodes: n, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c := &nsCluster{t: t, net: nw}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Errorf("netharness close: %v", err)
		}
	})
	t.Cleanup(func() {
		for i, nd := range c.nodes {
			if nd.rpc != nil {
				nd.rpc.Close()
			}
			if t.Failed() && nd.proc != nil {
				t.Logf("---- node %d (%s) log tail ----\n%s", i, nd.cfg.Host.NS, nd.proc.Tail(40))
			}
		}
	})

	dir := t.TempDir()
	out, err := exec.CommandContext(ctx, bin, "testnet", "--validators", fmt.Sprint(n), "--out", filepath.Join(dir, "net"),
		"--base-port", "20000", "--block-period", faultPeriod.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("emcd testnet: %v\n%s", err, out)
	}
	var dirs []string
	for i := 1; i <= n; i++ {
		dirs = append(dirs, filepath.Join(dir, "net", fmt.Sprintf("validator-%d", i)))
	}
	cfgs, err := netharness.ConfigureEmcd(dirs, nw.Hosts())
	if err != nil {
		t.Fatal(err)
	}
	for i, cfg := range cfgs {
		if _, err := nw.Relay(i, netharness.EmcdRelayPort, netharness.EmcdP2PPort); err != nil {
			t.Fatal(err)
		}
		p, err := nw.Start(i, filepath.Join(dir, fmt.Sprintf("validator-%d.log", i+1)), bin,
			"--role", "validator", "--datadir", cfg.Dir, "--log.level", "info")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rpc.DialContext(ctx, cfg.RPCURL)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, &nsNode{cfg: cfg, proc: p, rpc: rc, eth: ethclient.NewClient(rc)})
	}
	start := time.Now()
	c.waitFor(ctx, 120*time.Second, "every node past height 3", func() bool {
		for i := range c.nodes {
			if c.height(ctx, i) < 3 {
				return false
			}
		}
		return true
	})
	for i, nd := range c.nodes {
		st, err := c.status(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		nd.self = st.Self
	}
	t.Logf("cluster of %d up in %s (namespaces %s…)", n, time.Since(start).Round(time.Millisecond), nw.ID())
	return c
}

// height returns node i's head number, or -1 if it does not answer.
func (c *nsCluster) height(ctx context.Context, i int) int64 {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	n, err := c.nodes[i].eth.BlockNumber(ctx)
	if err != nil {
		return -1
	}
	return int64(n)
}

func (c *nsCluster) heights(ctx context.Context) []int64 {
	hs := make([]int64, len(c.nodes))
	for i := range c.nodes {
		hs[i] = c.height(ctx, i)
	}
	return hs
}

func (c *nsCluster) header(ctx context.Context, i int, num uint64) (*types.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h, err := c.nodes[i].eth.HeaderByNumber(ctx, new(big.Int).SetUint64(num))
	if err != nil {
		return nil, fmt.Errorf("node %d header %d: %w", i, num, err)
	}
	return h, nil
}

func (c *nsCluster) status(ctx context.Context, i int) (consensusStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var st consensusStatus
	if err := c.nodes[i].rpc.CallContext(ctx, &st, "emc_consensusStatus"); err != nil {
		return st, fmt.Errorf("node %d emc_consensusStatus: %w", i, err)
	}
	return st, nil
}

// commitRound returns the round block num was committed in: the round of
// its certificate, which travels in block num+1.
func (c *nsCluster) commitRound(ctx context.Context, i int, num uint64) (uint64, error) {
	h, err := c.header(ctx, i, num+1)
	if err != nil {
		return 0, err
	}
	extra, err := cert.DecodeExtra(h.Extra)
	if err != nil {
		return 0, fmt.Errorf("block %d: %w", num+1, err)
	}
	return extra.ParentCommit.Round, nil
}

// waitFor polls cond every 200ms until it holds, failing the test after d
// or when ctx ends. It returns how long it waited.
func (c *nsCluster) waitFor(ctx context.Context, d time.Duration, what string, cond func() bool) time.Duration {
	c.t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		if cond() {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("timed out after %s waiting for %s (heights %v)", time.Since(start).Round(time.Millisecond), what, c.heights(context.Background()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// sleep waits d or fails the test when ctx ends first.
func (c *nsCluster) sleep(ctx context.Context, d time.Duration) {
	c.t.Helper()
	select {
	case <-ctx.Done():
		c.t.Fatalf("test deadline while waiting %s", d)
	case <-time.After(d):
	}
}

// checkAgreement asserts that every height is held by the same block on
// all nodes that have it (heights above a node's head are compared among
// the nodes that reached them), that every node answers and is alive. It
// returns the lowest head.
func (c *nsCluster) checkAgreement(ctx context.Context) uint64 {
	c.t.Helper()
	hs := c.heights(ctx)
	low, high := hs[0], hs[0]
	for i, h := range hs {
		if h < 0 {
			c.t.Fatalf("node %d does not answer (alive: %v)", i, c.nodes[i].proc.Alive())
		}
		low, high = min(low, h), max(high, h)
	}
	for num := uint64(1); num <= uint64(high); num++ {
		var want common.Hash
		wantFrom := -1
		for i, h := range hs {
			if uint64(h) < num {
				continue
			}
			hdr, err := c.header(ctx, i, num)
			if err != nil {
				c.t.Fatal(err)
			}
			if wantFrom < 0 {
				want, wantFrom = hdr.Hash(), i
			} else if hdr.Hash() != want {
				c.t.Fatalf("FORK at height %d: node %d has %s, node %d has %s", num, i, hdr.Hash(), wantFrom, want)
			}
		}
	}
	for i, nd := range c.nodes {
		if !nd.proc.Alive() {
			c.t.Fatalf("node %d died:\n%s", i, nd.proc.Tail(30))
		}
	}
	return uint64(low)
}

func minMax(hs []int64) (lo, hi int64) {
	lo, hi = hs[0], hs[0]
	for _, h := range hs {
		lo, hi = min(lo, h), max(hi, h)
	}
	return lo, hi
}

// TestFaultPartitionTwoTwo: a 2|2 split leaves neither side a quorum (3 of
// 4), so no node commits anything, no node forks, and the chain resumes once
// the network heals.
func TestFaultPartitionTwoTwo(t *testing.T) {
	began := time.Now()
	ctx := faultCtx(t, 4*time.Minute)
	c := newNSCluster(t, ctx, 4)
	c.waitFor(ctx, time.Minute, "every node past height 10", func() bool {
		lo, _ := minMax(c.heights(ctx))
		return lo >= 10
	})

	groups := [][]int{{0, 1}, {2, 3}}
	if err := c.net.Partition(ctx, groups...); err != nil {
		t.Fatal(err)
	}
	// A height whose COMMITs were already on the wire may still land.
	c.sleep(ctx, 3*time.Second)
	stalled := c.heights(ctx)
	c.sleep(ctx, 8*time.Second) // 16 block periods
	after := c.heights(ctx)
	// A node may still fetch a block its partner committed before the cut;
	// a new height on a side would need a quorum the side does not have.
	for _, g := range groups {
		var was, now int64 = -1, -1
		for _, i := range g {
			was, now = max(was, stalled[i]), max(now, after[i])
		}
		if now != was {
			t.Fatalf("side %v went from height %d to %d during a 2|2 partition (heights %v -> %v)", g, was, now, stalled, after)
		}
	}
	c.checkAgreement(ctx)
	var rounds []uint64
	for i := range c.nodes {
		st, err := c.status(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		rounds = append(rounds, st.Round)
	}
	t.Logf("2|2 partition: heights %v -> %v over 8s: no side committed (rounds now %v)", stalled, after, rounds)

	if err := c.net.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	_, hi := minMax(stalled)
	took := c.waitFor(ctx, 2*time.Minute, "every node 3 blocks past the partition", func() bool {
		lo, _ := minMax(c.heights(ctx))
		return lo >= hi+3
	})
	low := c.checkAgreement(ctx)
	t.Logf("healed: every node 3 blocks past the stall in %s; agreement on heights 1…%d; wall %s",
		took.Round(time.Millisecond), low, time.Since(began).Round(time.Second))
}

// TestFaultIsolatedProposer: the validator that proposes the next height in
// round 0 is cut off before it can propose; the other three time out, change
// round and commit that height in a later round, proposed by the round's
// proposer.
func TestFaultIsolatedProposer(t *testing.T) {
	began := time.Now()
	ctx := faultCtx(t, 4*time.Minute)
	c := newNSCluster(t, ctx, 4)
	byAddr := map[common.Address]int{}
	for i, nd := range c.nodes {
		byAddr[nd.self] = i
	}

	var (
		target uint64 // the height whose round-0 proposer is isolated
		victim = -1
		sorted []common.Address
	)
	for attempt := 1; victim < 0; attempt++ {
		if attempt > 5 {
			t.Fatal("could not isolate a proposer before its height in 5 attempts")
		}
		st, err := c.status(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		sorted = ibft.SortValidators(st.Validators)
		if want := ibft.Proposer(sorted, st.Height, st.Round); st.Proposer != want {
			t.Fatalf("node 0 reports proposer %s for height %d round %d, ibft.Proposer says %s", st.Proposer, st.Height, st.Round, want)
		}
		// st.Height is being decided now; height+2 needs height+1 committed
		// first, which leaves at least a block period to cut its proposer.
		target = st.Height + 2
		p, ok := byAddr[ibft.Proposer(sorted, target, 0)]
		if !ok {
			t.Fatalf("proposer %s of height %d is no node of the cluster", ibft.Proposer(sorted, target, 0), target)
		}
		if err := c.net.Isolate(ctx, p); err != nil {
			t.Fatal(err)
		}
		// The proposer proposes target only after committing target-1; if
		// its head is below that now, its proposal never left.
		if h := c.height(ctx, p); h >= 0 && uint64(h) < target-1 {
			victim = p
			break
		}
		t.Logf("attempt %d: node %d reached height %d before it was cut off; retrying", attempt, p, c.height(ctx, p))
		if err := c.net.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		c.sleep(ctx, 3*time.Second)
	}
	isolated := time.Now()
	other := (victim + 1) % len(c.nodes)
	c.waitFor(ctx, 2*time.Minute, fmt.Sprintf("height %d committed without its round-0 proposer", target+1), func() bool {
		return c.height(ctx, other) >= int64(target+1)
	})
	round, err := c.commitRound(ctx, other, target)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := c.header(ctx, other, target)
	if err != nil {
		t.Fatal(err)
	}
	if round == 0 {
		t.Fatalf("height %d committed in round 0 with its proposer node %d isolated", target, victim)
	}
	if want := ibft.Proposer(sorted, target, round); hdr.Coinbase != want || hdr.Coinbase == c.nodes[victim].self {
		t.Fatalf("height %d (round %d) proposed by %s, want round proposer %s (isolated: %s)", target, round, hdr.Coinbase, want, c.nodes[victim].self)
	}
	if h := c.height(ctx, victim); h >= int64(target) {
		t.Fatalf("isolated node %d reached height %d", victim, h)
	}
	t.Logf("isolated node %d (round-0 proposer of height %d): height committed in round %d by %s, %s after the cut",
		victim, target, round, hdr.Coinbase, time.Since(isolated).Round(time.Millisecond))

	if err := c.net.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	took := c.waitFor(ctx, 2*time.Minute, "the isolated node to catch up", func() bool {
		return c.height(ctx, victim) >= c.height(ctx, other)-1 && c.height(ctx, victim) > int64(target)
	})
	low := c.checkAgreement(ctx)
	t.Logf("healed: node %d caught up in %s; agreement on heights 1…%d; wall %s",
		victim, took.Round(time.Millisecond), low, time.Since(began).Round(time.Second))
}

// TestFaultDelayAndLoss: 200ms one-way delay and 5% packet loss between
// every pair of nodes still commit blocks; the rate is reported against a
// healthy baseline.
func TestFaultDelayAndLoss(t *testing.T) {
	began := time.Now()
	ctx := faultCtx(t, 4*time.Minute)
	c := newNSCluster(t, ctx, 4)

	// blocksIn counts node 0's blocks over d and the rounds they were
	// committed in.
	blocksIn := func(d time.Duration) (blocks int64, rounds map[uint64]int) {
		t.Helper()
		h0 := c.height(ctx, 0)
		c.sleep(ctx, d)
		h1 := c.height(ctx, 0)
		if h0 < 0 || h1 < 0 {
			t.Fatalf("node 0 does not answer (%d, %d)", h0, h1)
		}
		rounds = map[uint64]int{}
		for num := h0 + 1; num < h1; num++ {
			r, err := c.commitRound(ctx, 0, uint64(num))
			if err != nil {
				t.Fatal(err)
			}
			rounds[r]++
		}
		return h1 - h0, rounds
	}
	const baseWindow, window = 15 * time.Second, 30 * time.Second
	base, baseRounds := blocksIn(baseWindow)

	if err := c.net.SetDelay(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := c.net.SetLoss(ctx, 0.05); err != nil {
		t.Fatal(err)
	}
	c.sleep(ctx, 5*time.Second)
	faulty, faultyRounds := blocksIn(window)
	t.Logf("healthy: %d blocks in %s (%.2f blocks/s, blocks per commit round %v); 200ms delay + 5%% loss: %d blocks in %s (%.2f blocks/s, per round %v)",
		base, baseWindow, float64(base)/baseWindow.Seconds(), baseRounds, faulty, window, float64(faulty)/window.Seconds(), faultyRounds)
	// Three message delays (PRE-PREPARE, PREPARE, COMMIT) of 200ms plus the
	// 500ms period put an ideal height near 1.1s; demand a quarter of that
	// rate, so a loaded machine does not fail the test.
	if minBlocks := int64(window.Seconds() / 4.5); faulty < minBlocks {
		t.Fatalf("only %d blocks in %s under 200ms delay and 5%% loss, want at least %d", faulty, window, minBlocks)
	}
	c.waitFor(ctx, time.Minute, "every node within 2 blocks of node 0", func() bool {
		lo, hi := minMax(c.heights(ctx))
		return lo >= 0 && hi-lo <= 2
	})
	low := c.checkAgreement(ctx)
	t.Logf("agreement on heights 1…%d; wall %s", low, time.Since(began).Round(time.Second))
}

// TestFaultCatchUpAfterPartition: a validator cut off for 100 blocks
// catches up by block sync once the network heals and agrees on every
// hash.
func TestFaultCatchUpAfterPartition(t *testing.T) {
	began := time.Now()
	ctx := faultCtx(t, 5*time.Minute)
	c := newNSCluster(t, ctx, 4)

	const gap = 100
	const victim = 3
	if err := c.net.Isolate(ctx, victim); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	h0 := c.height(ctx, 0)
	c.waitFor(ctx, 3*time.Minute, fmt.Sprintf("%d blocks without node %d", gap, victim), func() bool {
		return c.height(ctx, 0) >= h0+gap
	})
	behind := c.height(ctx, victim)
	if behind < 0 || behind > h0+1 {
		t.Fatalf("isolated node %d at height %d, others started from %d", victim, behind, h0)
	}
	head := c.height(ctx, 0)
	t.Logf("%d blocks (%d → %d) in %s with node %d isolated at height %d", head-h0, h0, head, time.Since(cut).Round(time.Millisecond), victim, behind)

	if err := c.net.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	toHead := c.waitFor(ctx, 2*time.Minute, "the isolated node to reach the head at healing", func() bool {
		return c.height(ctx, victim) >= head
	})
	toLive := c.waitFor(ctx, time.Minute, "the isolated node to keep up", func() bool {
		return c.height(ctx, victim) >= c.height(ctx, 0)-1
	})
	low := c.checkAgreement(ctx)
	t.Logf("healed: node %d synced %d blocks in %s (%.0f blocks/s), within a block of the live head %s later; agreement on heights 1…%d; wall %s",
		victim, head-behind, toHead.Round(time.Millisecond), float64(head-behind)/toHead.Seconds(), toLive.Round(time.Millisecond),
		low, time.Since(began).Round(time.Second))
}
