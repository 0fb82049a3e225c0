package node

// The compute market on one dev node, as `emcd --dev` runs it: the real
// dev genesis (its router staked at genesis), no --dev.period (blocks come
// from transactions, and every half second while a job holds escrow), the
// process executor by default, one simulated GPU. A program is loaded into
// the running node's data dir as a user does; a test-mnemonic account
// submits a job over JSON-RPC (eth_sendTransaction); the node's own router
// assigns it from the live table its compute side feeds, the agent runs it
// and reports, the job settles, and its outputs download through the
// router's HTTP relay on the RPC port. Balances are exact to the wei.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/results/fetch"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/state/native"
)

func TestDevMarketOneNode(t *testing.T) {
	g := genesis.Dev()
	dd := config.NewDataDir(t.TempDir())
	logs := &logBuf{}
	const priceWei = 1_000_000_000_000
	n, err := New(Config{
		Role: RoleValidator, Dev: true, DevMarket: true, DevAccounts: true, DataDir: dd, Genesis: g,
		RPCAddr: "127.0.0.1:0",
		GPU: func() (gpu.Provider, error) {
			return gpu.Open(gpu.Config{Mode: gpu.ModeSimulated, Simulated: gpu.SimulatedH100s(1)})
		},
		TelemetryInterval:    time.Hour,
		Register:             RegisterConfig{Auto: true, PricesPerGPUSecond: []string{"1000000000000"}, CPUPriceWei: "1000000000000"},
		devHeartbeatInterval: heartbeat.MinPublishInterval,
	}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	defer n.Close()
	owner := n.Wallet().Address()
	router := crypto.PubkeyToAddress(genesis.DevRouterKey().PublicKey)
	if owner != crypto.PubkeyToAddress(genesis.DevComputeKey().PublicKey) {
		t.Fatalf("node wallet %s is not the dev compute owner", owner)
	}
	keys, err := genesis.DevAccountKeys(genesis.DevAccountCount)
	if err != nil {
		t.Fatal(err)
	}
	sub := crypto.PubkeyToAddress(keys[0].PublicKey)
	for _, a := range []common.Address{owner, router, crypto.PubkeyToAddress(genesis.DevSignerKey().PublicKey)} {
		for _, k := range keys {
			if a == crypto.PubkeyToAddress(k.PublicKey) {
				t.Fatalf("dev node account %s is a test-mnemonic account", a)
			}
		}
	}

	// Both registrations land without a block period.
	waitLogged(t, "registrations", logs, func() bool {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		_, nodeOK, _ := registry.NodeOf(st, owner)
		_, routerOK, _ := registry.RouterOf(st, router)
		return nodeOK && routerOK
	})

	// A program loaded into the running node is listed as an image.
	src := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho \"hello $1\" > \"$EMC_OUTPUT_DIR/hello.txt\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	image, err := agent.NewPrograms(filepath.Join(dd.Compute(), "programs")).Load(src)
	if err != nil {
		t.Fatal(err)
	}
	// (the listing is sent on the next head: the submission's block)

	client, err := rpc.Dial("http://" + n.RPCAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	jobsABI := moduleABI(t, mods, native.JobsAddress)
	spec := jobs.Spec{Image: image, Args: []string{"dev"}, GPUs: 1, TimeoutSeconds: 60, OutputCapBytes: 1 << 20}
	enc, err := spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	escrow := new(big.Int).Mul(big.NewInt(2*priceWei), big.NewInt(60)) // 60 s at twice the price
	from := n.Chain().Head().Number.Uint64()
	rentBurned := func() *uint256.Int {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		return native.Burned(st, native.BurnRent)
	}
	burnedBefore := rentBurned()
	state := func() (balance func(common.Address) *big.Int, job func(uint64) jobs.Job) {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		return func(a common.Address) *big.Int { return st.GetBalance(a).ToBig() },
			func(id uint64) jobs.Job {
				j, _, err := jobs.JobOf(st, id)
				if err != nil {
					t.Fatal(err)
				}
				return j
			}
	}
	bal, _ := state()
	subBefore, ownerBefore, routerBefore := bal(sub), bal(owner), bal(router)

	var txHash common.Hash
	jobsAddr := native.JobsAddress
	if err := client.CallContext(ctx, &txHash, "eth_sendTransaction", map[string]any{
		"from": sub, "to": jobsAddr, "value": (*hexutil.Big)(escrow),
		"data": hexutil.Bytes(pack(t, jobsABI, "submitJob", enc, big.NewInt(2*priceWei))),
	}); err != nil {
		t.Fatal(err)
	}
	waitLogged(t, "submitJob receipt", logs, func() bool {
		var rc *types.Receipt
		if err := client.CallContext(ctx, &rc, "eth_getTransactionReceipt", txHash); err != nil {
			t.Fatal(err)
		}
		if rc != nil && rc.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("submitJob reverted; log:\n%s", logs)
		}
		return rc != nil
	})

	start := time.Now()
	var j jobs.Job
	waitLogged(t, "job 1 settled", logs, func() bool {
		_, job := state()
		j = job(1)
		return j.State == jobs.StateSettled
	})
	t.Logf("job settled %v after its submission, at block %d", time.Since(start).Round(time.Millisecond), j.EndBlock)
	if j.Router != router || j.Node != owner || j.ExitCode() != 0 || j.GPUMillis == 0 || j.Attempts != 1 {
		t.Fatalf("job %+v: want assigned by the dev router %s to the dev node %s, run once, exit 0", j, router, owner)
	}

	// The economics, exact: cost at the node's price, 80 % to its owner,
	// the rest burned, the rest of the escrow refunded; every account pays
	// its own gas and nothing else moves.
	cost := jobs.Cost(j.GPUMillis, j.PriceWei, j.EscrowWei)
	provider, burn := jobs.Split(cost)
	if !j.PriceWei.Eq(uint256.NewInt(priceWei)) || !j.CostWei.Eq(cost) || !j.BurnedWei.Eq(burn) ||
		!new(uint256.Int).Add(provider, burn).Eq(cost) || !new(uint256.Int).Add(cost, j.RefundWei).Eq(j.EscrowWei) ||
		j.EscrowWei.ToBig().Cmp(escrow) != 0 {
		t.Fatalf("job %d: price %s cost %s burned %s refund %s of escrow %s", 1, j.PriceWei, j.CostWei, j.BurnedWei, j.RefundWei, j.EscrowWei)
	}
	bal, _ = state()
	want := func(who string, a common.Address, before, plus *big.Int) {
		t.Helper()
		w := new(big.Int).Sub(new(big.Int).Add(before, plus), gasSince(t, n, a, from))
		if got := bal(a); got.Cmp(w) != 0 {
			t.Errorf("%s balance %s, want %s (off by %s)", who, got, w, new(big.Int).Sub(got, w))
		}
	}
	want("submitter", sub, subBefore, new(big.Int).Neg(cost.ToBig()))
	want("compute owner", owner, ownerBefore, provider.ToBig())
	want("router", router, routerBefore, new(big.Int))
	if got := bal(native.JobsAddress); got.Sign() != 0 {
		t.Errorf("jobs module holds %s wei after settlement", got)
	}
	if got := new(uint256.Int).Sub(rentBurned(), burnedBefore); !got.Eq(burn) {
		t.Errorf("rent burn counted %s, want the job's %s", got, burn)
	}

	// The result downloads through the router's relay on the RPC port.
	out := t.TempDir()
	sum, err := fetch.Download(ctx, fetch.DownloadConfig{
		Client: &fetch.Client{BaseURL: "http://" + n.RPCAddr().String(), HTTP: &http.Client{}},
		Key:    keys[0], ChainID: uint256.MustFromBig(n.Chain().Config().ChainID), JobID: 1,
		RecordSHA256: j.ResultHash, Dir: out, Validity: time.Minute,
	})
	if err != nil {
		t.Fatalf("download: %v; log:\n%s", err, logs)
	}
	got, err := os.ReadFile(filepath.Join(out, "outputs", "hello.txt"))
	if err != nil || string(got) != "hello dev\n" || len(sum.Files) != 1 {
		t.Fatalf("downloaded %q (%v), files %+v", got, err, sum.Files)
	}
	// Another account is refused.
	_, err = fetch.Download(ctx, fetch.DownloadConfig{
		Client: &fetch.Client{BaseURL: "http://" + n.RPCAddr().String(), HTTP: &http.Client{}},
		Key:    keys[1], ChainID: uint256.MustFromBig(n.Chain().Config().ChainID), JobID: 1,
		RecordSHA256: j.ResultHash, Dir: t.TempDir(), Validity: time.Minute,
	})
	if err == nil || !strings.Contains(err.Error(), "submitter") {
		t.Fatalf("download by another account: %v, want refused as not the submitter", err)
	}

	// emc_getResult relays the record too.
	auth, err := fetch.Sign(keys[0], uint256.MustFromBig(n.Chain().Config().ChainID), 1, fetch.RecordPath, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		SHA256 common.Hash `json:"sha256"`
		Data   []byte      `json:"data"`
	}
	if err := client.CallContext(ctx, &rec, "emc_getResult", hexutil.Uint64(1), fetch.RecordPath,
		map[string]any{"expiry": hexutil.Uint64(auth.Expiry), "signature": hexutil.Bytes(auth.Sig)}); err != nil ||
		rec.SHA256 != j.ResultHash || len(rec.Data) == 0 {
		t.Fatalf("emc_getResult: %+v %v", rec, err)
	}

	// The live table answers emc_liveNodes.
	var live []heartbeat.Node
	if err := client.CallContext(ctx, &live, "emc_liveNodes"); err != nil || len(live) != 1 || live[0].Latest.Owner != owner {
		t.Fatalf("emc_liveNodes %+v %v", live, err)
	}

	// With no job in flight the chain stops: the sealer seals nothing more.
	time.Sleep(3 * devBusyPeriod)
	head := n.Chain().Head().Number.Uint64()
	time.Sleep(3 * devBusyPeriod)
	if now := n.Chain().Head().Number.Uint64(); now != head {
		t.Errorf("blocks %d → %d sealed with no job in flight", head, now)
	}
}

// devPeers answers for the dev compute node only, with the spec's caps;
// a handler's error comes back as a remote error.
func TestDevPeers(t *testing.T) {
	d := newDevPeers("self")
	spec := p2p.Spec{ID: "/emc/test/1", MaxRequest: 8, MaxResponse: 8, Timeout: time.Second}
	if err := d.Handle(spec, func(_ context.Context, from p2p.PeerID, req []byte) ([]byte, error) {
		switch string(req) {
		case "fail":
			return nil, errors.New("refused")
		case "big":
			return make([]byte, 9), nil
		}
		return append([]byte(from+":"), req...), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Handle(spec, nil); err == nil {
		t.Fatal("a protocol handled twice")
	}
	if err := d.Handle(p2p.Spec{ID: "/bad"}, nil); err == nil {
		t.Fatal("a spec without caps accepted")
	}
	ctx := context.Background()
	if got, err := d.Request(ctx, "self", spec, []byte("hi")); err != nil || string(got) != "self:hi" {
		t.Fatalf("request: %q %v", got, err)
	}
	if _, err := d.Request(ctx, "other", spec, []byte("hi")); err == nil {
		t.Fatal("a request to another peer answered")
	}
	if _, err := d.Request(ctx, "self", p2p.Spec{ID: "/emc/none/1", MaxRequest: 8, MaxResponse: 8}, []byte("hi")); err == nil {
		t.Fatal("an unserved protocol answered")
	}
	if _, err := d.Request(ctx, "self", spec, []byte("123456789")); err == nil {
		t.Fatal("a request over the cap sent")
	}
	if _, err := d.Request(ctx, "self", spec, []byte("big")); err == nil {
		t.Fatal("a response over the cap returned")
	}
	if _, err := d.Request(ctx, "self", spec, []byte("fail")); !errors.Is(err, p2p.ErrRemote) {
		t.Fatalf("handler error: %v, want ErrRemote", err)
	}
}

// devOffer lists the loaded programs after the configured images, each
// digest once, at most registry.MaxImages; other executors list only the
// configured ones.
func TestDevOfferImages(t *testing.T) {
	dd := config.NewDataDir(t.TempDir())
	progs := agent.NewPrograms(filepath.Join(dd.Compute(), "programs"))
	var digests []common.Hash
	for i := range registry.MaxImages + 2 {
		src := filepath.Join(t.TempDir(), "p")
		if err := os.WriteFile(src, []byte(fmt.Sprintf("#!/bin/sh\necho %d\n", i)), 0o755); err != nil {
			t.Fatal(err)
		}
		d, err := progs.Load(src)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	n := &Node{cfg: Config{DataDir: dd}, execKind: agent.ExecutorProcess}
	configured := "sha256:" + strings.TrimPrefix(digests[3].Hex(), "0x")
	rc, err := n.devOffer(RegisterConfig{Images: []string{configured}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Images) != registry.MaxImages || rc.Images[0] != configured {
		t.Fatalf("images %v", rc.Images)
	}
	seen := map[common.Hash]bool{}
	for _, s := range rc.Images {
		h, err := parseImage(s)
		if err != nil || seen[h] {
			t.Fatalf("image %q: %v (seen %v)", s, err, seen[h])
		}
		seen[h] = true
	}
	if _, err := n.devOffer(RegisterConfig{Images: []string{"sha256:00"}}); err == nil {
		t.Fatal("a malformed configured image accepted")
	}
	n.execKind = agent.ExecutorDocker
	if rc, err := n.devOffer(RegisterConfig{Images: []string{configured}}); err != nil || len(rc.Images) != 1 {
		t.Fatalf("docker: %v %v", rc.Images, err)
	}
}
