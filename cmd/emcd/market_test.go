package main

// The compute market on a multi-process testnet: real emcd binaries on
// 127.0.0.1 — 4 validators, 1 router, 2 compute nodes with 2 simulated
// GPUs each — written by `emcd testnet` and
// driven through JSON-RPC and the CLI. It shows the whole loop: 20 jobs
// settle with every balance exact to the wei, a compute node killed
// mid-job has its job reassigned and completed, a job no node can fit
// expires refunded, a result comes down through the router, and it logs
// where the blocks go (submit → assign → accept → result → settle) and the
// jobs per second. The job is a static Go binary built by the test:
// TestMarketMultiProcess runs it with the process executor (loaded with
// `emcd compute images load --executor process`; no Docker needed),
// TestMarketMultiProcessDocker in an image FROM scratch where a Docker
// daemon answers.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/state/native"
)

// marketProgram is the job the compute nodes run, built by the test as a
// static binary: sleep os.Args[1] seconds, then write os.Args[2] to the
// output file out.txt (followed by ":" and the content of the input file
// os.Args[3], when given). The process executor runs it as it is; the Docker
// executor in an image FROM scratch.
const marketProgram = `package main

import (
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	s, err := strconv.ParseFloat(os.Args[1], 64)
	if err != nil {
		os.Exit(2)
	}
	time.Sleep(time.Duration(s * float64(time.Second)))
	out := os.Args[2]
	if len(os.Args) > 3 {
		in, err := os.ReadFile(filepath.Join(os.Getenv("EMC_INPUT_DIR"), os.Args[3]))
		if err != nil {
			os.Exit(4)
		}
		out += ":" + string(in)
	}
	if err := os.WriteFile(filepath.Join(os.Getenv("EMC_OUTPUT_DIR"), "out.txt"), []byte(out+"\n"), 0o644); err != nil {
		os.Exit(3)
	}
}
`

// buildMarketProgram builds marketProgram statically into dir/job.
func buildMarketProgram(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"main.go": marketProgram, "go.mod": "module marketjob\n\ngo 1.21\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "job")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the job program: %v\n%s", err, out)
	}
	return bin
}

// dockerImage packs bin into an image FROM scratch (entrypoint /app/job:
// the executor mounts the job's directories under /job) and
// saves it as dir/image.tar.
func dockerImage(t *testing.T, dir, bin string) string {
	t.Helper()
	ctxDir := filepath.Join(dir, "image")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "job"), raw, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY job /app/job\nENTRYPOINT [\"/app/job\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("emcd-market-test:%d", os.Getpid())
	tar := filepath.Join(dir, "image.tar")
	for _, args := range [][]string{{"build", "-q", "-t", tag, ctxDir}, {"save", "-o", tar, tag}, {"rmi", tag}} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
	}
	return tar
}

// marketJobsParams are short deadlines for a 500 ms block testnet.
const marketJobsParams = `{"offerDelayBlocks":1,"offerWindowBlocks":2,"assignBlocks":30,"acceptBlocks":6,"resultGraceSeconds":2,"disputeBlocks":2}`

func TestMarketMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	testMarket(t, "process")
}

// TestMarketMultiProcessDocker is the same with the Docker executor, where
// a Docker daemon answers.
func TestMarketMultiProcessDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("no Docker daemon answers (%v): TestMarketMultiProcess covers the loop with the process executor", err)
	}
	testMarket(t, "docker")
}

