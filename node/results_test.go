package node

// A job's result downloaded end to end through a router: an in-memory dev
// chain with the real modules drives a job to completed (router staked and
// registered, compute node registered with its libp2p peer id, submit,
// assign, accept, submitResult with the record hash of a result put in the
// node's store by the test, standing in for the compute agent). Two real
// libp2p hosts on 127.0.0.1 carry the protocol: the compute node's serves
// its store (wired by serveResults, the compute side of setupResults
// minus the node wallet that names the owner), the router's is wired by
// setupResults and relays over HTTP and emc_getResult. The
// submitter downloads with fetch.Download, the code `emcd job result` runs.

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/results/fetch"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
	"github.com/emc-network/emcd/state/native"
)

func TestResultDownloadThroughRouter(t *testing.T) {
	f := newAssignFixture(t)
	jobsABI := moduleABI(t, f.mods, native.JobsAddress)
	chainID := uint256.MustFromBig(f.chain.Config().ChainID)

	f.registerRouter()
	image := common.Hash{0x1a}
	nodeKey, _ := f.registerNode(1, image)
	spec := jobs.Spec{Image: image, GPUs: 1, GPUModel: "NVIDIA H100", TimeoutSeconds: 60, OutputCapBytes: 1 << 20}
	enc, err := spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f.mustMine(f.tx(f.sub, native.JobsAddress, big.NewInt(1e9*60*2), pack(t, jobsABI, "submitJob", enc, big.NewInt(2e9))))

	// The job's state on the router's view, and the download before it ran.
	look := chainResults{f.chain}
	jobNow := func() jobs.Job {
		j, ok, err := look.Job(1)
		if err != nil || !ok {
			t.Fatalf("job 1: %v, %v", ok, err)
		}
		return j
	}
	for jobNow().OfferedRouter != f.router.addr {
		if f.chain.Head().Number.Uint64() > 40 {
			t.Fatal("no router draw by block 40")
		}
		f.mustMine()
	}
	f.mustMine(f.tx(f.router, native.JobsAddress, nil, pack(t, jobsABI, "assign", big.NewInt(1), f.node.addr)))
	f.mustMine(f.tx(f.node, native.JobsAddress, nil, pack(t, jobsABI, "accept", big.NewInt(1))))

	// The network: the compute node's host has the registered peer key.
	st := p2p.Status{ChainID: chainID.Uint64()}
	host := func(key lcrypto.PrivKey) *libp2p.Host {
		h, err := libp2p.New(libp2p.Config{ChainID: st.ChainID, Status: func() p2p.Status { return st }, Key: key,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DisableDHT: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	nodeHost, routerHost := host(nodeKey), host(newPeerKey(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := routerHost.Connect(ctx, nodeHost.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	// The compute node: the node's own wiring (serveResults, which
	// setupResults calls with the node wallet's address) over its host.
	cn := &Node{cfg: Config{Role: RoleCompute, DataDir: config.NewDataDir(t.TempDir())}, chain: f.chain, jobs: f.mods.jobs(),
		net: &network{host: nodeHost}, reg: prometheus.NewRegistry()}
	if err := cn.serveResults(chainID, fetch.Spec(p2p.Names{ChainID: st.ChainID}, 0), f.node.addr, nodeHost, nodeHost); err != nil {
		t.Fatal(err)
	}
	// Its store holds the result (what the compute agent leaves).
	store := cn.ResultStore()
	files := map[string][]byte{"model/weights.bin": bytes.Repeat([]byte{7}, 3*fetch.MaxChunk/2), "log.txt": []byte("done\n")}
	rec := &job.Result{JobID: "1", SpecSHA256: strings.Repeat("cd", 32), Executor: "process", Status: job.StatusSucceeded}
	for _, p := range []string{"log.txt", "model/weights.bin"} {
		sum, size, err := store.PutBlob(bytes.NewReader(files[p]), 0)
		if err != nil {
			t.Fatal(err)
		}
		rec.Outputs = append(rec.Outputs, job.Output{Path: p, SHA256: sum, SizeBytes: size})
	}
	if err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveResult(rec); err != nil {
		t.Fatal(err)
	}

	// The router: the node's own wiring (setupResults) over its host, and
	// its RPC listener's handler.
	n := &Node{cfg: Config{Role: RoleRouter}, chain: f.chain, jobs: f.mods.jobs(), net: &network{host: routerHost},
		reg: prometheus.NewRegistry(), backend: &backend{chain: f.chain}}
	if err := n.setupResults(); err != nil {
		t.Fatal(err)
	}
	if n.backend.relay == nil {
		t.Fatal("router has no relay")
	}
	rpcSrv, err := jsonrpc.NewServer(jsonrpc.Config{}, n.backend, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rpcSrv.Close()
	n.rpcSrv = rpcSrv
	web := httptest.NewServer(n.rpcHandler())
	defer web.Close()
	dl := func(dir string) (*fetch.Summary, error) {
		return fetch.Download(ctx, fetch.DownloadConfig{Client: &fetch.Client{BaseURL: web.URL}, Key: f.sub.key,
			ChainID: chainID, JobID: 1, RecordSHA256: jobNow().ResultHash, Dir: dir})
	}

	// Running: no result yet.
	if _, err := dl(t.TempDir()); !errors.Is(err, fetch.ErrNotFinished) {
		t.Fatalf("download of a running job: %v, want ErrNotFinished", err)
	}
	recHash := common.HexToHash(rec.RecordSHA256)
	f.mustMine(f.tx(f.node, native.JobsAddress, nil, pack(t, jobsABI, "submitResult", big.NewInt(1), [32]byte(recHash), uint64(1000), int32(0))))
	if j := jobNow(); j.State != jobs.StateCompleted || j.ResultHash != recHash {
		t.Fatalf("job 1 is %s with result %x, want completed with %x", j.State, j.ResultHash, recHash)
	}

	dir := t.TempDir()
	sum, err := dl(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Files) != 2 || sum.RecordSHA256 != rec.RecordSHA256 {
		t.Fatalf("summary %+v", sum)
	}
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, "outputs", filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, %v", p, len(got), err)
		}
	}

	// emc_getResult on the same listener, and its refusal of another key.
	client, err := rpc.DialContext(ctx, web.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	auth, err := fetch.Sign(f.sub.key, chainID, 1, "log.txt", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var out jsonrpc.ResultFile
	req := jsonrpc.SignedResultRequest{Expiry: hexutil.Uint64(auth.Expiry), Signature: auth.Sig}
	if err := client.CallContext(ctx, &out, "emc_getResult", hexutil.Uint64(1), "log.txt", req); err != nil {
		t.Fatal(err)
	}
	if string(out.Data) != "done\n" || uint64(out.Size) != 5 {
		t.Fatalf("emc_getResult: %+v", out)
	}
	forged, err := fetch.Sign(f.router.key, chainID, 1, "log.txt", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	err = client.CallContext(ctx, &out, "emc_getResult", hexutil.Uint64(1), "log.txt",
		jsonrpc.SignedResultRequest{Expiry: hexutil.Uint64(forged.Expiry), Signature: forged.Sig})
	var de rpc.DataError
	if !errors.As(err, &de) || de.ErrorData() != "not_submitter" {
		t.Fatalf("emc_getResult with the router's key: %v, want data not_submitter", err)
	}
}

// TestResultsNotRelayedOffRouters: a node without a relay answers the
// results routes with a clear 404, not with the JSON-RPC server's errors.
func TestResultsNotRelayedOffRouters(t *testing.T) {
	n := &Node{backend: &backend{}}
	rec := httptest.NewRecorder()
	n.rpcHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/results/1/record?expiry=1&sig=0x00", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"code":"no_relay"`) {
		t.Fatalf("HTTP %d %s, want 404 no_relay", rec.Code, rec.Body)
	}
	if _, err := n.backend.Result(context.Background(), 1, "", fetch.Auth{}); !errors.Is(err, errNoRelay) {
		t.Fatalf("emc_getResult off a router: %v", err)
	}
}
