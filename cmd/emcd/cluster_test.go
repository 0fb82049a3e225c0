package main

// Multi-process cluster test: real emcd binaries on 127.0.0.1 (4 validators,
// routers), driven through JSON-RPC only. It kills and restarts validators
// to check liveness with F faults, safety with F+1, recovery and sync.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/internal/procattr"
)

// proc is one emcd node process of a cluster.
type proc struct {
	t       *testing.T
	name    string
	role    string
	datadir string
	rpcURL  string
	logPath string

	cmd    *exec.Cmd
	exited chan struct{}
}

func (p *proc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	args := []string{"--role", p.role, "--datadir", p.datadir, "--log.level", "info"}
	// EMCD_TEST_NODE_ARGS adds flags to every node of the multi-process
	// tests, to rerun them under another setting (e.g. --state.layers 2).
	args = append(args, strings.Fields(os.Getenv("EMCD_TEST_NODE_ARGS"))...)
	cmd := exec.Command(emcdBinary(p.t), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group (kill takes its children too), and SIGKILL
	// when the test binary dies first: a -timeout panic or a kill runs no
	// cleanup, and would otherwise leave the node running.
	cmd.SysProcAttr = procattr.Group()
	if err := procattr.Start(cmd); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
}

func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	select {
	case <-p.exited:
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	p.cmd = nil
}

// stuckGoroutines makes a running node dump its goroutines (SIGQUIT: the
// Go runtime prints them to its log and exits) and returns those blocked
// for a minute or more, outside the runtime's own, as function names only
// (the runtime's frames left out), identical stacks counted once, at most max bytes: what a failed
// multi-process test prints to show where a node hung.
func (p *proc) stuckGoroutines(max int) string {
	if !p.alive() {
		return ""
	}
	size := int64(0)
	if fi, err := os.Stat(p.logPath); err == nil {
		size = fi.Size()
	}
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGQUIT)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
	raw, err := os.ReadFile(p.logPath)
	if err != nil || int64(len(raw)) < size {
		return ""
	}
	return summarizeStuck(string(raw[size:]), max)
}

// summarizeStuck condenses a Go goroutine dump to the goroutines waiting
// for a minute or more whose stack leaves the runtime.
func summarizeStuck(dump string, max int) string {
	type stack struct {
		state string
		count int
	}
	var order []string
	stacks := map[string]*stack{}
	all := 0
	for _, g := range strings.Split(dump, "\n\n") {
		if !strings.HasPrefix(g, "goroutine ") {
			continue
		}
		all++
		lines := strings.Split(g, "\n")
		_, state, _ := strings.Cut(lines[0], "[")
		state = strings.TrimSuffix(strings.TrimSpace(state), "]:")
		if !strings.Contains(state, " minute") {
			continue
		}
		var funcs []string
		own := false
		for _, l := range lines[1:] {
			if l == "" || strings.HasPrefix(l, "\t") {
				continue // a file:line, or the end
			}
			if i := strings.LastIndex(l, "("); i > 0 && !strings.HasPrefix(l, "created by") {
				l = l[:i]
			}
			if strings.HasPrefix(l, "runtime.") || strings.HasPrefix(l, "created by runtime") {
				continue // parking and scheduling frames
			}
			own = true
			funcs = append(funcs, "  "+l)
		}
		if !own {
			continue
		}
		key := strings.Join(funcs, "\n")
		if st := stacks[key]; st != nil {
			st.count++
			continue
		}
		stacks[key] = &stack{state: state, count: 1}
		order = append(order, key)
	}
	var out strings.Builder
	n := 0
	for _, key := range order {
		n += stacks[key].count
		entry := fmt.Sprintf("%d× [%s]\n%s\n", stacks[key].count, stacks[key].state, key)
		if out.Len()+len(entry) <= max {
			out.WriteString(entry)
		}
	}
	return fmt.Sprintf("%d of %d goroutines blocked for a minute or more outside the runtime (%d stacks):\n%s", n, all, len(order), out.String())
}

