package fetch

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/p2p"
)

// probeSet is a settable validator set: the current epoch and its
// validators.
type probeSet struct {
	mu         sync.Mutex
	epoch      uint64
	validators map[common.Address]bool
}

func (p *probeSet) CurrentEpoch() (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch, nil
}
func (p *probeSet) IsValidator(epoch uint64, a common.Address) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return epoch == p.epoch && p.validators[a], nil
}

// probeFixture is the fixture with validator key val in epoch 5's set,
// accepted by both the relay and the node.
func probeFixture(t *testing.T) (*fixture, *probeSet, *ecdsa.PrivateKey) {
	f := newFixture(t, 0)
	val := newKey(t)
	ps := &probeSet{epoch: 5, validators: map[common.Address]bool{crypto.PubkeyToAddress(val.PublicKey): true}}
	f.server.cfg.Probers, f.relay.cfg.Probers = ps, ps
	f.serve()
	return f, ps, val
}

func (f *fixture) probe(key *ecdsa.PrivateKey, cid *uint256.Int, epoch, id uint64, ttl time.Duration) Auth {
	f.t.Helper()
	a, err := SignProbe(key, cid, epoch, id, f.clk.Now().Add(ttl))
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// TestProbeFetchesRecord: a validator of the current epoch fetches any
// job's record through the relay (Copy and HTTP) with the probe form; the
// bytes are the record the chain names.
func TestProbeFetchesRecord(t *testing.T) {
	f, _, val := probeFixture(t)
	want, _ := f.rec.Encode()
	for _, id := range []uint64{7, 8} {
		data, file, err := f.copy(id, RecordPath, f.probe(val, chainID, 5, id, time.Minute))
		if err != nil || !bytes.Equal(data, want) || file.SHA256 != common.HexToHash(f.rec.RecordSHA256) {
			t.Fatalf("job %d: %d bytes, %v", id, len(data), err)
		}
	}
	srv := httptest.NewServer(f.relay.Handler())
	defer srv.Close()
	var buf bytes.Buffer
	if _, err := (&Client{BaseURL: srv.URL}).Get(context.Background(), 7, RecordPath, f.probe(val, chainID, 5, 7, time.Minute), &buf, 1<<20); err != nil || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("HTTP probe: %d bytes, %v", buf.Len(), err)
	}
	// The header form.
	a := f.probe(val, chainID, 5, 7, time.Minute)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/results/7/record", nil)
	req.Header.Set(HeaderExpiry, "1800000060")
	req.Header.Set(HeaderSignature, "0x"+common.Bytes2Hex(a.Sig))
	req.Header.Set(HeaderProbeEpoch, "5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP probe with headers: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestProbeRefusals: the probe form is refused, by the relay and by the
// node, from a signer who is not a validator of the current epoch, for
// another epoch or chain, replayed on another job, for anything but the
// record, once expired or too long-lived, and wherever probes are not
// accepted.
func TestProbeRefusals(t *testing.T) {
	f, ps, val := probeFixture(t)
	var re *RefusedError
	notProber := func(what string, id uint64, a Auth) {
		t.Helper()
		if _, _, err := f.copy(id, RecordPath, a); !errors.Is(err, ErrNotProber) {
			t.Errorf("relay, %s: %v, want ErrNotProber", what, err)
		}
		if _, err := f.raw(Request{JobID: id, Path: RecordPath, Auth: a}); !errors.As(err, &re) || re.Code != CodeNotProber {
			t.Errorf("node, %s: %v, want not_prober", what, err)
		}
	}
	notProber("the submitter's key", 7, f.probe(f.sub, chainID, 5, 7, time.Minute))
	notProber("a stranger's key", 7, f.probe(f.other, chainID, 5, 7, time.Minute))
	notProber("last epoch", 7, f.probe(val, chainID, 4, 7, time.Minute))
	notProber("next epoch", 7, f.probe(val, chainID, 6, 7, time.Minute))
	notProber("another chain", 7, f.probe(val, uint256.NewInt(1), 5, 7, time.Minute))
	notProber("job 7's probe on job 8", 8, f.probe(val, chainID, 5, 7, time.Minute))
	// The epoch flag changed in flight: the signature recovers to someone else.
	a := f.probe(val, chainID, 5, 7, time.Minute)
	a.Epoch = 4
	ps.mu.Lock()
	ps.epoch = 4
	ps.validators[crypto.PubkeyToAddress(val.PublicKey)] = true
	ps.mu.Unlock()
	notProber("an edited epoch", 7, a)
	// A probe signature stripped of its flag is no submitter's either.
	good := f.probe(val, chainID, 4, 7, time.Minute)
	plain := Auth{Expiry: good.Expiry, Sig: good.Sig}
	if _, _, err := f.copy(7, RecordPath, plain); !errors.Is(err, ErrNotSubmitter) {
		t.Errorf("relay, unflagged probe: %v, want ErrNotSubmitter", err)
	}
	// Records only.
	if _, _, err := f.copy(7, "out/a.txt", good); !errors.Is(err, ErrMalformed) {
		t.Errorf("relay, probe for a file: %v, want ErrMalformed", err)
	}
	if _, err := f.raw(Request{JobID: 7, Path: "out/a.txt", Auth: good}); !errors.As(err, &re) || re.Code != CodeMalformed {
		t.Errorf("node, probe for a file: %v, want malformed", err)
	}
	// Freshness as for any request.
	if _, _, err := f.copy(7, RecordPath, f.probe(val, chainID, 4, 7, MaxValidity+time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("relay, long-lived probe: %v, want ErrExpired", err)
	}
	if _, err := f.raw(Request{JobID: 7, Path: RecordPath, Auth: good}); err != nil {
		t.Fatalf("node, fresh probe: %v", err)
	}
	f.clk.Add(time.Minute)
	if _, err := f.raw(Request{JobID: 7, Path: RecordPath, Auth: good}); !errors.As(err, &re) || re.Code != CodeExpired {
		t.Errorf("node, expired probe: %v, want expired", err)
	}
	// A relay that accepts probes in front of a node that does not: the
	// node's refusal comes back.
	f.server.cfg.Probers = nil
	if _, _, err := f.copy(7, RecordPath, f.probe(val, chainID, 4, 7, time.Minute)); !errors.Is(err, ErrNotProber) {
		t.Errorf("node without probers: %v, want ErrNotProber", err)
	}
	// Authorize (no probers) never accepts one.
	if _, err := Authorize(JobsFunc(f.job), chainID, f.clk.Now(), 7, RecordPath, f.probe(val, chainID, 4, 7, time.Minute)); !errors.Is(err, ErrNotProber) {
		t.Errorf("Authorize: %v, want ErrNotProber", err)
	}
}

// TestProbeEncoding: the probe fields travel only in the probe form; the
// digests of the two forms never coincide; non-canonical encodings of the
// optional fields are refused.
func TestProbeEncoding(t *testing.T) {
	plain := Request{JobID: 7, Auth: Auth{Expiry: 9, Sig: make([]byte, 65)}}
	a, _ := plain.Encode()
	type legacy struct {
		JobID  uint64
		Path   string
		Offset uint64
		Auth   struct {
			Expiry uint64
			Sig    []byte
		}
	}
	var l legacy
	l.JobID, l.Auth.Expiry, l.Auth.Sig = 7, 9, make([]byte, 65)
	b, _ := rlp.EncodeToBytes(&l)
	if !bytes.Equal(a, b) {
		t.Fatal("a submitter's request changed its encoding")
	}
	for _, epoch := range []uint64{0, 5} {
		p := Request{JobID: 7, Auth: Auth{Expiry: 9, Sig: make([]byte, 65), Probe: true, Epoch: epoch}}
		enc, _ := p.Encode()
		got, err := DecodeRequest(enc)
		if err != nil || !got.Auth.Probe || got.Auth.Epoch != epoch {
			t.Fatalf("probe of epoch %d: %+v %v", epoch, got, err)
		}
	}
	if ProbeDigest(chainID, 0, 7, 9) == Digest(chainID, 7, RecordPath, 9) || ProbeDigest(chainID, 1, 7, 9) == ProbeDigest(chainID, 2, 7, 9) {
		t.Fatal("digest collision")
	}
	type full struct {
		JobID  uint64
		Path   string
		Offset uint64
		Auth   struct {
			Expiry uint64
			Sig    []byte
			Probe  bool
			Epoch  uint64
		}
	}
	for _, c := range []struct {
		name  string
		probe bool
		epoch uint64
	}{{"explicit zero fields", false, 0}, {"an epoch without the flag", false, 3}, {"a trailing zero epoch", true, 0}} {
		var x full
		x.JobID, x.Auth.Expiry, x.Auth.Sig, x.Auth.Probe, x.Auth.Epoch = 7, 9, make([]byte, 65), c.probe, c.epoch
		enc, _ := rlp.EncodeToBytes(&x)
		if _, err := DecodeRequest(enc); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", c.name, err)
		}
	}
	// A probe for a file is malformed on the wire.
	enc, _ := (&Request{JobID: 7, Path: "x", Auth: Auth{Expiry: 9, Sig: make([]byte, 65), Probe: true, Epoch: 1}}).Encode()
	if _, err := DecodeRequest(enc); !errors.Is(err, ErrMalformed) {
		t.Errorf("probe for a file: %v", err)
	}
}

// FuzzProbeFromHTTP: any probe epoch with any query or headers must not
// panic; an accepted probe has a 65-byte signature, and a refusal wraps
// ErrMalformed.
func FuzzProbeFromHTTP(f *testing.F) {
	sig := "0x" + strings.Repeat("ab", 65)
	f.Add("expiry=1800000060&sig="+sig+"&probe=5", "")
	f.Add("expiry=1800000060&sig="+sig, "18446744073709551615")
	f.Add("expiry=1&sig="+sig+"&probe=-1", "x")
	f.Add("expiry=1&sig="+sig+"&probe=", "0x10")
	f.Fuzz(func(t *testing.T, query, hProbe string) {
		req, err := http.NewRequest(http.MethodGet, "http://router/results/7/record", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = query
		req.Header.Set(HeaderProbeEpoch, hProbe)
		a, err := authFromHTTP(req)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(a.Sig) != sigLen || (!a.Probe && a.Epoch != 0) {
			t.Fatalf("accepted %+v", a)
		}
	})
}

// TestProbeProtocol: a validator asks the router's relay over libp2p
// (the probe protocol) and gets the record the chain names, pulled by the
// relay from the node; a node that is down, a stranger's probe, a
// submitter's plain request and a record that does not hash to the chain
// all fail the probe.
func TestProbeProtocol(t *testing.T) {
	f, _, val := probeFixture(t)
	spec := ProbeSpec(p2p.Names{ChainID: testChain}, 5*time.Second)
	if err := f.relay.RegisterProbe(f.rtr, spec); err != nil {
		t.Fatal(err)
	}
	prober := newHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := prober.Connect(ctx, f.rtr.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	hash := common.HexToHash(f.rec.RecordSHA256)
	want, _ := f.rec.Encode()
	got, err := ProbeRecord(ctx, prober, spec, f.rtr.Self(), 7, f.probe(val, chainID, 5, 7, time.Minute), hash)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("probe: %d bytes, %v", len(got), err)
	}
	if _, err := ProbeRecord(ctx, prober, spec, f.rtr.Self(), 7, f.probe(f.other, chainID, 5, 7, time.Minute), hash); !errors.Is(err, ErrNotProber) {
		t.Errorf("stranger's probe: %v, want ErrNotProber", err)
	}
	if _, err := ProbeRecord(ctx, prober, spec, f.rtr.Self(), 7, f.auth(f.sub, 7, RecordPath), hash); !errors.Is(err, ErrNotProber) {
		t.Errorf("submitter's request on the probe protocol: %v, want ErrNotProber", err)
	}
	if _, err := ProbeRecord(ctx, prober, spec, f.rtr.Self(), 7, f.probe(val, chainID, 5, 7, time.Minute), common.Hash{1}); !errors.Is(err, ErrMismatch) {
		t.Errorf("record against another hash: %v, want ErrMismatch", err)
	}
	// The node goes down: the relay cannot deliver, the probe fails.
	f.node.Close()
	if _, err := ProbeRecord(ctx, prober, spec, f.rtr.Self(), 7, f.probe(val, chainID, 5, 7, time.Minute), hash); err == nil {
		t.Error("probe succeeded with the node down")
	}
	// The router goes down: unreachable.
	f.rtr.Close()
	if _, err := ProbeRecord(ctx, prober, spec, f.rtr.Self(), 7, f.probe(val, chainID, 5, 7, time.Minute), hash); !errors.Is(err, ErrUnreachable) {
		t.Errorf("router down: %v, want ErrUnreachable", err)
	}
}

// TestProbeConcurrent: probes and submitters' requests at once, through
// the relay and straight to the node, while the validator set changes
// epoch (run under -race): each answer is the record or a not_prober
// refusal, never anything else.
func TestProbeConcurrent(t *testing.T) {
	f, ps, val := probeFixture(t)
	f.server.cfg.Rate, f.server.cfg.Burst = 1e6, 1e6
	want, _ := f.rec.Encode()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				a := f.probe(val, chainID, 5, 7, time.Minute)
				if g%2 == 1 {
					a = f.auth(f.sub, 7, RecordPath)
				}
				data, _, err := f.copy(7, RecordPath, a)
				if err == nil && !bytes.Equal(data, want) {
					errs <- errors.New("wrong record")
				}
				if err != nil && !errors.Is(err, ErrNotProber) {
					errs <- err
				}
				if g == 0 && i == 5 {
					ps.mu.Lock()
					ps.epoch = 6
					ps.mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
