package fetch

// Protocol tests over two real libp2p hosts on 127.0.0.1: a compute node
// serving a store with one result, and a router relaying from it. The
// chain is a FAKE lookup table of jobs and the node's peer; the clock is a
// fixed time the tests move.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/results"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
)

const testChain = 4242

var chainID = uint256.NewInt(testChain)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a node host serving a store, a router host relaying.
type fixture struct {
	t          testing.TB
	clk        *clock
	store      *results.Store
	rec        *job.Result
	files      map[string][]byte
	sub, other *ecdsa.PrivateKey
	owner      common.Address
	jobs       map[uint64]jobs.Job
	node, rtr  *libp2p.Host
	spec       p2p.Spec
	server     *Server
	relay      *Relay
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newHost(t testing.TB) *libp2p.Host {
	t.Helper()
	key, _, err := lcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := p2p.Status{ChainID: testChain}
	h, err := libp2p.New(libp2p.Config{
		ChainID: testChain, Status: func() p2p.Status { return st }, Key: key,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DisableDHT: true, HandshakeTimeout: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newFixture(t testing.TB, chunkTimeout time.Duration) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: &clock{now: time.Unix(1_800_000_000, 0)}, sub: newKey(t), other: newKey(t),
		owner: common.Address{0xc0}, jobs: map[uint64]jobs.Job{}}
	store, err := results.Open(t.TempDir(), results.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.store = store
	// Three outputs: a small one, one of 2.5 chunks, an empty one.
	f.files = map[string][]byte{
		"out/a.txt": []byte("hello results\n"),
		"big.bin":   randomBytes(t, 2*MaxChunk+MaxChunk/2),
		"empty":     {},
	}
	rec := &job.Result{JobID: "7", SpecSHA256: strings.Repeat("ab", 32), Executor: "process", Status: job.StatusSucceeded}
	for _, p := range []string{"big.bin", "empty", "out/a.txt"} {
		sum, size, err := store.PutBlob(bytes.NewReader(f.files[p]), 0)
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
	f.rec = rec
	hash := common.HexToHash(rec.RecordSHA256)
	subAddr := crypto.PubkeyToAddress(f.sub.PublicKey)
	f.jobs[7] = jobs.Job{ID: 7, Submitter: subAddr, State: jobs.StateCompleted, Node: f.owner, ResultHash: hash}
	// Job 8: the same submitter, same node, the same result (a second run).
	f.jobs[8] = jobs.Job{ID: 8, Submitter: subAddr, State: jobs.StateSettled, Node: f.owner, ResultHash: hash}
	// Job 9: still running.
	f.jobs[9] = jobs.Job{ID: 9, Submitter: subAddr, State: jobs.StateRunning, Node: f.owner}
	// Job 10: ran on another node.
	f.jobs[10] = jobs.Job{ID: 10, Submitter: subAddr, State: jobs.StateCompleted, Node: common.Address{0xee}, ResultHash: hash}

	f.node, f.rtr = newHost(t), newHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.rtr.Connect(ctx, f.node.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	f.spec = Spec(p2p.Names{ChainID: testChain}, chunkTimeout)
	f.server, err = NewServer(ServerConfig{ChainID: chainID, Owner: f.owner, Store: store, Jobs: JobsFunc(f.job), Now: f.clk.Now, Penalizer: f.node})
	if err != nil {
		t.Fatal(err)
	}
	f.relay, err = NewRelay(RelayConfig{ChainID: chainID, Jobs: JobsFunc(f.job), Requester: f.rtr, Spec: f.spec, Now: f.clk.Now,
		Peers: PeersFunc(func(owner common.Address) (p2p.PeerID, bool, error) {
			if owner == f.owner || owner == (common.Address{0xee}) {
				return f.node.Self(), true, nil
			}
			return "", false, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) serve() {
	f.t.Helper()
	if err := f.server.Register(f.node, f.spec); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) job(id uint64) (jobs.Job, bool, error) {
	j, ok := f.jobs[id]
	return j, ok, nil
}

func (f *fixture) auth(key *ecdsa.PrivateKey, id uint64, path string) Auth {
	f.t.Helper()
	a, err := Sign(key, chainID, id, path, f.clk.Now().Add(time.Minute))
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// raw sends one request straight to the node, bypassing the relay's own
// checks, and returns the node's answer.
func (f *fixture) raw(req Request) (*Response, error) {
	f.t.Helper()
	data, err := req.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	out, err := f.rtr.Request(context.Background(), f.node.Self(), f.spec, data)
	if err != nil {
		return nil, err
	}
	return DecodeResponse(out)
}

func (f *fixture) copy(id uint64, path string, a Auth) ([]byte, File, error) {
	var buf bytes.Buffer
	var got File
	err := f.relay.Copy(context.Background(), id, path, a, &buf, func(file File) error { got = file; return nil })
	return buf.Bytes(), got, err
}

func TestHappyPath(t *testing.T) {
	f := newFixture(t, 0)
	f.serve()
	// The record: what the store holds, checked against the chain.
	data, file, err := f.copy(7, RecordPath, f.auth(f.sub, 7, RecordPath))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.rec.Encode()
	if !bytes.Equal(data, want) || file.SHA256 != common.HexToHash(f.rec.RecordSHA256) {
		t.Fatalf("record: got %d bytes (%x), want %d bytes (%s)", len(data), file.SHA256, len(want), f.rec.RecordSHA256)
	}
	for p, content := range f.files {
		data, file, err := f.copy(7, p, f.auth(f.sub, 7, p))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !bytes.Equal(data, content) || file.Size != int64(len(content)) {
			t.Fatalf("%s: got %d bytes, want %d", p, len(data), len(content))
		}
	}
	// A settled job's result stays downloadable.
	if _, _, err := f.copy(8, "out/a.txt", f.auth(f.sub, 8, "out/a.txt")); err != nil {
		t.Fatalf("settled job: %v", err)
	}
	// Small (emc_getResult) caps what it returns.
	small, err := f.relay.Small(context.Background(), 7, "out/a.txt", f.auth(f.sub, 7, "out/a.txt"))
	if err != nil || string(small.Data) != "hello results\n" {
		t.Fatalf("Small: %+v, %v", small, err)
	}
	if _, err := f.relay.Small(context.Background(), 7, "big.bin", f.auth(f.sub, 7, "big.bin")); err == nil {
		// The default cap is 4 MiB; big.bin is 2.5 MiB: it fits.
	} else {
		t.Fatalf("Small big.bin: %v", err)
	}
	f.relay.cfg.MaxSmall = MaxChunk
	if _, err := f.relay.Small(context.Background(), 7, "big.bin", f.auth(f.sub, 7, "big.bin")); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Small over the cap: %v, want ErrTooLarge", err)
	}
}

func TestDownloadThroughHTTP(t *testing.T) {
	f := newFixture(t, 0)
	f.serve()
	srv := httptest.NewServer(f.relay.Handler())
	defer srv.Close()
	dir := t.TempDir()
	sum, err := Download(context.Background(), DownloadConfig{
		Client: &Client{BaseURL: srv.URL}, Key: f.sub, ChainID: chainID, JobID: 7,
		RecordSHA256: common.HexToHash(f.rec.RecordSHA256), Dir: dir, Now: f.clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Files) != 3 || sum.Status != "succeeded" {
		t.Fatalf("summary %+v", sum)
	}
	for p, content := range f.files {
		got, err := os.ReadFile(filepath.Join(dir, "outputs", filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%s: %d bytes, %v", p, len(got), err)
		}
	}
	rec, err := os.ReadFile(filepath.Join(dir, "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckRecord(common.HexToHash(f.rec.RecordSHA256), rec); err != nil {
		t.Fatal(err)
	}
	// No temporary files are left behind.
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasPrefix(d.Name(), ".emc-") {
			t.Errorf("left over: %s", p)
		}
		return nil
	})

	// The submitter's key is the only one the router serves.
	_, err = Download(context.Background(), DownloadConfig{
		Client: &Client{BaseURL: srv.URL}, Key: f.other, ChainID: chainID, JobID: 7,
		RecordSHA256: common.HexToHash(f.rec.RecordSHA256), Dir: t.TempDir(), Now: f.clk.Now,
	})
	if !errors.Is(err, ErrNotSubmitter) {
		t.Fatalf("other key: %v, want ErrNotSubmitter", err)
	}
	// A job without a result: a clear refusal.
	_, err = Download(context.Background(), DownloadConfig{
		Client: &Client{BaseURL: srv.URL}, Key: f.sub, ChainID: chainID, JobID: 9, Dir: t.TempDir(), Now: f.clk.Now,
	})
	if !errors.Is(err, ErrNotFinished) {
		t.Fatalf("running job: %v, want ErrNotFinished", err)
	}
	// No auth at all: 400.
	resp, err := http.Get(srv.URL + "/results/7/record")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no auth: HTTP %d, want 400", resp.StatusCode)
	}
}

func TestWrongSigner(t *testing.T) {
	f := newFixture(t, 0)
	f.serve()
	a := f.auth(f.other, 7, "out/a.txt")
	if _, _, err := f.copy(7, "out/a.txt", a); !errors.Is(err, ErrNotSubmitter) {
		t.Fatalf("relay: %v, want ErrNotSubmitter", err)
	}
	// The node refuses too, whatever a relay lets through.
	_, err := f.raw(Request{JobID: 7, Path: "out/a.txt", Auth: a})
	var re *RefusedError
	if !errors.As(err, &re) || re.Code != CodeNotSubmitter {
		t.Fatalf("node: %v, want code not_submitter", err)
	}
	// A garbage signature of the right length.
	bad := Auth{Expiry: a.Expiry, Sig: make([]byte, 65)}
	if _, err := f.raw(Request{JobID: 7, Path: "out/a.txt", Auth: bad}); !errors.As(err, &re) || re.Code != CodeBadSignature {
		t.Fatalf("node, zero signature: %v, want code bad_signature", err)
	}
	// The submitter asking a node that did not run the job.
	if _, err := f.raw(Request{JobID: 10, Path: "out/a.txt", Auth: f.auth(f.sub, 10, "out/a.txt")}); !errors.As(err, &re) || re.Code != CodeNotOurs {
		t.Fatalf("node, another node's job: %v, want code not_ours", err)
	}
	// A job with no result yet, and no job at all.
	if _, err := f.raw(Request{JobID: 9, Path: RecordPath, Auth: f.auth(f.sub, 9, RecordPath)}); !errors.As(err, &re) || re.Code != CodeNotFinished {
		t.Fatalf("node, running job: %v, want code not_finished", err)
	}
	if _, err := f.raw(Request{JobID: 99, Path: RecordPath, Auth: f.auth(f.sub, 99, RecordPath)}); !errors.As(err, &re) || re.Code != CodeUnknownJob {
		t.Fatalf("node, no such job: %v, want code unknown_job", err)
	}
	// A path the record does not list.
	if _, err := f.raw(Request{JobID: 7, Path: "nope", Auth: f.auth(f.sub, 7, "nope")}); !errors.As(err, &re) || re.Code != CodeNotFound {
		t.Fatalf("node, unknown path: %v, want code not_found", err)
	}
}

func TestReplayAndExpiry(t *testing.T) {
	f := newFixture(t, 0)
	f.serve()
	var re *RefusedError
	a7 := f.auth(f.sub, 7, "out/a.txt")
	// A request for job 7 replayed for job 8 (same submitter, same node,
	// same file): the signature recovers to someone else.
	if _, err := f.raw(Request{JobID: 8, Path: "out/a.txt", Auth: a7}); !errors.As(err, &re) || re.Code != CodeNotSubmitter {
		t.Fatalf("job 7's request on job 8: %v, want not_submitter", err)
	}
	if _, _, err := f.copy(8, "out/a.txt", a7); !errors.Is(err, ErrNotSubmitter) {
		t.Fatalf("relay, job 7's request on job 8: %v", err)
	}
	// ...for another path of the same job, or the record.
	for _, p := range []string{"big.bin", RecordPath} {
		if _, err := f.raw(Request{JobID: 7, Path: p, Auth: a7}); !errors.As(err, &re) || re.Code != CodeNotSubmitter {
			t.Fatalf("a.txt's request for %q: %v, want not_submitter", p, err)
		}
	}
	// ...signed for another chain.
	other, err := Sign(f.sub, uint256.NewInt(1), 7, "out/a.txt", f.clk.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.raw(Request{JobID: 7, Path: "out/a.txt", Auth: other}); !errors.As(err, &re) || re.Code != CodeNotSubmitter {
		t.Fatalf("another chain's request: %v, want not_submitter", err)
	}
	// The request itself is good until it expires...
	if resp, err := f.raw(Request{JobID: 7, Path: "out/a.txt", Auth: a7}); err != nil || string(resp.Data) != "hello results\n" {
		t.Fatalf("fresh request: %v", err)
	}
	// ...and refused after, by the node and by the relay.
	f.clk.Add(time.Minute)
	if _, err := f.raw(Request{JobID: 7, Path: "out/a.txt", Auth: a7}); !errors.As(err, &re) || re.Code != CodeExpired {
		t.Fatalf("expired request: %v, want expired", err)
	}
	if _, _, err := f.copy(7, "out/a.txt", a7); !errors.Is(err, ErrExpired) {
		t.Fatalf("relay, expired request: %v", err)
	}
	// An expiry too far ahead is refused: signatures must be short-lived.
	long, err := Sign(f.sub, chainID, 7, "out/a.txt", f.clk.Now().Add(MaxValidity+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.raw(Request{JobID: 7, Path: "out/a.txt", Auth: long}); !errors.As(err, &re) || re.Code != CodeExpired {
		t.Fatalf("long-lived request: %v, want expired", err)
	}
}

// TestTamperedFile: the node's stored blob no longer matches the record
// (disk corruption, or an operator swapping outputs). The relay must not
// pass the file on as good: Copy fails with ErrMismatch and never writes
// the last chunk, and an HTTP download ends short.
func TestTamperedFile(t *testing.T) {
	f := newFixture(t, 0)
	f.serve()
	var big job.Output
	for _, o := range f.rec.Outputs {
		if o.Path == "big.bin" {
			big = o
		}
	}
	blob := filepath.Join(f.store.Dir(), "blobs", big.SHA256[:2], big.SHA256)
	tampered := bytes.Clone(f.files["big.bin"])
	tampered[len(tampered)-1] ^= 0xff // same size, last byte flipped
	if err := os.Chmod(blob, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	data, _, err := f.copy(7, "big.bin", f.auth(f.sub, 7, "big.bin"))
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("tampered file: %v, want ErrMismatch", err)
	}
	if len(data) >= len(tampered) {
		t.Fatalf("relay wrote %d of %d bytes of a file that failed its hash", len(data), len(tampered))
	}
	srv := httptest.NewServer(f.relay.Handler())
	defer srv.Close()
	dir := t.TempDir()
	_, err = Download(context.Background(), DownloadConfig{
		Client: &Client{BaseURL: srv.URL}, Key: f.sub, ChainID: chainID, JobID: 7,
		RecordSHA256: common.HexToHash(f.rec.RecordSHA256), Dir: dir, Now: f.clk.Now,
	})
	if err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("download of a tampered file: %v, want the body cut short", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "outputs", "big.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tampered file written: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "record.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("record written for an incomplete download: %v", err)
	}
}

// forger answers every request with its own record (sealed, so it is
// internally consistent) and the file it lists: a node lying about what
// it ran. The relay checks the record against the chain.
func TestForgedRecord(t *testing.T) {
	f := newFixture(t, 0)
	fake := []byte("not what ran")
	sum := sha256.Sum256(fake)
	rec := &job.Result{JobID: "7", SpecSHA256: strings.Repeat("ab", 32), Executor: "process", Status: job.StatusSucceeded,
		Outputs: []job.Output{{Path: "out/a.txt", SHA256: hex.EncodeToString(sum[:]), SizeBytes: int64(len(fake))}}}
	if err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	recBytes, _ := rec.Encode()
	err := f.node.Handle(f.spec, func(_ context.Context, _ p2p.PeerID, data []byte) ([]byte, error) {
		req, err := DecodeRequest(data)
		if err != nil {
			return nil, err
		}
		resp := &Response{Size: uint64(len(fake)), SHA256: sum, Data: fake, Record: recBytes}
		if req.Path == RecordPath {
			resp = &Response{Size: uint64(len(recBytes)), SHA256: common.HexToHash(rec.RecordSHA256), Data: recBytes}
		}
		return resp.Encode()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{RecordPath, "out/a.txt"} {
		data, _, err := f.copy(7, p, f.auth(f.sub, 7, p))
		if !errors.Is(err, ErrMismatch) || len(data) != 0 {
			t.Fatalf("%q from a forger: %d bytes, %v; want ErrMismatch and nothing written", p, len(data), err)
		}
	}
}

func TestOversizedRequest(t *testing.T) {
	f := newFixture(t, 0)
	f.serve()
	// A frame over the spec's MaxRequest: the node resets the stream
	// before reading it, and the relay's side reports the node unreachable.
	huge := f.spec
	huge.MaxRequest = 4 * MaxRequest
	if _, err := f.rtr.Request(context.Background(), f.node.Self(), huge, make([]byte, 2*MaxRequest)); err == nil {
		t.Fatal("oversized request answered")
	}
	// Inside the frame limit but malformed: a clear code, and a penalty.
	before := f.node.Score(f.rtr.Self())
	out, err := f.rtr.Request(context.Background(), f.node.Self(), f.spec, []byte{0xc0})
	if err != nil {
		t.Fatal(err)
	}
	var re *RefusedError
	if _, err := DecodeResponse(out); !errors.As(err, &re) || re.Code != CodeMalformed {
		t.Fatalf("malformed request: %v, want code malformed", err)
	}
	if f.node.Score(f.rtr.Self()) == before {
		t.Fatal("malformed request not penalised")
	}
	// A path over job.MaxInputPathBytes is refused by the decoder.
	if _, err := (&Request{JobID: 7, Path: strings.Repeat("a", job.MaxInputPathBytes+1), Auth: Auth{Sig: make([]byte, 65)}}).Encode(); err != nil {
		t.Fatal(err)
	}
	long, _ := (&Request{JobID: 7, Path: strings.Repeat("a", job.MaxInputPathBytes+1), Auth: Auth{Sig: make([]byte, 65)}}).Encode()
	if _, err := DecodeRequest(long); !errors.Is(err, ErrMalformed) {
		t.Fatalf("long path: %v", err)
	}
}

// TestSlowPeerTimeout: a node that accepts the stream and never answers
// is unreachable once the chunk timeout passes; the relay does not hang.
func TestSlowPeerTimeout(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond)
	release := make(chan struct{})
	defer close(release)
	err := f.node.Handle(f.spec, func(ctx context.Context, _ p2p.PeerID, _ []byte) ([]byte, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, errors.New("too late")
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = f.copy(7, "out/a.txt", f.auth(f.sub, 7, "out/a.txt"))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("slow node: %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("slow node took %s to time out (chunk timeout 300ms)", d)
	}
	// A request to a node that is not connected at all.
	f.relay.cfg.Peers = PeersFunc(func(common.Address) (p2p.PeerID, bool, error) { return "12D3KooWNotConnected", true, nil })
	if _, _, err := f.copy(7, "out/a.txt", f.auth(f.sub, 7, "out/a.txt")); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("unknown peer: %v, want ErrUnreachable", err)
	}
}

func TestRateLimitPerPeer(t *testing.T) {
	f := newFixture(t, 0)
	f.server.cfg.Rate, f.server.cfg.Burst = 1, 2
	req, err := (&Request{JobID: 7, Path: "out/a.txt", Auth: f.auth(f.sub, 7, "out/a.txt")}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	code := func(peer p2p.PeerID) Code {
		out, err := f.server.Handle(context.Background(), peer, req)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := DecodeResponse(out)
		if err != nil {
			var re *RefusedError
			if errors.As(err, &re) {
				return re.Code
			}
			t.Fatal(err)
		}
		return resp.Code
	}
	for i, want := range []Code{CodeOK, CodeOK, CodeRateLimited} {
		if got := code("A"); got != want {
			t.Fatalf("request %d from A: %s, want %s", i, got, want)
		}
	}
	if got := code("B"); got != CodeOK {
		t.Fatalf("B is limited by A's requests: %s", got)
	}
	f.clk.Add(time.Second)
	if got := code("A"); got != CodeOK {
		t.Fatalf("A after a second: %s", got)
	}
}

// TestRelayBusy: downloads beyond MaxDownloads are refused at once (503),
// not queued.
func TestRelayBusy(t *testing.T) {
	f := newFixture(t, 0)
	f.serve()
	for range cap(f.relay.sem) {
		f.relay.sem <- struct{}{}
	}
	if _, err := f.relay.Small(context.Background(), 7, "out/a.txt", f.auth(f.sub, 7, "out/a.txt")); !errors.Is(err, ErrBusy) {
		t.Fatalf("Small when full: %v, want ErrBusy", err)
	}
	srv := httptest.NewServer(f.relay.Handler())
	defer srv.Close()
	var buf bytes.Buffer
	_, err := (&Client{BaseURL: srv.URL}).Get(context.Background(), 7, "out/a.txt", f.auth(f.sub, 7, "out/a.txt"), &buf, 100)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("HTTP when full: %v, want ErrBusy", err)
	}
	<-f.relay.sem
	if _, err := (&Client{BaseURL: srv.URL}).Get(context.Background(), 7, "out/a.txt", f.auth(f.sub, 7, "out/a.txt"), &buf, 100); err != nil {
		t.Fatalf("HTTP with a free slot: %v", err)
	}
}

func TestSignRecover(t *testing.T) {
	k := newKey(t)
	a, err := Sign(k, chainID, 3, "x/y", time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Signer(chainID, 3, "x/y")
	if err != nil || got != crypto.PubkeyToAddress(k.PublicKey) {
		t.Fatalf("signer %s, %v", got, err)
	}
	// The digest separates path from expiry: no two inputs share one.
	if Digest(chainID, 3, "a", 1) == Digest(chainID, 3, "a\x00", 1) || Digest(chainID, 3, "", 1) == Digest(chainID, 4, "", 1) {
		t.Fatal("digest collision")
	}
	if err := a.Fresh(time.Unix(99, 0)); err != nil {
		t.Fatal(err)
	}
	if err := a.Fresh(time.Unix(100, 0)); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v", err)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	good, _ := (&Request{JobID: 7, Path: "out/a.txt", Offset: 1 << 20, Auth: Auth{Expiry: 99, Sig: make([]byte, 65)}}).Encode()
	rec, _ := (&Request{JobID: 1, Path: RecordPath, Auth: Auth{Expiry: 1, Sig: bytes.Repeat([]byte{1}, 65)}}).Encode()
	f.Add(good)
	f.Add(rec)
	probe, _ := (&Request{JobID: 1, Path: RecordPath, Auth: Auth{Expiry: 1, Sig: bytes.Repeat([]byte{1}, 65), Probe: true, Epoch: 3}}).Encode()
	f.Add(probe)
	f.Add([]byte{0xc0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		// Accepted requests are canonical: re-encoding gives the input.
		out, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("decode→encode changed %x to %x", data, out)
		}
		if CheckPath(r.Path) != nil || len(r.Auth.Sig) != 65 || (r.Auth.Probe && r.Path != RecordPath) || (!r.Auth.Probe && r.Auth.Epoch != 0) {
			t.Fatalf("accepted %+v", r)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	ok, _ := (&Response{Size: 3, Data: []byte("abc"), Record: []byte("{}")}).Encode()
	no, _ := (&Response{Code: CodeExpired, Message: "late"}).Encode()
	f.Add(ok)
	f.Add(no)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeResponse(data)
		if err != nil {
			return
		}
		if r.Code != CodeOK || len(r.Data) > MaxChunk {
			t.Fatalf("accepted %+v", r)
		}
	})
}

// FuzzAuthFromHTTP: any query string and headers must not panic; an
// accepted authorisation has a 65-byte signature.
func FuzzAuthFromHTTP(f *testing.F) {
	f.Add("expiry=1800000060&sig=0x"+strings.Repeat("ab", 65), "", "")
	f.Add("", "1800000060", "0x"+strings.Repeat("00", 65))
	f.Add("expiry=-1&sig=0x", "x", "0xzz")
	f.Fuzz(func(t *testing.T, query, hExp, hSig string) {
		req, err := http.NewRequest(http.MethodGet, "http://router/results/7/record", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = query
		req.Header.Set(HeaderExpiry, hExp)
		req.Header.Set(HeaderSignature, hSig)
		a, err := authFromHTTP(req)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(a.Sig) != sigLen {
			t.Fatalf("accepted a %d-byte signature", len(a.Sig))
		}
	})
}

// BenchmarkRelayCopy: one 2.5 MiB file from the node's store through the
// relay over libp2p on loopback (TCP), verified.
func BenchmarkRelayCopy(b *testing.B) {
	f := newFixture(b, 0)
	f.serve()
	f.server.cfg.Rate, f.server.cfg.Burst = 1e6, 1e6
	size := len(f.files["big.bin"])
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		data, _, err := f.copy(7, "big.bin", f.auth(f.sub, 7, "big.bin"))
		if err != nil || len(data) != size {
			b.Fatalf("%d bytes, %v", len(data), err)
		}
	}
}
