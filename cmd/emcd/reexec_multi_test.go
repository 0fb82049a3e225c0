package main

// Re-execution on a multi-process testnet: real emcd binaries on 127.0.0.1
// — 1 validator, 1 router, 2 compute nodes with 1 simulated GPU each, the
// process executor — written by `emcd testnet`, where compute-1 runs with
// the hidden test-only fault injection (`fault = "wrong-output"` in its
// [compute] config: --compute.fault) and so reports wrong outputs for
// deterministic jobs. Every deterministic result is sampled (sampleBps
// 10,000) and re-executed by the other node; with two nodes a disagreement
// is a tie, so the submitter, who knows what each job must output,
// downloads each result and disputes a wrong one, as a real user would
// (the genesis turns disputeTieBreak on, so the dispute decides the tie).
// The test checks that the cheater is slashed (its compute stake shrinks
// by computeSlashBps) and jailed within 3 epochs of its job's submission,
// that the cheater's job is refunded, that the honest node's jobs settle
// and pay it (and earn it trade rewards), that the jobs' books balance to
// the wei and that the jobs module holds nothing at the end.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/state/native"
)

// reexecJobsParams: short deadlines for a 500 ms block testnet, every
// deterministic result sampled, a dispute window long enough for the
// submitter to download and compare, a jail that outlasts the test, and
// the tiny-network tie break asked for (disputeTieBreak, off by default):
// with two compute nodes the submitter's dispute of a tie fails the
// provider.
const reexecJobsParams = `{"offerDelayBlocks":1,"offerWindowBlocks":2,"assignBlocks":30,"acceptBlocks":6,"resultGraceSeconds":2,` +
	`"disputeBlocks":30,"sampleBps":10000,"newNodeSampleBps":10000,"jailBlocks":2000,"disputeTieBreak":true}`

const reexecEpochLength = 20

func TestReexecMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir := t.TempDir()

	// The deterministic program: its output depends on its argument only.
	prog := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho \"answer $1\" > \"$EMC_OUTPUT_DIR/out.txt\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := func(arg string) string { return "answer " + arg + "\n" }
	r := runCLI(t, "compute", "images", "load", prog, "--executor", "process", "--datadir", filepath.Join(dir, "loader"), "--json")
	var loaded imagesLoadResult
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &loaded) != nil || len(loaded.Images) != 1 {
		t.Fatalf("images load: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	img := loaded.Images[0]

	const validators, routers, computes = 1, 1, 2
	base := freeBasePort(t, (validators+routers+computes)*10)
	net := filepath.Join(dir, "net")
	outb, err := exec.Command(emcdBinary(t), "testnet", "--validators", fmt.Sprint(validators), "--routers", fmt.Sprint(routers),
		"--compute", fmt.Sprint(computes), "--gpu.simulated", "1", "--compute.executor", "process", "--compute.image", img,
		"--jobs.params", reexecJobsParams, "--epoch-length", fmt.Sprint(reexecEpochLength), "--block-period", "500ms",
		"--out", net, "--base-port", fmt.Sprint(base)).CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("emcd testnet: %v\n%s", err, out)
	}
	addrs := map[string]common.Address{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && common.IsHexAddress(f[1]) {
			addrs[f[0]] = common.HexToAddress(f[1])
		}
	}
	for i := 1; i <= computes; i++ {
		dd := filepath.Join(net, fmt.Sprintf("compute-%d", i))
		if r := runCLI(t, "compute", "images", "load", prog, "--executor", "process", "--datadir", dd, "--json"); r.code != 0 {
			t.Fatalf("images load: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	// compute-1 cheats: the [compute] section is its config's last.
	cfgPath := filepath.Join(net, "compute-1", "config.toml")
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("fault = \"wrong-output\"\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cheater, honest := addrs["compute-1"], addrs["compute-2"]

	c := &cluster{t: t, procs: map[string]*proc{}}
	k := 0
	for _, g := range []struct {
		role string
		n    int
	}{{"validator", validators}, {"router", routers}, {"compute", computes}} {
		for i := 1; i <= g.n; i++ {
			name := fmt.Sprintf("%s-%d", g.role, i)
			c.procs[name] = &proc{t: t, name: name, role: g.role, datadir: filepath.Join(net, name),
				rpcURL: fmt.Sprintf("http://127.0.0.1:%d", base+10*k+1), logPath: filepath.Join(dir, name+".log")}
			c.order = append(c.order, name)
			k++
		}
	}
	t.Cleanup(func() {
		for _, name := range c.order {
			p := c.procs[name]
			if t.Failed() {
				t.Logf("---- %s log tail (no block lines) ----\n%s", name, logTail(p.logPath, 40))
				if g := p.stuckGoroutines(16 << 10); g != "" {
					t.Logf("---- %s goroutines ----\n%s", name, g)
				}
			}
			p.kill()
		}
	})
	for _, name := range c.order {
		c.procs[name].start()
	}
	val, router := c.procs["validator-1"], c.procs["router-1"]
	waitFor(t, 60*time.Second, "every node past block 2", func() bool {
		for _, name := range c.order {
			if c.procs[name].height(ctx) < 2 {
				return false
			}
		}
		return true
	})
	if log, _ := os.ReadFile(c.procs["compute-1"].logPath); !strings.Contains(string(log), "FAULT INJECTION") {
		t.Fatalf("compute-1 does not run with the fault injection")
	}
	if log, _ := os.ReadFile(c.procs["compute-2"].logPath); strings.Contains(string(log), "FAULT INJECTION") {
		t.Fatalf("compute-2 runs with the fault injection")
	}
	ec, err := ethclient.DialContext(ctx, val.rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	rc, err := rpc.DialContext(ctx, val.rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	// The router stakes; both compute nodes stake 100 EMC for the compute
	// role (what a slash takes from) and register themselves.
	if r := runCLI(t, "stake", "add", "--role", "router", "--amount", "100000", "--datadir", router.datadir, "--rpc", val.rpcURL, "--json"); r.code != 0 {
		t.Fatalf("router stake: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for i := 1; i <= computes; i++ {
		dd := filepath.Join(net, fmt.Sprintf("compute-%d", i))
		if r := runCLI(t, "stake", "add", "--role", "compute", "--amount", "100", "--datadir", dd, "--rpc", val.rpcURL, "--json"); r.code != 0 {
			t.Fatalf("compute stake: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	waitFor(t, 90*time.Second, "2 compute nodes registered and a staked router", func() bool {
		var cn jsonrpc.ComputeNodes
		if err := rc.CallContext(ctx, &cn, "emc_computeNodes"); err != nil {
			return false
		}
		staked := 0
		for _, r := range cn.Routers {
			if r.Staked && r.Owner == addrs["router-1"] {
				staked++
			}
		}
		return len(cn.Nodes) == computes && staked == 1
	})
	stakeOf := func(a common.Address, block *big.Int) *big.Int {
		t.Helper()
		var p jsonrpc.StakePosition
		var bn any = "latest"
		if block != nil {
			bn = hexutil.EncodeBig(block)
		}
		if err := rc.CallContext(ctx, &p, "emc_stakeOf", a, bn); err != nil || p.Amount == nil {
			t.Fatalf("emc_stakeOf %s: %v", a.Hex(), err)
		}
		return p.Amount.ToInt()
	}
	cheaterStake := stakeOf(cheater, nil)
	if cheaterStake.Sign() == 0 {
		t.Fatalf("the cheater has no compute stake")
	}
	getJob := func(id uint64) jsonrpc.Job {
		t.Helper()
		var j *jsonrpc.Job
		if err := rc.CallContext(ctx, &j, "emc_getJob", hexutil.Uint64(id)); err != nil || j == nil {
			t.Fatalf("emc_getJob %d: %v", id, err)
		}
		return *j
	}
	a, err := jobsABI()
	if err != nil {
		t.Fatal(err)
	}
	faultsAt := func(node common.Address, block *big.Int) jobs.Faults {
		t.Helper()
		data, err := a.Pack("faultsOf", node)
		if err != nil {
			t.Fatal(err)
		}
		to := native.JobsAddress
		res, err := ec.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, block)
		if err != nil {
			t.Fatalf("faultsOf: %v", err)
		}
		v, err := a.Unpack("faultsOf", res)
		if err != nil || len(v) != 9 {
			t.Fatalf("faultsOf: %d outputs, %v", len(v), err)
		}
		return jobs.Faults{Slashes: v[0].(uint64), Jails: v[2].(uint64), JailedUntil: v[3].(uint64), Passed: v[4].(uint64),
			Failed: v[5].(uint64), TimedOut: v[6].(uint64), Reexecs: v[7].(uint64), Unresolved: v[8].(uint64)}
	}

	// Deterministic jobs, two at a time, until each node has run one (and
	// the cheater's has been disputed): each job's output is downloaded
	// through the router and compared with what it must be.
	type tracked struct {
		id        uint64
		arg       string
		node      common.Address
		disputed  bool
		checked   bool // its output was right
		submitted uint64
		escrow    *big.Int
	}
	var all []*tracked
	ran := map[common.Address]int{}
	submit := func(arg string) *tracked {
		t.Helper()
		r := runCLI(t, "job", "submit", "--rpc", val.rpcURL, "--dev-account", "3", "--image", img, "--escrow", "0.001",
			"--run-timeout", "20s", "--deterministic", "--json", "--", arg)
		v := decodeTxJSON(t, r)
		if r.code != 0 || v.Status != "success" {
			t.Fatalf("submit: exit %d %+v\n%s", r.code, v, r.stderr)
		}
		escrow, _ := new(big.Int).SetString(v.ValueWei, 10)
		return &tracked{id: uint64(v.Result["id"].(float64)), arg: arg, submitted: *v.BlockNumber, escrow: escrow}
	}
	ended := func(s string) bool { return s == "settled" || s == "refunded" || s == "expired" || s == "cancelled" }
	open := func() int {
		n := 0
		for _, tj := range all {
			if !ended(getJob(tj.id).State) {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(4 * time.Minute)
	n := 0
	for ran[cheater] == 0 || ran[honest] == 0 || open() > 0 {
		if time.Now().After(deadline) {
			var states []string
			for _, tj := range all {
				j := getJob(tj.id)
				states = append(states, fmt.Sprintf("%d:%s", tj.id, j.State))
			}
			t.Fatalf("not done in time: ran %v, jobs %v", ran, states)
		}
		if (ran[cheater] == 0 || ran[honest] == 0) && open() < 2 && n < 8 {
			n++
			all = append(all, submit(fmt.Sprint(n)))
		}
		for _, tj := range all {
			j := getJob(tj.id)
			if j.Node != nil && tj.node == (common.Address{}) && j.ResultHash != nil {
				tj.node = *j.Node
				ran[tj.node]++
			}
			if tj.disputed || tj.checked || j.ResultHash == nil || (j.State != "completed" && j.State != "failed") {
				continue
			}
			resDir := filepath.Join(dir, fmt.Sprintf("result-%d", tj.id))
			_ = os.RemoveAll(resDir)
			r := runCLI(t, "job", "result", fmt.Sprint(tj.id), "--out", resDir, "--rpc", router.rpcURL, "--dev-account", "3", "--json")
			if r.code != 0 {
				continue // the node may still be saving it; asked again
			}
			got, err := os.ReadFile(filepath.Join(resDir, "outputs", "out.txt"))
			if err == nil && string(got) == want(tj.arg) {
				tj.checked = true
				continue
			}
			r = runCLI(t, "job", "dispute", fmt.Sprint(tj.id), "--bond", "1", "--rpc", val.rpcURL, "--dev-account", "3", "--json")
			if v := decodeTxJSON(t, r); r.code == 0 && v.Status == "success" {
				tj.disputed = true
				t.Logf("job %d: output %q, want %q: disputed in block %d", tj.id, got, want(tj.arg), *v.BlockNumber)
			} else {
				t.Logf("job %d: dispute refused (%s), asked again", tj.id, v.RevertReason)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}

	// The cheater: slashed computeSlashBps of its stake and jailed, within
	// 3 epochs of its first job's submission.
	head, err := ec.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var first *tracked
	for _, tj := range all {
		if tj.node == cheater && first == nil {
			first = tj
		}
	}
	if first == nil || !first.disputed {
		t.Fatalf("the cheater's job was not disputed: %+v", first)
	}
	slashBlock := uint64(0)
	for b := first.submitted; b <= head; b++ {
		if faultsAt(cheater, new(big.Int).SetUint64(b)).Slashes > 0 {
			slashBlock = b
			break
		}
	}
	if slashBlock == 0 || slashBlock-first.submitted > 3*reexecEpochLength {
		t.Fatalf("cheater slashed in block %d, its job submitted in block %d: want within %d blocks", slashBlock, first.submitted, 3*reexecEpochLength)
	}
	fc := faultsAt(cheater, nil)
	if fc.Slashes < 1 || fc.Jails < 1 || fc.JailedUntil <= head {
		t.Fatalf("cheater faults %+v at block %d", fc, head)
	}
	// Each wrong job is its own fault: when two of the cheater's jobs are
	// decided in one block it is slashed twice there, each slash taking
	// computeSlashBps of what the one before left.
	slashes := faultsAt(cheater, new(big.Int).SetUint64(slashBlock)).Slashes
	wantStake := new(big.Int).Set(cheaterStake)
	for i := uint64(0); i < slashes; i++ {
		wantStake.Sub(wantStake, new(big.Int).Div(new(big.Int).Mul(wantStake, big.NewInt(int64(jobs.DefaultComputeSlashBps))), big.NewInt(10_000)))
	}
	if got := stakeOf(cheater, new(big.Int).SetUint64(slashBlock)); got.Cmp(wantStake) != 0 {
		t.Fatalf("cheater's stake after %d slash(es) in block %d: %s, want %s (was %s)", slashes, slashBlock, got, wantStake, cheaterStake)
	}
	if fh := faultsAt(honest, nil); fh.Slashes != 0 || fh.Jails != 0 {
		t.Fatalf("honest node faults %+v", fh)
	}

	// The jobs: the cheater's are refunded whole; the honest node's
	// settle, paying it; every job's books balance to the wei.
	honestPaid := new(big.Int)
	for _, tj := range all {
		j := getJob(tj.id)
		cost, refund, burned := weiOf(j.Cost), weiOf(j.Refund), weiOf(j.Burned)
		switch {
		case tj.node == cheater && tj.disputed:
			if j.State != "refunded" || refund.Cmp(tj.escrow) != 0 || cost.Sign() != 0 {
				t.Fatalf("cheater's job %d: %s cost %s refund %s, escrow %s", tj.id, j.State, cost, refund, tj.escrow)
			}
		case tj.node == honest:
			if j.State != "settled" || cost.Sign() == 0 || new(big.Int).Add(cost, refund).Cmp(tj.escrow) > 0 {
				t.Fatalf("honest job %d: %s cost %s refund %s, escrow %s", tj.id, j.State, cost, refund, tj.escrow)
			}
			honestPaid.Add(honestPaid, new(big.Int).Sub(cost, burned))
		}
	}
	if honestPaid.Sign() == 0 {
		t.Fatalf("the honest node was paid nothing")
	}
	if bal, err := ec.BalanceAt(ctx, native.JobsAddress, nil); err != nil || bal.Sign() != 0 {
		t.Fatalf("jobs module holds %s after every job ended (%v)", bal, err)
	}
	// Supply exact to the wei: at one block, the balances of every account
	// of the genesis (validators, router, compute nodes, dev accounts,
	// reserve: every account this test moves wei between) sum to the
	// circulating supply (total − burned − module-held).
	g, err := genesis.FromFile(filepath.Join(net, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	at, err := ec.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sup jsonrpc.Supply
	if err := rc.CallContext(ctx, &sup, "emc_supply", hexutil.EncodeUint64(at)); err != nil {
		t.Fatalf("emc_supply: %v", err)
	}
	accounts := map[common.Address]bool{}
	for addr := range g.Alloc {
		accounts[addr] = true
	}
	if g.Reserve != nil {
		accounts[*g.Reserve] = true
	}
	sum := new(big.Int)
	for addr := range accounts {
		bal, err := ec.BalanceAt(ctx, addr, new(big.Int).SetUint64(at))
		if err != nil {
			t.Fatal(err)
		}
		sum.Add(sum, bal)
	}
	if sum.Cmp(weiOf(sup.Circulating)) != 0 {
		t.Fatalf("block %d: Σ balances %s, circulating %s (total %s, burned %s, module-held %s): off by %s", at, sum,
			weiOf(sup.Circulating), weiOf(sup.Total), weiOf(sup.Burned), weiOf(sup.ModuleHeld), new(big.Int).Sub(sum, weiOf(sup.Circulating)))
	}
	// The honest node earns its credits (10 a settled job, into the
	// rewards module's epoch ledger) and, once that epoch is settled, a
	// node reward from them (a compute node earns credits from nothing
	// else here); and trade rewards for its settled jobs (vesting or
	// vested).
	var rw jsonrpc.Rewards
	waitFor(t, 90*time.Second, "the honest node's node reward and trade rewards", func() bool {
		if err := rc.CallContext(ctx, &rw, "emc_rewardsOf", honest); err != nil {
			return false
		}
		return weiOf(rw.Node).Sign() > 0 && (weiOf(rw.Trade).Sign() > 0 || weiOf(rw.TradeVesting).Sign() > 0)
	})
	t.Logf("honest node %s: node reward %s wei (from its job credits), trade rewards %s vested + %s vesting", honest.Hex(),
		weiOf(rw.Node), weiOf(rw.Trade), weiOf(rw.TradeVesting))
	t.Logf("jobs %d, ran %v, cheater slashed in block %d (job submitted in %d), honest node paid %s wei", len(all), ran, slashBlock,
		first.submitted, honestPaid)
}

func weiOf(b *hexutil.Big) *big.Int {
	if b == nil {
		return new(big.Int)
	}
	return b.ToInt()
}
