package main

// The EMC Hub on a multi-process testnet: real emcd binaries on 127.0.0.1
// (1 validator, 1 router, 2 compute nodes with the process executor), the
// router relaying over real libp2p streams to the compute node. A developer
// publishes computing/instance's test app (built by the test, a static
// HTTP server with a plain and an SSE endpoint) with a price per call and a
// royalty; a user deploys it; 1,000 concurrent calls through the router's
// /apps/<instance>/ all answer 200 with a receipt that verifies, and the
// request chain the user recomputes matches every receipt's; the SSE
// events arrive in order and as they are sent; a wrong key gets 401; the
// router is SIGKILLed and restarted and metering goes on; then the compute
// node running the instance is SIGKILLed and the router that placed it
// settles the newest receipt and reaps it by itself.
// TestHubMultiProcess deploys with --restart: the instance is placed on
// the other compute node, where calls through the router answer again with
// receipts of a new epoch; the user stops it, and the charge, the royalty
// and the refund are exact to the wei.
// TestHubMultiProcessDocker runs the same with the Docker executor (the
// app in an image FROM scratch) where a Docker daemon answers, deployed
// without --restart: the reap ends the lease (node-dead) and the rest of
// the escrow is refunded, exact to the wei.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"
	"golang.org/x/time/rate"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/router/relay"
)

func TestHubMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	testHub(t, "process", true)
}

// TestHubMultiProcessDocker is the same with the Docker executor (the app
// in an image FROM scratch), where a Docker daemon answers.
func TestHubMultiProcessDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("no Docker daemon answers (%v): TestHubMultiProcess covers the Hub with the process executor", err)
	}
	testHub(t, "docker", false)
}