func (p *proc) alive() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *proc) tail(n int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// height returns the node's head number, or -1 if it does not answer.
func (p *proc) height(ctx context.Context) int64 {
	c, err := ethclient.DialContext(ctx, p.rpcURL)
	if err != nil {
		return -1
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n, err := c.BlockNumber(ctx)
	if err != nil {
		return -1
	}
	return int64(n)
}

func (p *proc) hashAt(ctx context.Context, n uint64) (common.Hash, error) {
	c, err := ethclient.DialContext(ctx, p.rpcURL)
	if err != nil {
		return common.Hash{}, err
	}
	defer c.Close()
	h, err := c.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
	if err != nil {
		return common.Hash{}, err
	}
	return h.Hash(), nil
}

// freeBasePort finds P such that P … P+span are free on 127.0.0.1.
func freeBasePort(t *testing.T, span int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 22000 + (os.Getpid()*37+try*997)%30000
		ok := true
		var lns []net.Listener
		for p := base; p < base+span && ok; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

type cluster struct {
	t     *testing.T
	procs map[string]*proc
	order []string
}

func newCluster(t *testing.T, validators, routers int, period time.Duration) *cluster {
	t.Helper()
	dir := t.TempDir()
	total := validators + routers
	base := freeBasePort(t, total*10)
	out, err := exec.Command(emcdBinary(t), "testnet", "--validators", fmt.Sprint(validators), "--routers", fmt.Sprint(routers),
		"--out", filepath.Join(dir, "net"), "--base-port", fmt.Sprint(base), "--block-period", period.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("emcd testnet: %v\n%s", err, out)
	}
	c := &cluster{t: t, procs: map[string]*proc{}}
	k := 0
	add := func(role string, n int) {
		for i := 1; i <= n; i++ {
			name := fmt.Sprintf("%s-%d", role, i)
			c.procs[name] = &proc{
				t: t, name: name, role: role, datadir: filepath.Join(dir, "net", name),
				rpcURL: fmt.Sprintf("http://127.0.0.1:%d", base+10*k+1), logPath: filepath.Join(dir, name+".log"),
			}
			c.order = append(c.order, name)
			k++
		}
	}
	add("validator", validators)
	add("router", routers)
	t.Cleanup(func() {
		for _, name := range c.order {
			p := c.procs[name]
			if t.Failed() {
				t.Logf("---- %s log tail ----\n%s", name, p.tail(40))
			}
			p.kill()
		}
	})
	return c
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// checkNoFork asserts every answering node reports the same hash at every
// height up to the lowest head.
func (c *cluster) checkNoFork(ctx context.Context, names ...string) uint64 {
	c.t.Helper()
	low := int64(-1)
	for _, n := range names {
		h := c.procs[n].height(ctx)
		if h < 0 {
			c.t.Fatalf("%s does not answer", n)
		}
		if low < 0 || h < low {
			low = h
		}
	}
	for num := uint64(1); num <= uint64(low); num++ {
		var want common.Hash
		for _, n := range names {
			h, err := c.procs[n].hashAt(ctx, num)
			if err != nil {
				c.t.Fatalf("%s block %d: %v", n, num, err)
			}
			if want == (common.Hash{}) {
				want = h
			} else if h != want {
				c.t.Fatalf("FORK at height %d: %s has %s, others %s", num, n, h, want)
			}
		}
	}
	return uint64(low)
}

func TestClusterFaultsAndSync(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := newCluster(t, 4, 2, 500*time.Millisecond)
	all := []string{"validator-1", "validator-2", "validator-3", "validator-4", "router-1"}
	for _, n := range all {
		c.procs[n].start()
	}
	waitFor(t, 60*time.Second, "all nodes past height 3", func() bool {
		for _, n := range all {
			if c.procs[n].height(ctx) < 3 {
				return false
			}
		}
		return true
	})

	// The operator API answers on the testnet's gRPC port (found through the
	// node's config.toml).
	out, err := exec.Command(emcdBinary(t), "operator", "status", "--datadir", c.procs["validator-1"].datadir).CombinedOutput()
	if err != nil {
		t.Fatalf("emcd operator status: %v\n%s", err, out)
	}
	var opStatus struct {
		Consensus struct {
			Engine      string `json:"engine"`
			IsValidator bool   `json:"is_validator"`
		} `json:"consensus"`
		PeerCount int `json:"peer_count"`
	}
	if err := json.Unmarshal(out, &opStatus); err != nil || opStatus.Consensus.Engine != "ibft" || !opStatus.Consensus.IsValidator || opStatus.PeerCount == 0 {
		t.Fatalf("operator status %s (%v)", out, err)
	}
	// The chain services answer too: the four staked validators are the set
	// and the candidates, and the CLI's --json output is the proto's JSON.
	out, err = exec.Command(emcdBinary(t), "operator", "validators", "--json", "--datadir", c.procs["validator-1"].datadir).CombinedOutput()
	if err != nil {
		t.Fatalf("emcd operator validators: %v\n%s", err, out)
	}
	var opVals struct {
		Validators []struct {
			Address  string `json:"address"`
			Owner    string `json:"owner"`
			StakeWei string `json:"stake_wei"`
		} `json:"validators"`
		Candidates []struct {
			InSet bool `json:"in_set"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal(out, &opVals); err != nil || len(opVals.Validators) != 4 || len(opVals.Candidates) != 4 {
		t.Fatalf("operator validators %s (%v)", out, err)
	}
	for i, v := range opVals.Validators {
		if v.Owner == "" || v.StakeWei == "0" || !opVals.Candidates[i].InSet {
			t.Fatalf("operator validators: entry %d without a staked position: %s", i, out)
		}
	}
	if out, err := exec.Command(emcdBinary(t), "operator", "jobs", "7", "--datadir", c.procs["validator-1"].datadir).CombinedOutput(); err == nil || !strings.Contains(string(out), "NotFound") {
		t.Fatalf("emcd operator jobs 7 on a chain without jobs: %v\n%s", err, out)
	}

	// Transactions sent to the router are committed everywhere.
	router, err := ethclient.DialContext(ctx, c.procs["router-1"].rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer router.Close()
	keys, _ := genesis.DevAccountKeys(1)
	chainID, err := router.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	to := common.HexToAddress("0x00000000000000000000000000000000000c0ffe")
	var last *types.Transaction
	for i := uint64(0); i < 20; i++ {
		tx, _ := types.SignNewTx(keys[0], types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
			ChainID: chainID, Nonce: i, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(50e9), Gas: 21000, To: &to, Value: big.NewInt(1),
		})
		if err := router.SendTransaction(ctx, tx); err != nil {
			t.Fatalf("send tx %d to router: %v", i, err)
		}
		last = tx
	}
	waitFor(t, 60*time.Second, "router's transactions committed", func() bool {
		r, err := router.TransactionReceipt(ctx, last.Hash())
		return err == nil && r.Status == types.ReceiptStatusSuccessful
	})
	for _, n := range all {
		cl, err := ethclient.DialContext(ctx, c.procs[n].rpcURL)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, n+" sees the balance", func() bool {
			b, err := cl.BalanceAt(ctx, to, nil)
			return err == nil && b.Int64() == 20
		})
		cl.Close()
	}
	c.checkNoFork(ctx, all...)

	// One validator down (F = 1): blocks keep coming.
	c.procs["validator-4"].kill()
	h := c.procs["validator-1"].height(ctx)
	waitFor(t, 60*time.Second, "progress with one validator down", func() bool {
		return c.procs["validator-1"].height(ctx) >= h+5
	})

	// Two down (F+1): no block is committed, and no node forks.
	c.procs["validator-3"].kill()
	time.Sleep(3 * time.Second) // let an in-flight height finish
	stalled := c.procs["validator-1"].height(ctx)
	time.Sleep(5 * time.Second)
	for _, n := range []string{"validator-1", "validator-2", "router-1"} {
		if got := c.procs[n].height(ctx); got > stalled {
			t.Fatalf("%s committed height %d with only 2 of 4 validators up (stalled at %d)", n, got, stalled)
		}
	}
	c.checkNoFork(ctx, "validator-1", "validator-2", "router-1")

	// Restart one: the chain resumes.
	c.procs["validator-3"].start()
	waitFor(t, 60*time.Second, "chain resumes after a restart", func() bool {
		return c.procs["validator-1"].height(ctx) >= stalled+3
	})
	// Restart the other: it catches up by sync.
	c.procs["validator-4"].start()
	waitFor(t, 90*time.Second, "validator-4 catches up", func() bool {
		return c.procs["validator-4"].height(ctx) >= c.procs["validator-1"].height(ctx)-1
	})
	// A fresh non-validator started now syncs from genesis to the head.
	c.procs["router-2"].start()
	waitFor(t, 90*time.Second, "router-2 syncs to the head", func() bool {
		h := c.procs["router-2"].height(ctx)
		return h > 0 && h >= c.procs["validator-1"].height(ctx)-1
	})
	c.checkNoFork(ctx, "validator-1", "validator-2", "validator-3", "validator-4", "router-1", "router-2")
	for _, n := range c.order {
		if !c.procs[n].alive() {
			t.Fatalf("%s died:\n%s", n, c.procs[n].tail(30))
		}
	}
}