func testMarket(t *testing.T, executor string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	testStart := time.Now()
	dir := t.TempDir()

	// The job program and its digest: the program's sha256 (process
	// executor) or the image ID (Docker), as images load prints it.
	prog := buildMarketProgram(t, dir)
	load := prog
	if executor == "docker" {
		load = dockerImage(t, dir, prog)
	}
	r := runCLI(t, "compute", "images", "load", load, "--executor", executor, "--datadir", filepath.Join(dir, "loader"), "--json")
	var loaded imagesLoadResult
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &loaded) != nil || len(loaded.Images) != 1 {
		t.Fatalf("images load: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	img := loaded.Images[0]
	imgHash := common.HexToHash(strings.TrimPrefix(img, "sha256:"))
	if executor == "docker" {
		t.Cleanup(func() {
			// The killed node's container outlives it (its agent would
			// remove it on restart): remove every container of the image.
			if ids, err := exec.Command("docker", "ps", "-aq", "--filter", "ancestor="+img).Output(); err == nil && len(strings.Fields(string(ids))) > 0 {
				_ = exec.Command("docker", append([]string{"rm", "-f"}, strings.Fields(string(ids))...)...).Run()
			}
			_ = exec.Command("docker", "rmi", "-f", img).Run()
		})
	}

	// The testnet: 4 validators, 1 router, 2 compute nodes with 2
	// simulated GPUs each, the process executor.
	const validators, routers, computes = 4, 1, 2
	base := freeBasePort(t, (validators+routers+computes)*10)
	net := filepath.Join(dir, "net")
	c, addrs := startTestnetProcs(t, dir, net, base, validators, routers, computes, executor, img, prog,
		"--gpu.simulated", "2", "--jobs.params", marketJobsParams, "--epoch-length", "20", "--block-period", "500ms")
	val := c.procs["validator-1"]
	router := c.procs["router-1"]
	waitFor(t, 60*time.Second, "every node past block 2", func() bool {
		for _, name := range c.order {
			if c.procs[name].height(ctx) < 2 {
				return false
			}
		}
		return true
	})
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

	// The router stakes its minimum from its own account; it registers and
	// routes from the next epoch. The compute nodes register themselves.
	if r := runCLI(t, "stake", "add", "--role", "router", "--amount", "100000", "--datadir", router.datadir, "--rpc", val.rpcURL, "--json"); r.code != 0 {
		t.Fatalf("router stake: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	waitFor(t, 60*time.Second, "2 compute nodes registered and a staked router", func() bool {
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
	t.Logf("market ready at %s", time.Since(testStart).Round(time.Millisecond))

	keys, err := genesis.DevAccountKeys(4)
	if err != nil {
		t.Fatal(err)
	}
	submitter := keys[3]
	subAddr := crypto.PubkeyToAddress(submitter.PublicKey)
	providers := []common.Address{addrs["compute-1"], addrs["compute-2"]}
	head0, err := ec.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bal := func(a common.Address, n uint64) *big.Int {
		t.Helper()
		b, err := ec.BalanceAt(ctx, a, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	subStart := bal(subAddr, head0)
	provStart := []*big.Int{bal(providers[0], head0), bal(providers[1], head0)}

	getJob := func(id uint64) jsonrpc.Job {
		t.Helper()
		var j *jsonrpc.Job
		if err := rc.CallContext(ctx, &j, "emc_getJob", hexutil.Uint64(id)); err != nil || j == nil {
			t.Fatalf("emc_getJob %d: %v", id, err)
		}
		return *j
	}
	wei := func(b *hexutil.Big) *big.Int {
		if b == nil {
			return new(big.Int)
		}
		return b.ToInt()
	}
	ended := func(s string) bool { return slices.Contains([]string{"settled", "expired", "cancelled"}, s) }

	// 1. 20 trivial jobs (1 GPU each, at most 30 s), sent at once.
	a, err := jobsABI()
	if err != nil {
		t.Fatal(err)
	}
	price := big.NewInt(2_000_000_000_000) // 2 × the nodes' 10^12 wei per GPU-second
	escrow := new(big.Int).Mul(price, big.NewInt(30))
	chainID, err := ec.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := ec.PendingNonceAt(ctx, subAddr)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(args []string, timeout uint64) common.Hash {
		t.Helper()
		spec := jobs.Spec{Image: imgHash, Args: args, GPUs: 1, TimeoutSeconds: timeout, OutputCapBytes: 1 << 20}
		raw, err := spec.Encode()
		if err != nil {
			t.Fatal(err)
		}
		data, err := a.Pack("submitJob", raw, price)
		if err != nil {
			t.Fatal(err)
		}
		to := native.JobsAddress
		gas, err := ec.EstimateGas(ctx, ethereum.CallMsg{From: subAddr, To: &to, Value: escrow, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		tip, err := ec.SuggestGasTipCap(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := ec.HeaderByNumber(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		tx := types.MustSignNewTx(submitter, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
			ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: new(big.Int).Add(tip, new(big.Int).Mul(hdr.BaseFee, big.NewInt(2))),
			Gas: gas * 3 / 2, To: &to, Value: escrow, Data: data,
		})
		if err := ec.SendTransaction(ctx, tx); err != nil {
			t.Fatal(err)
		}
		nonce++
		return tx.Hash()
	}
	receipt := func(h common.Hash) *types.Receipt {
		t.Helper()
		for {
			r, err := ec.TransactionReceipt(ctx, h)
			if err == nil {
				if r.Status != types.ReceiptStatusSuccessful {
					t.Fatalf("tx %s failed", h.Hex())
				}
				return r
			}
			select {
			case <-ctx.Done():
				t.Fatalf("tx %s not mined", h.Hex())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	const nJobs = 20
	loopStart := time.Now()
	var hashes []common.Hash
	for i := 1; i <= nJobs; i++ {
		hashes = append(hashes, submit([]string{"0", fmt.Sprintf("job-%d", i)}, 30))
	}
	subFees := new(big.Int)
	var ids []uint64
	for _, h := range hashes {
		r := receipt(h)
		subFees.Add(subFees, new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice))
		for _, l := range r.Logs {
			if l.Address == native.JobsAddress && l.Topics[0] == a.Events["JobSubmitted"].ID {
				ids = append(ids, new(big.Int).SetBytes(l.Topics[1].Bytes()).Uint64())
			}
		}
	}
	if len(ids) != nJobs {
		t.Fatalf("%d JobSubmitted events, want %d", len(ids), nJobs)
	}
	// A job no node can fit: 3 GPUs, every node has 2 (through the CLI).
	r = runCLI(t, "job", "submit", "--rpc", val.rpcURL, "--dev-account", "3", "--image", img, "--gpus", "3",
		"--run-timeout", "30s", "--escrow", "0.001", "--json", "--", "0", "unfit")
	v := decodeTxJSON(t, r)
	if r.code != 0 || v.Status != "success" {
		t.Fatalf("submit unfit: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	unfitID := uint64(v.Result["id"].(float64))
	unfitEscrow, _ := new(big.Int).SetString(v.ValueWei, 10)
	subFees.Add(subFees, feeOf(t, ec, *v.TxHash))

	settledBy := time.Now().Add(120 * time.Second)
	for {
		var states []string
		for _, id := range ids {
			if st := getJob(id).State; st != "settled" {
				states = append(states, fmt.Sprintf("%d:%s", id, st))
			}
		}
		if len(states) == 0 {
			break
		}
		if time.Now().After(settledBy) {
			t.Fatalf("timed out waiting for 20 jobs settled: %v", states)
		}
		time.Sleep(200 * time.Millisecond)
	}
	loopTime := time.Since(loopStart)

	// 2. A compute node killed mid-job: a 4 s job; once it runs, SIGKILL
	// its node; the job comes back at its result deadline and the other
	// node completes it.
	if nonce, err = ec.PendingNonceAt(ctx, subAddr); err != nil { // the CLI sent one
		t.Fatal(err)
	}
	// An idle market first: the router's live table shows every GPU free
	// (a node publishes a changed free count within MinPublishInterval),
	// so the kill job also measures the idle latency below.
	routerRPC, err := rpc.DialContext(ctx, router.rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer routerRPC.Close()
	waitFor(t, 30*time.Second, "the router's live table showing 4 free GPUs", func() bool {
		var live []heartbeat.Node
		if err := routerRPC.CallContext(ctx, &live, "emc_liveNodes"); err != nil {
			return false
		}
		free := uint32(0)
		for _, n := range live {
			free += n.Latest.FreeGPUs
		}
		return len(live) == computes && free == computes*2
	})
	killTx := submit([]string{"4", "survivor"}, 15)
	var killID uint64
	kr := receipt(killTx)
	subFees.Add(subFees, new(big.Int).Mul(new(big.Int).SetUint64(kr.GasUsed), kr.EffectiveGasPrice))
	for _, l := range kr.Logs {
		if l.Topics[0] == a.Events["JobSubmitted"].ID {
			killID = new(big.Int).SetBytes(l.Topics[1].Bytes()).Uint64()
		}
	}
	var victim common.Address
	waitFor(t, 30*time.Second, "the kill job running", func() bool {
		j := getJob(killID)
		if j.State == "running" && j.Node != nil {
			victim = *j.Node
			return true
		}
		return false
	})
	victimName := "compute-1"
	if victim == providers[1] {
		victimName = "compute-2"
	}
	c.procs[victimName].kill()
	t.Logf("killed %s (%s) running job %d", victimName, victim.Hex(), killID)
	waitFor(t, 90*time.Second, "the kill job settled elsewhere", func() bool { return ended(getJob(killID).State) })
	kj := getJob(killID)
	if kj.State != "settled" || kj.Node == nil || *kj.Node == victim || uint64(kj.Attempts) < 2 || kj.Exit != 0 {
		t.Fatalf("kill job: %+v (victim %s)", kj, victim.Hex())
	}

	// 3. The unfit job expires, refunded in full.
	waitFor(t, 60*time.Second, "the unfit job ended", func() bool { return ended(getJob(unfitID).State) })
	uj := getJob(unfitID)
	if uj.State != "expired" || wei(uj.Refund).Cmp(unfitEscrow) != 0 || uj.Node != nil {
		t.Fatalf("unfit job: %+v", uj)
	}

	// 4. A result through the router, every hash checked by the CLI; the
	// output is the job's. A result held by the killed node is refused
	// with a clear reason.
	resIdx, deadIdx := -1, -1
	for i, id := range ids {
		if j := getJob(id); *j.Node == victim {
			deadIdx = i
		} else if resIdx < 0 {
			resIdx = i
		}
	}
	if resIdx < 0 {
		t.Fatalf("every job ran on the killed node %s", victim.Hex())
	}
	resDir := filepath.Join(dir, "result")
	r = runCLI(t, "job", "result", fmt.Sprint(ids[resIdx]), "--out", resDir, "--rpc", router.rpcURL, "--dev-account", "3", "--json")
	if r.code != 0 {
		t.Fatalf("job result: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	jr := getJob(ids[resIdx])
	if got, err := os.ReadFile(filepath.Join(resDir, "outputs", "out.txt")); err != nil || string(got) != fmt.Sprintf("job-%d\n", resIdx+1) {
		t.Fatalf("downloaded out.txt %q, %v\n%s", got, err, r.stdout)
	}
	if jr.ResultHash == nil || !strings.Contains(r.stdout, strings.TrimPrefix(jr.ResultHash.Hex(), "0x")) {
		t.Fatalf("result summary %s does not name the on-chain record %v", r.stdout, jr.ResultHash)
	}
	if deadIdx >= 0 {
		r = runCLI(t, "job", "result", fmt.Sprint(ids[deadIdx]), "--out", filepath.Join(dir, "dead"), "--rpc", router.rpcURL, "--dev-account", "3")
		if r.code != 1 || !strings.Contains(r.stderr, "cannot reach the compute node") {
			t.Fatalf("result held by the killed node: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}

	// 5. Every balance to the wei. The submitter: − escrows − fees +
	// refunds. Each provider: + 80 % of its jobs' cost − its own fees
	// (registration, pings, accepts, results) over the same blocks. Each
	// job: cost + refund = escrow, burned = cost − provider share.
	head1, err := ec.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := append(append([]uint64{}, ids...), killID, unfitID)
	wantSub := new(big.Int).Sub(subStart, subFees)
	wantProv := []*big.Int{new(big.Int).Set(provStart[0]), new(big.Int).Set(provStart[1])}
	for _, id := range all {
		j := getJob(id)
		if !ended(j.State) || uint64(j.EndBlock) > head1 {
			t.Fatalf("job %d not ended by block %d: %+v", id, head1, j)
		}
		wantSub.Sub(wantSub, wei(j.Escrow))
		wantSub.Add(wantSub, wei(j.Refund))
		cost, burned := wei(j.Cost), wei(j.Burned)
		if new(big.Int).Add(cost, wei(j.Refund)).Cmp(wei(j.Escrow)) != 0 {
			t.Errorf("job %d: cost %s + refund %s != escrow %s", id, cost, wei(j.Refund), wei(j.Escrow))
		}
		share := new(big.Int).Sub(cost, burned)
		if want := new(big.Int).Div(new(big.Int).Mul(cost, big.NewInt(80)), big.NewInt(100)); share.Cmp(want) != 0 {
			t.Errorf("job %d: provider share %s, want 80%% of %s = %s", id, share, cost, want)
		}
		if j.State == "settled" {
			if cost.Sign() == 0 || j.Exit != 0 || j.GPUMillis == 0 {
				t.Errorf("job %d settled without a successful run: %+v", id, j)
			}
			i := slices.Index(providers, *j.Node)
			if i < 0 {
				t.Fatalf("job %d ran on %s, no compute node of the testnet", id, j.Node.Hex())
			}
			wantProv[i].Add(wantProv[i], share)
		}
	}
	signer := types.LatestSignerForChainID(chainID)
	for n := head0 + 1; n <= head1; n++ {
		b, err := ec.BlockByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range b.Transactions() {
			from, err := types.Sender(signer, tx)
			if err != nil {
				t.Fatal(err)
			}
			if i := slices.Index(providers, from); i >= 0 {
				wantProv[i].Sub(wantProv[i], feeOf(t, ec, tx.Hash().Hex()))
			}
			if from == subAddr && !slices.Contains(hashes, tx.Hash()) && tx.Hash() != killTx && tx.Hash().Hex() != *v.TxHash {
				t.Errorf("unexpected tx %s from the submitter", tx.Hash().Hex())
			}
		}
	}
	if got := bal(subAddr, head1); got.Cmp(wantSub) != 0 {
		t.Errorf("submitter balance %s, want %s (off by %s)", got, wantSub, new(big.Int).Sub(got, wantSub))
	}
	for i, p := range providers {
		if got := bal(p, head1); got.Cmp(wantProv[i]) != 0 {
			t.Errorf("provider %s balance %s, want %s (off by %s)", p.Hex(), got, wantProv[i], new(big.Int).Sub(got, wantProv[i]))
		}
	}

	// 6. Where the blocks go, from the module's events: submit → assign
	// (first attempt) → accept → result, and the settlement's end block.
	logs, err := ec.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: new(big.Int).SetUint64(head0), ToBlock: new(big.Int).SetUint64(head1), Addresses: []common.Address{native.JobsAddress}})
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]map[uint64]uint64{}
	for _, l := range logs {
		for name, ev := range a.Events {
			if l.Topics[0] != ev.ID {
				continue
			}
			if first[name] == nil {
				first[name] = map[uint64]uint64{}
			}
			id := new(big.Int).SetBytes(l.Topics[1].Bytes()).Uint64()
			if _, ok := first[name][id]; !ok {
				first[name][id] = l.BlockNumber
			}
		}
	}
	var assign, accept, run, settle []uint64
	for _, id := range ids {
		j := getJob(id)
		s := uint64(j.SubmitBlock)
		as, ok1 := first["JobAssigned"][id]
		ac, ok2 := first["JobAccepted"][id]
		re, ok3 := first["JobResult"][id]
		if !ok1 || !ok2 || !ok3 {
			t.Fatalf("job %d: events missing (assigned %v accepted %v result %v)", id, ok1, ok2, ok3)
		}
		assign, accept, run, settle = append(assign, as-s), append(accept, ac-s), append(run, re-ac), append(settle, uint64(j.EndBlock)-re)
	}
	// On an idle market (the kill job, submitted alone): the draw is in
	// block submit+offerDelay+1 (offerDelay 1 here). The router predicts
	// the draw from the seed block, so its assign lands in the draw block
	// itself, and the node accepts in the next: the issue's "assigned
	// within 2 blocks, running within 3".
	ks := uint64(kj.SubmitBlock)
	ka, ok1 := first["JobAssigned"][killID]
	kc, ok2 := first["JobAccepted"][killID]
	if !ok1 || !ok2 {
		t.Fatalf("kill job: events missing (assigned %v accepted %v)", ok1, ok2)
	}
	draw := ks + 1 + 1 // offerDelayBlocks 1
	t.Logf("idle market: submitted in %d, drawn in %d, assigned in %d (+%d), running in %d (+%d)", ks, draw, ka, ka-ks, kc, kc-ks)
	if ka > ks+2 || kc > ks+3 {
		t.Errorf("idle market: assigned %d blocks after the submission, running %d after (want ≤ 2 and ≤ 3)", ka-ks, kc-ks)
	}
	stat := func(xs []uint64) string {
		s := slices.Clone(xs)
		slices.Sort(s)
		return fmt.Sprintf("min %d median %d max %d", s[0], s[len(s)/2], s[len(s)-1])
	}
	t.Logf("%d jobs settled in %s: %.2f jobs/s through the whole loop (500 ms blocks, 2 nodes × 2 GPUs)", nJobs, loopTime.Round(time.Millisecond), float64(nJobs)/loopTime.Seconds())
	t.Logf("blocks after submit: assigned %s; running (accepted) %s", stat(assign), stat(accept))
	t.Logf("blocks accepted→result %s; result→settled %s", stat(run), stat(settle))
	t.Logf("kill job %d: attempts %d, settled on %s; unfit job %d expired at block %d; whole test %s",
		killID, kj.Attempts, kj.Node.Hex(), unfitID, uint64(uj.EndBlock), time.Since(testStart).Round(time.Millisecond))

	// 7. A job with an input file (`job submit --input`): the node reads
	// the bundle from the submit transaction's calldata and the job reads
	// the file from its input dir; its output shows the file's content.
	inFile := filepath.Join(dir, "greeting.txt")
	if err := os.WriteFile(inFile, []byte("hello from calldata"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "job", "submit", "--rpc", val.rpcURL, "--dev-account", "3", "--image", img, "--gpus", "1",
		"--run-timeout", "30s", "--escrow", "0.001", "--input", inFile, "--json", "--", "0", "with-input", "greeting.txt")
	if v = decodeTxJSON(t, r); r.code != 0 || v.Status != "success" {
		t.Fatalf("submit --input: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	inID := uint64(v.Result["id"].(float64))
	waitFor(t, 60*time.Second, "the input job ended", func() bool { return ended(getJob(inID).State) })
	if ij := getJob(inID); ij.State != "settled" || ij.Exit != 0 {
		t.Fatalf("input job: %+v", ij)
	}
	inDir := filepath.Join(dir, "result-input")
	r = runCLI(t, "job", "result", fmt.Sprint(inID), "--out", inDir, "--rpc", router.rpcURL, "--dev-account", "3", "--json")
	if r.code != 0 {
		t.Fatalf("job result of the input job: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got, err := os.ReadFile(filepath.Join(inDir, "outputs", "out.txt")); err != nil || string(got) != "with-input:hello from calldata\n" {
		t.Fatalf("input job's out.txt %q, %v", got, err)
	}
}

// logTail returns the last n lines of the log at path, leaving out the
// per-block lines.
func logTail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		if !strings.Contains(l, "committed block") && !strings.Contains(l, "imported block") && l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// startTestnetProcs writes a testnet with `emcd testnet` (validators,
// routers and compute nodes, the executor and image, then args), loads the
// program prog into every compute data dir for the process executor,
// starts every node as a process (killed in t.Cleanup, with its log tail
// when the test failed) and returns the cluster and the addresses the
// command printed by name.
func startTestnetProcs(t *testing.T, dir, net string, base, validators, routers, computes int, executor, img, prog string, args ...string) (*cluster, map[string]common.Address) {
	t.Helper()
	out, err := exec.Command(emcdBinary(t), append([]string{"testnet", "--validators", fmt.Sprint(validators), "--routers", fmt.Sprint(routers),
		"--compute", fmt.Sprint(computes), "--compute.executor", executor, "--compute.image", img,
		"--out", net, "--base-port", fmt.Sprint(base)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("emcd testnet: %v\n%s", err, out)
	}
	addrs := map[string]common.Address{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && common.IsHexAddress(f[1]) {
			addrs[f[0]] = common.HexToAddress(f[1])
		}
	}
	for i := 1; executor == "process" && i <= computes; i++ {
		dd := filepath.Join(net, fmt.Sprintf("compute-%d", i))
		r := runCLI(t, "compute", "images", "load", prog, "--executor", "process", "--datadir", dd, "--json")
		if r.code != 0 || !strings.Contains(r.stdout, img) {
			t.Fatalf("images load: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}

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
	return c, addrs
}