// testHub runs the Hub acceptance with the executor given. With restart
// the instance is deployed with --restart and, after its node is killed,
// the router restarts it on the other node and the user stops it; without,
// the router's reap ends the lease (node-dead) and the rest is refunded.
func testHub(t *testing.T, executor string, restart bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir := t.TempDir()

	// The app program and its digest (images load prints sha256:<hex>).
	prog := filepath.Join(dir, "app")
	build := exec.Command("go", "build", "-trimpath", "-o", prog, "../../computing/instance/testdata/app")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the test app: %v\n%s", err, out)
	}
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
	if executor == "docker" {
		t.Cleanup(func() {
			// The killed node's container outlives it: remove every
			// container of the image, then the image.
			if ids, err := exec.Command("docker", "ps", "-aq", "--filter", "ancestor="+img).Output(); err == nil && len(strings.Fields(string(ids))) > 0 {
				_ = exec.Command("docker", append([]string{"rm", "-f"}, strings.Fields(string(ids))...)...).Run()
			}
			_ = exec.Command("docker", "rmi", "-f", img).Run()
		})
	}

	// The testnet: nodes ping every 10 blocks (jobs livenessBlocks 30), an
	// instance's node is dead after 30 blocks unseen, and the final
	// settlement window is 20 blocks.
	const validators, routers, computes = 1, 1, 2
	base := freeBasePort(t, (validators+routers+computes)*10)
	net := filepath.Join(dir, "net")
	c, addrs := startTestnetProcs(t, dir, net, base, validators, routers, computes, executor, img, prog,
		"--gpu.simulated", "1", "--jobs.params", `{"livenessBlocks":30}`, "--apps.params", `{"livenessBlocks":30,"settleBlocks":20}`,
		"--epoch-length", "20", "--block-period", "500ms")
	val, router := c.procs["validator-1"], c.procs["router-1"]
	waitFor(t, 90*time.Second, "every node past block 2", func() bool {
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
	if r := runCLI(t, "stake", "add", "--role", "router", "--amount", "100000", "--datadir", router.datadir, "--rpc", val.rpcURL, "--json"); r.code != 0 {
		t.Fatalf("router stake: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
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

	// Publish (dev account 1, the developer) and deploy (dev account 0,
	// the user).
	const perCall = 1_000_000_000
	r = runCLI(t, "app", "publish", "--rpc", val.rpcURL, "--dev-account", "1", "--image", img, "--port", "8080", "--health", "/health",
		"--name", "echo", "--price-per-call", fmt.Sprint(perCall), "--royalty-bps", "1000", "--json")
	var pub struct {
		Status      string  `json:"status"`
		BlockNumber *uint64 `json:"blockNumber"`
		ID          *uint64 `json:"id"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &pub) != nil || pub.Status != "success" || pub.ID == nil {
		t.Fatalf("app publish: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	keys, err := genesis.DevAccountKeys(2)
	if err != nil {
		t.Fatal(err)
	}
	user, developer := crypto.PubkeyToAddress(keys[0].PublicKey), crypto.PubkeyToAddress(keys[1].PublicKey)
	bal := func(a common.Address, at *big.Int) *big.Int {
		t.Helper()
		b, err := ec.BalanceAt(ctx, a, at)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	deployArgs := []string{"app", "deploy", fmt.Sprint(*pub.ID), "--rpc", val.rpcURL, "--dev-account", "0", "--gpus", "1", "--hours", "1", "--escrow", "1", "--json"}
	if restart {
		deployArgs = append(deployArgs, "--restart")
	}
	r = runCLI(t, deployArgs...)
	var dep struct {
		Status      string  `json:"status"`
		BlockNumber *uint64 `json:"blockNumber"`
		Instance    *uint64 `json:"instance"`
		APIKey      string  `json:"api_key"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &dep) != nil || dep.Status != "success" || dep.Instance == nil || dep.APIKey == "" {
		t.Fatalf("app deploy: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	id := *dep.Instance
	// --restart sent setRestart after the deploy: the user sends nothing
	// more until the stop at the end.
	userAfterDeploy := bal(user, nil)
	if r := runCLI(t, "app", "status", fmt.Sprint(id), "--rpc", val.rpcURL, "--json"); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf(`"restart": %v`, restart)) {
		t.Fatalf("app status after deploy --restart: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	routerRPC, err := rpc.DialContext(ctx, router.rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer routerRPC.Close()
	getInstAt := func(c *rpc.Client) jsonrpc.Instance {
		t.Helper()
		var in *jsonrpc.Instance
		if err := c.CallContext(ctx, &in, "emc_getInstance", hexutil.Uint64(id), "latest"); err != nil || in == nil {
			t.Fatalf("emc_getInstance %d: %v", id, err)
		}
		return *in
	}
	getInst := func() jsonrpc.Instance { return getInstAt(rc) }
	// The relay reads the router's own chain: wait until it too has the
	// instance running.
	waitFor(t, 120*time.Second, "the instance running", func() bool {
		return getInst().State == apps.StateRunning.String() && getInstAt(routerRPC).State == apps.StateRunning.String()
	})
	in := getInst()
	if in.Node == nil || in.Router == nil || *in.Router != addrs["router-1"] {
		t.Fatalf("running instance %+v: want placed by router-1", in)
	}
	node, routerAddr := *in.Node, *in.Router
	victim := ""
	for _, name := range []string{"compute-1", "compute-2"} {
		if addrs[name] == node {
			victim = name
		}
	}
	if victim == "" {
		t.Fatalf("instance on %s, no compute node of the testnet", node.Hex())
	}
	chainID, err := ec.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Calls through the router. Each answered call's receipt verifies
	// against the instance's node and router at the app's price; the
	// newest (highest sequence) is kept for the settlement check, and
	// each sequence's request digest for the user's audit below.
	appURL := router.rpcURL + relay.Prefix + fmt.Sprint(id)
	price := uint256.NewInt(perCall)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var mu sync.Mutex
	var newest *apps.SignedReceipt
	receipts := map[uint64]apps.SignedReceipt{}
	seqs := map[uint64]common.Hash{} // sequence → the digest of the request it came with
	call := func(method, key, path string, body string, read func(io.Reader) error) (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, appURL+path, strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		if read == nil {
			read = func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
		}
		if err := read(res.Body); err != nil {
			return res.StatusCode, err
		}
		tr := res.Trailer.Get(relay.ReceiptTrailer)
		if res.StatusCode != http.StatusOK {
			if tr != "" {
				return res.StatusCode, fmt.Errorf("a refused call (%d) came with a receipt", res.StatusCode)
			}
			return res.StatusCode, nil
		}
		raw, err := hexutil.Decode(tr)
		if err != nil {
			return res.StatusCode, fmt.Errorf("trailer %q: %w", tr, err)
		}
		sr, err := apps.DecodeSignedReceipt(raw)
		if err != nil {
			return res.StatusCode, err
		}
		if err := sr.Verify(chainID.Uint64(), id, node, routerAddr, price, new(uint256.Int)); err != nil {
			return res.StatusCode, err
		}
		mu.Lock()
		defer mu.Unlock()
		if _, ok := seqs[sr.Seq]; ok {
			return res.StatusCode, fmt.Errorf("receipt sequence %d twice", sr.Seq)
		}
		seqs[sr.Seq] = apps.RequestDigest(method, path, sha256.Sum256([]byte(body)))
		receipts[sr.Seq] = sr
		if newest == nil || sr.Seq > newest.Seq {
			newest = &sr
		}
		return res.StatusCode, nil
	}

	// The relay allows each key relay.DefaultRate calls a second (burst
	// relay.DefaultBurst); the client keeps under it, so every call must
	// answer 200 the first time.
	const nCalls, workers = 1000, 16
	pace := rate.NewLimiter(rate.Limit(relay.DefaultRate*9/10), workers)
	start := time.Now()
	jobs := make(chan int)
	errs := make(chan error, nCalls)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := pace.Wait(ctx); err != nil {
					errs <- err
					return
				}
				want := fmt.Sprintf(`"query":"i=%d"`, i)
				code, err := call(http.MethodPost, dep.APIKey, fmt.Sprintf("/echo?i=%d", i), "hi", func(r io.Reader) error {
					b, err := io.ReadAll(r)
					if err == nil && !strings.Contains(string(b), want) {
						err = fmt.Errorf("body %q", b)
					}
					return err
				})
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("status %d", code)
				}
				if err != nil {
					errs <- fmt.Errorf("call %d: %w", i, err)
				}
			}
		}()
	}
	for i := range nCalls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d calls through the router in %s (%d workers): %.0f calls/s", nCalls, time.Since(start).Round(time.Millisecond), workers,
		nCalls/time.Since(start).Seconds())
	if len(seqs) != nCalls || newest.Seq != nCalls || newest.Calls != nCalls {
		t.Fatalf("%d receipts, newest %+v: want %d", len(seqs), newest.Receipt, nCalls)
	}

	// SSE: the events arrive one by one, in the order sent, as a stream:
	// the app sends one every sseGap and stamps each with its send time
	// (same machine, same clock), so a relay that buffered the response
	// would deliver the first event only after the last was sent.
	const nEvents, sseGap = 5, 300 * time.Millisecond
	var sent, arrived []time.Time
	code, err := call(http.MethodGet, dep.APIKey, fmt.Sprintf("/sse?n=%d&gap_ms=%d", nEvents, sseGap.Milliseconds()), "", func(r io.Reader) error {
		sc := bufio.NewScanner(r)
		next := 0
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				continue
			}
			var i, ts int64
			if _, err := fmt.Sscanf(line, "data: event %d %d", &i, &ts); err != nil || i != int64(next) {
				return fmt.Errorf("event %d: line %q (%v)", next, line, err)
			}
			arrived = append(arrived, time.Now())
			sent = append(sent, time.Unix(0, ts))
			next++
		}
		if next != nEvents {
			return fmt.Errorf("%d events, want %d", next, nEvents)
		}
		return sc.Err()
	})
	if err != nil || code != http.StatusOK {
		t.Fatalf("sse: %d %v", code, err)
	}
	for i := range nEvents {
		t.Logf("sse event %d: sent +%s, arrived %s after it", i, sent[i].Sub(sent[0]).Round(time.Millisecond), arrived[i].Sub(sent[i]).Round(time.Millisecond))
	}
	if !arrived[0].Before(sent[nEvents-1]) {
		t.Fatalf("sse: the first event arrived %s, after the last was sent (%s): the relay buffered the stream",
			arrived[0].Format(time.StampMilli), sent[nEvents-1].Format(time.StampMilli))
	}
	// A wrong key: 401, no receipt, not charged.
	if code, err := call(http.MethodPost, "emck_wrong", "/echo", "hi", nil); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d %v", code, err)
	}
	last := newest
	// The user's audit: the request chain recomputed over the calls made,
	// in the order the receipts number them, matches every receipt's.
	h := apps.ChainStart(chainID.Uint64(), id)
	for seq := uint64(1); seq <= last.Seq; seq++ {
		d, ok := seqs[seq]
		if !ok {
			t.Fatalf("no receipt with sequence %d", seq)
		}
		h = apps.NextCallsHash(h, d)
		if rc := receipts[seq]; rc.CallsHash != h || rc.Calls != seq || !rc.ChargeWei.Eq(uint256.NewInt(seq*perCall)) {
			t.Fatalf("receipt %d: %+v, want the audited chain %s, %d calls", seq, rc.Receipt, h, seq)
		}
	}
	wantCharge := uint256.NewInt((nCalls + 1) * perCall)
	if last.Seq != nCalls+1 || !last.ChargeWei.Eq(wantCharge) {
		t.Fatalf("newest receipt %+v: want sequence %d charging %s", last.Receipt, nCalls+1, wantCharge)
	}
	made := uint64(nCalls + 1) // calls countersigned so far
	// SIGKILL the router and start it again: it reloads the newest receipt
	// it countersigned (DATADIR/router/app-receipts), its first call
	// resyncs the node's meter, and the calls after it are metered on
	// from there, their request chain continuing the user's.
	router.kill()
	router.start()
	before := last.Seq
	waitFor(t, 90*time.Second, "the restarted router relaying metered calls", func() bool {
		code, err := call(http.MethodPost, dep.APIKey, "/echo?restarted=1", "hi", nil)
		return err == nil && code == http.StatusOK
	})
	for i := range 4 {
		if code, err := call(http.MethodPost, dep.APIKey, fmt.Sprintf("/echo?after=%d", i), "hi", nil); err != nil || code != http.StatusOK {
			t.Fatalf("call %d after the router's restart: %d %v", i, code, err)
		}
	}
	for seq := before + 1; seq <= before+5; seq++ {
		d, ok := seqs[seq]
		if !ok {
			t.Fatalf("after the router's restart: no receipt with sequence %d (newest %d)", seq, newest.Seq)
		}
		h = apps.NextCallsHash(h, d)
		if rc := receipts[seq]; rc.CallsHash != h || rc.Calls != seq || !rc.ChargeWei.Eq(uint256.NewInt(seq*perCall)) {
			t.Fatalf("receipt %d after the router's restart: %+v, want the audited chain %s, %d calls", seq, rc.Receipt, h, seq)
		}
	}
	last = newest
	made += 5
	wantCharge = uint256.NewInt(made * perCall)
	t.Logf("router restarted: metering went on from receipt %d to %d", before, last.Seq)
	// Kill the node running it. Nobody reaps by hand: the router that
	// placed it settles its newest receipt and reaps it once the node is
	// unseen for livenessBlocks; deployed with --restart, the instance goes
	// back to the routers and the router places it on the other compute
	// node, with the settled usage and the rest of its lease.
	// The developer sends nothing after the publish: every wei it gains
	// from there is royalty (the router settles at least once an epoch).
	devBefore := bal(developer, new(big.Int).SetUint64(*pub.BlockNumber))
	leaseEnd := getInst().EndTime
	c.procs[victim].kill()
	t.Logf("killed %s (%s) running instance %d", victim, node.Hex(), id)
	// closed checks the closed instance: the newest receipt settled, the
	// split exact, the developer's royalty and the user's refund (fee: what
	// the user paid in gas since the deploy) to the wei.
	closed := func(reason string, calls, restarts uint64, fee *big.Int) {
		t.Helper()
		in := getInst()
		royalty, nodeShare, burn := apps.SplitCharge(wantCharge, 1000)
		escrow := new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
		refund := new(big.Int).Sub(escrow, wantCharge.ToBig())
		if uint64(in.Seq) != last.Seq || uint64(in.Calls) != calls || in.EndReason != reason || uint64(in.Restarts) != restarts || in.CallsHash != last.CallsHash || in.Charged.ToInt().Cmp(wantCharge.ToBig()) != 0 ||
			in.Royalty.ToInt().Cmp(royalty.ToBig()) != 0 || in.NodePaid.ToInt().Cmp(nodeShare.ToBig()) != 0 || in.Burned.ToInt().Cmp(burn.ToBig()) != 0 ||
			in.Escrow.ToInt().Cmp(escrow) != 0 || in.Refund.ToInt().Cmp(refund) != 0 {
			t.Fatalf("closed instance %+v: want %s, seq %d, %d calls, charged %s (royalty %s node %s burned %s), refund %s", in, reason, last.Seq, calls,
				wantCharge, royalty, nodeShare, burn, refund)
		}
		end := new(big.Int).SetUint64(uint64(in.EndBlock))
		if got := new(big.Int).Sub(bal(developer, end), devBefore); got.Cmp(royalty.ToBig()) != 0 {
			t.Fatalf("developer got %s, want the royalty %s", got, royalty)
		}
		if got := new(big.Int).Sub(bal(user, end), userAfterDeploy); got.Add(got, fee).Cmp(refund) != 0 {
			t.Fatalf("user got back %s (+ fees %s), want the refund %s (escrow %s − charged %s)", got, fee, refund, escrow, wantCharge)
		}
		t.Logf("instance %d closed (%s) in block %d: %d calls charged %s wei (royalty %s), refunded %s", id, reason, in.EndBlock, in.Calls, wantCharge, royalty, refund)
	}
	killed := time.Now()
	if !restart {
		// Deployed without --restart: the router settles the newest
		// receipt, reaps, and the lease ends node-dead; the rest of the
		// escrow goes back to the user without the user sending anything.
		waitFor(t, 150*time.Second, "the lease ended by the router's reap", func() bool { return getInst().State == apps.StateClosed.String() })
		t.Logf("instance %d reaped by the router and closed %s after the kill", id, time.Since(killed).Round(time.Millisecond))
		closed("node-dead", made, 0, new(big.Int))
		return
	}
	waitFor(t, 150*time.Second, "the instance restarted on the other node", func() bool {
		in := getInst()
		return uint64(in.Restarts) == 1 && in.State == apps.StateRunning.String() && in.Node != nil && *in.Node != node &&
			getInstAt(routerRPC).State == apps.StateRunning.String()
	})
	in = getInst()
	t.Logf("instance %d restarted on %s by the router %s after the kill", id, in.Node.Hex(), time.Since(killed).Round(time.Millisecond))
	if uint64(in.Seq) != last.Seq || uint64(in.Calls) != made || in.Charged.ToInt().Cmp(wantCharge.ToBig()) != 0 || in.EndTime != leaseEnd ||
		*in.Router != routerAddr || in.EndReason != "" {
		t.Fatalf("restarted instance %+v: want the newest receipt %d settled before the reap (charged %s), the lease end %d kept", in, last.Seq,
			wantCharge, uint64(leaseEnd))
	}
	// Calls again, answered by the new node: receipts of epoch 1 go on
	// from the settled counters, on a request chain of their own.
	node = *in.Node
	const nAfter = 5
	for i := range nAfter {
		if code, err := call(http.MethodPost, dep.APIKey, fmt.Sprintf("/echo?after=%d", i), "again", nil); err != nil || code != http.StatusOK {
			t.Fatalf("call %d after the restart: %d %v", i, code, err)
		}
	}
	h = apps.EpochChainStart(chainID.Uint64(), id, 1)
	for k := uint64(1); k <= nAfter; k++ {
		seq := apps.EpochSeq(1) + k
		h = apps.NextCallsHash(h, seqs[seq])
		if rc, ok := receipts[seq]; !ok || rc.CallsHash != h || rc.Calls != made+k {
			t.Fatalf("receipt %d after the restart: %+v (found %v), want the audited chain %s, %d calls", seq, rc.Receipt, ok, h, made+k)
		}
	}
	last = newest
	wantCharge = uint256.NewInt((made + nAfter) * perCall)
	if last.Seq != apps.EpochSeq(1)+nAfter || !last.ChargeWei.Eq(wantCharge) {
		t.Fatalf("newest receipt %+v: want sequence %d charging %s", last.Receipt, apps.EpochSeq(1)+nAfter, wantCharge)
	}
	// The user stops it; the router settles the newest receipt in the
	// final window.
	r = runCLI(t, "app", "stop", fmt.Sprint(id), "--rpc", val.rpcURL, "--dev-account", "0", "--json")
	var stopped struct {
		Status string       `json:"status"`
		TxHash *common.Hash `json:"txHash"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &stopped) != nil || stopped.Status != "success" || stopped.TxHash == nil {
		t.Fatalf("app stop: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	stopRc, err := ec.TransactionReceipt(ctx, *stopped.TxHash)
	if err != nil {
		t.Fatal(err)
	}
	stopFee := new(big.Int).Mul(new(big.Int).SetUint64(stopRc.GasUsed), stopRc.EffectiveGasPrice)
	waitFor(t, 60*time.Second, "the instance closed", func() bool { return getInst().State == apps.StateClosed.String() })
	closed("stopped", made+nAfter, 1, stopFee)
}
