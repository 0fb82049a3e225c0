package relay

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/instance"
)

const meterChain = 99

var meterPrice = uint256.NewInt(1000)

func genKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testReceipts is a node's receipt signer over real apps.Meters; it
// resyncs as asked (the node's own is node/hub_meter.go).
type testReceipts struct {
	key    *ecdsa.PrivateKey
	router common.Address
	mu     sync.Mutex
	m      map[uint64]*apps.Meter
	token  uint64
}

func (r *testReceipts) Receipt(c instance.Call) (*instance.NodeReceipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.m[c.Instance]
	if m == nil {
		m = apps.NewMeter(meterChain, c.Instance, meterPrice, new(uint256.Int))
		r.m[c.Instance] = m
	}
	if c.SyncToken != 0 && c.SyncToken != r.token {
		settled := apps.Receipt{ChainID: meterChain, Instance: c.Instance, CallsHash: apps.ChainStart(meterChain, c.Instance)}
		base, err := apps.ResyncBase(c.SyncBase, settled, crypto.PubkeyToAddress(r.key.PublicKey), r.router, meterPrice, new(uint256.Int))
		if err != nil {
			return nil, err
		}
		m = apps.ResumeMeter(base, meterPrice, new(uint256.Int))
		r.m[c.Instance], r.token = m, c.SyncToken
	}
	rc, err := m.Call(apps.RequestDigest(c.Method, c.Target, c.BodySHA256), 0)
	if err != nil {
		return nil, err
	}
	sig, err := apps.SignReceipt(&rc, apps.RoleNode, r.key)
	return &instance.NodeReceipt{Receipt: rc, NodeSig: sig, Token: r.token}, err
}

func meterSource(node, router common.Address, gpus uint32) MeterSource {
	return func(id uint64) (Metered, bool, error) {
		if id != instID {
			return Metered{}, false, nil
		}
		m := Metered{ChainID: meterChain, Node: node, Router: router, GPUs: gpus}
		m.PerCall.Set(meterPrice)
		return m, true, nil
	}
}

// TestMeteredCallsConcurrent: concurrent calls through a real relay and
// node end out of order; every one comes back with a receipt signed by
// both, and the newest counts them all, at the price.
func TestMeteredCallsConcurrent(t *testing.T) {
	nodeKey, routerKey := genKey(t), genKey(t)
	node, router := crypto.PubkeyToAddress(nodeKey.PublicKey), crypto.PubkeyToAddress(routerKey.PublicKey)
	cs := &Countersigner{Source: meterSource(node, router, 1), Key: routerKey}
	r := newRig(t, func(c *Config) { c.Meter = cs }, func(c *instance.ServerConfig) {
		c.Receipts = &testReceipts{key: nodeKey, router: router, m: make(map[uint64]*apps.Meter)}
	})
	const callers, each = 10, 10
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers}}
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				req, _ := http.NewRequest("POST", fmt.Sprintf("%s/apps/7/echo?c=%d&i=%d", r.front.URL, c, i), strings.NewReader("hi"))
				req.Header.Set("Authorization", "Bearer "+r.key)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					errs <- fmt.Errorf("call %d/%d: %d %v", c, i, resp.StatusCode, err)
					continue
				}
				raw, err := hexutil.Decode(resp.Trailer.Get(ReceiptTrailer))
				if err != nil {
					errs <- fmt.Errorf("call %d/%d: trailer: %w", c, i, err)
					continue
				}
				s, err := apps.DecodeSignedReceipt(raw)
				if err == nil {
					err = s.Verify(meterChain, instID, node, router, meterPrice, new(uint256.Int))
				}
				if err != nil {
					errs <- fmt.Errorf("call %d/%d: %w", c, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	last, ok := cs.Latest(instID)
	if !ok || last.Seq != callers*each || last.Calls != callers*each || last.ChargeWei.Uint64() != callers*each*meterPrice.Uint64() {
		t.Fatalf("newest receipt %+v (%v), want %d calls", last.Receipt, ok, callers*each)
	}
}

// TestMeteredCallUnmeteredNode: a node that sends no receipt answers as
// before; the caller gets no trailer.
func TestMeteredCallUnmeteredNode(t *testing.T) {
	routerKey := genKey(t)
	cs := &Countersigner{Source: meterSource(common.Address{1}, crypto.PubkeyToAddress(routerKey.PublicKey), 1), Key: routerKey}
	r := newRig(t, func(c *Config) { c.Meter = cs }, nil)
	resp, body := r.do(t, "POST", "/apps/7/echo", r.key, strings.NewReader("x"))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"body":"x"`) || resp.Trailer.Get(ReceiptTrailer) != "" {
		t.Fatalf("%d %s trailer %q", resp.StatusCode, body, resp.Trailer.Get(ReceiptTrailer))
	}
}

// meterFixture drives a Countersigner directly with a node's receipts.
type meterFixture struct {
	t       *testing.T
	nodeKey *ecdsa.PrivateKey
	cs      *Countersigner
	node    *apps.Meter
	token   uint64 // the node meter's sync token
}

func newMeterFixture(t *testing.T, gpus uint32) *meterFixture {
	nodeKey, routerKey := genKey(t), genKey(t)
	f := &meterFixture{t: t, nodeKey: nodeKey,
		cs:   &Countersigner{Source: meterSource(crypto.PubkeyToAddress(nodeKey.PublicKey), crypto.PubkeyToAddress(routerKey.PublicKey), gpus), Key: routerKey, Wait: 200 * time.Millisecond},
		node: apps.NewMeter(meterChain, instID, meterPrice, new(uint256.Int))}
	f.sync()
	return f
}

// sync does what a node does with the router's resync request on the
// next call (nothing when there is none).
func (f *meterFixture) sync() {
	f.t.Helper()
	token, base := f.cs.Sync(instID)
	if token == 0 || token == f.token {
		return
	}
	settled := apps.Receipt{ChainID: meterChain, Instance: instID, CallsHash: apps.ChainStart(meterChain, instID)}
	b, err := apps.ResyncBase(base, settled, crypto.PubkeyToAddress(f.nodeKey.PublicKey), crypto.PubkeyToAddress(f.cs.Key.PublicKey), meterPrice, new(uint256.Int))
	if err != nil {
		f.t.Fatal(err)
	}
	f.node, f.token = apps.ResumeMeter(b, meterPrice, new(uint256.Int)), token
}

func req(i int) common.Hash { return apps.RequestDigest("GET", fmt.Sprintf("/x?%d", i), [32]byte{}) }

func (f *meterFixture) sign(r apps.Receipt, key *ecdsa.PrivateKey) *instance.NodeReceipt {
	sig, err := apps.SignReceipt(&r, apps.RoleNode, key)
	if err != nil {
		f.t.Fatal(err)
	}
	return &instance.NodeReceipt{Receipt: r, NodeSig: sig, Token: f.token}
}

func (f *meterFixture) call(i int, gpuMs uint64) *instance.NodeReceipt {
	r, err := f.node.Call(req(i), gpuMs)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.sign(r, f.nodeKey)
}

func (f *meterFixture) accept(i int, elapsed time.Duration, r *instance.NodeReceipt) {
	f.t.Helper()
	s, err := f.cs.Countersign(instID, req(i), elapsed, r)
	if err != nil {
		f.t.Fatalf("receipt %d refused: %v", r.Seq, err)
	}
	if s.Receipt != r.Receipt {
		f.t.Fatal("the countersigned receipt is not the node's")
	}
}

func (f *meterFixture) refuse(i int, elapsed time.Duration, r *instance.NodeReceipt, why string) {
	f.t.Helper()
	if _, err := f.cs.Countersign(instID, req(i), elapsed, r); !errors.Is(err, ErrReceipt) {
		f.t.Fatalf("%s: %v, want ErrReceipt", why, err)
	}
}

func TestCountersignAttacks(t *testing.T) {
	f := newMeterFixture(t, 2)
	f.accept(1, time.Second, f.call(1, 0))

	// A node inventing a call: a receipt chaining a request the router
	// did not relay with the call it did.
	forged := *f.node
	r, _ := forged.Call(req(99), 0)
	f.refuse(2, time.Second, f.sign(r, f.nodeKey), "a call the router did not relay")
	// ... or counting two calls for one relayed.
	forged = *f.node
	forged.Call(req(98), 0)
	r, _ = forged.Call(req(2), 0)
	r.Seq = 2
	f.refuse(2, time.Second, f.sign(r, f.nodeKey), "two calls for one")
	if last, _ := f.cs.Latest(instID); last.Seq != 1 {
		t.Fatalf("refused receipts moved the ledger to %d", last.Seq)
	}
}

func TestCountersignRefusals(t *testing.T) {
	t.Run("replay", func(t *testing.T) {
		f := newMeterFixture(t, 1)
		r1 := f.call(1, 0)
		f.accept(1, time.Second, r1)
		f.refuse(1, time.Second, r1, "the same receipt again")
		f.sync() // the refusal resyncs: the node restarts from receipt 1
		r2 := f.call(2, 0)
		f.accept(2, time.Second, r2)
		f.refuse(1, time.Second, r1, "an older receipt")
	})
	t.Run("other instance", func(t *testing.T) {
		f := newMeterFixture(t, 1)
		other := apps.NewMeter(meterChain, instID+1, meterPrice, new(uint256.Int))
		r, _ := other.Call(req(1), 0)
		f.refuse(1, time.Second, f.sign(r, f.nodeKey), "a receipt for another instance")
		other = apps.NewMeter(meterChain+1, instID, meterPrice, new(uint256.Int))
		r, _ = other.Call(req(1), 0)
		f.refuse(1, time.Second, f.sign(r, f.nodeKey), "a receipt for another chain")
		if _, err := f.cs.Countersign(instID+1, req(1), time.Second, f.sign(r, f.nodeKey)); !errors.Is(err, ErrReceipt) {
			t.Fatalf("unknown instance: %v", err)
		}
	})
	t.Run("wrong signer", func(t *testing.T) {
		f := newMeterFixture(t, 1)
		r, _ := f.node.Call(req(1), 0)
		f.refuse(1, time.Second, f.sign(r, genKey(t)), "signed by a stranger")
	})
	t.Run("price", func(t *testing.T) {
		f := newMeterFixture(t, 1)
		r, _ := apps.NewMeter(meterChain, instID, uint256.NewInt(1001), new(uint256.Int)).Call(req(1), 0)
		f.refuse(1, time.Second, f.sign(r, f.nodeKey), "another price")
	})
	t.Run("gpu time", func(t *testing.T) {
		f := newMeterFixture(t, 2)
		// 2 GPUs × 100 ms measured: at most 200 GPU-ms.
		f.refuse(1, 100*time.Millisecond, f.call(1, 201), "more GPU time than measured")
		f2 := newMeterFixture(t, 2)
		f2.accept(1, 100*time.Millisecond, f2.call(1, 200))
	})
	t.Run("placed by another router", func(t *testing.T) {
		f := newMeterFixture(t, 1)
		f.cs = &Countersigner{Source: f.cs.Source, Key: genKey(t), Wait: f.cs.Wait}
		if token, _ := f.cs.Sync(instID); token != 0 {
			t.Fatal("a resync offered for another router's instance")
		}
		f.refuse(1, time.Second, f.call(1, 0), "not this router's instance")
	})
}

// TestCountersignOutOfOrder: receipt 2 may come before receipt 1 (calls
// end out of order); both are countersigned, in order.
func TestCountersignOutOfOrder(t *testing.T) {
	f := newMeterFixture(t, 1)
	f.cs.Wait = 5 * time.Second
	r1, r2 := f.call(1, 0), f.call(2, 0)
	done := make(chan error, 1)
	go func() {
		_, err := f.cs.Countersign(instID, req(2), time.Second, r2)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // usually lets receipt 2 wait; either order must pass
	f.accept(1, time.Second, r1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if last, _ := f.cs.Latest(instID); last.Seq != 2 {
		t.Fatalf("newest %d, want 2", last.Seq)
	}
}

// TestCountersignGapResyncs: a receipt that never came, for no call the
// router relayed without a receipt, starts a resync (every later receipt
// builds on it): later ones on the old numbering are refused at once;
// once the node took the resync, calls are countersigned again from the
// router's newest receipt (the lost call is never charged).
func TestCountersignGapResyncs(t *testing.T) {
	f := newMeterFixture(t, 1)
	f.cs.Orphan(instID, req(77), time.Second) // a call, but not the one numbered 1
	f.call(1, 0)                              // lost
	f.refuse(2, time.Second, f.call(2, 0), "receipt 2 without 1")
	start := time.Now()
	f.refuse(3, time.Second, f.call(3, 0), "after the gap, before the resync")
	if time.Since(start) > f.cs.Wait {
		t.Fatal("a resyncing ledger made the receipt wait")
	}
	f.sync()
	f.accept(4, time.Second, f.call(4, 0))
	if last, _ := f.cs.Latest(instID); last.Seq != 1 || last.Calls != 1 {
		t.Fatalf("newest %+v, want call 4 alone counted", last.Receipt)
	}
}

// TestCountersignGapFilledByOrphans: receipts lost with their streams
// (the caller left at the end) are covered by the next receipt when it
// chains calls the router relayed and got no receipt for; a node cannot
// slip an invented call into the gap.
func TestCountersignGapFilledByOrphans(t *testing.T) {
	f := newMeterFixture(t, 1)
	f.accept(1, time.Second, f.call(1, 0))
	f.call(2, 10)                                     // lost
	f.call(3, 10)                                     // lost
	f.cs.Orphan(instID, req(50), 10*time.Millisecond) // relayed, never answered
	f.cs.Orphan(instID, req(3), 10*time.Millisecond)
	f.cs.Orphan(instID, req(2), 10*time.Millisecond)
	f.accept(4, time.Second, f.call(4, 0))
	if last, _ := f.cs.Latest(instID); last.Seq != 4 || last.Calls != 4 {
		t.Fatalf("newest %+v, want 4 calls", last.Receipt)
	}
	f.accept(5, time.Second, f.call(5, 0))

	// An invented call in the gap: refused, the ledger stalls.
	g := newMeterFixture(t, 1)
	g.accept(1, time.Second, g.call(1, 0))
	g.call(99, 0) // never relayed
	g.cs.Orphan(instID, req(2), time.Second)
	g.refuse(3, time.Second, g.call(3, 0), "a gap chaining a call never relayed")
}

// TestCountersignConcurrent hammers one ledger from many goroutines
// (run under -race): all receipts, in any arrival order, are taken.
func TestCountersignConcurrent(t *testing.T) {
	f := newMeterFixture(t, 1)
	f.cs.Wait = 10 * time.Second
	const n = 64
	rs := make([]*instance.NodeReceipt, n)
	for i := range n {
		rs[i] = f.call(i, 0)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := n - 1; i >= 0; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.cs.Countersign(instID, req(i), time.Second, rs[i]); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if last, _ := f.cs.Latest(instID); last.Seq != n || len(f.cs.Instances()) != 1 {
		t.Fatalf("newest %d, want %d", last.Seq, n)
	}
}

// lossyReceipts numbers every call but loses the receipt of call drop
// (as when the stream breaks after the node signed it).
type lossyReceipts struct {
	testReceipts
	n, drop int
}

func (l *lossyReceipts) Receipt(c instance.Call) (*instance.NodeReceipt, error) {
	r, err := l.testReceipts.Receipt(c)
	l.mu.Lock()
	l.n++
	lost := l.n == l.drop
	l.mu.Unlock()
	if lost {
		return nil, errors.New("lost")
	}
	return r, err
}

// TestMeteredLostReceipt: through a real relay and node, a call whose
// receipt is lost is an orphan; the next call's receipt covers both.
func TestMeteredLostReceipt(t *testing.T) {
	nodeKey, routerKey := genKey(t), genKey(t)
	node, router := crypto.PubkeyToAddress(nodeKey.PublicKey), crypto.PubkeyToAddress(routerKey.PublicKey)
	cs := &Countersigner{Source: meterSource(node, router, 1), Key: routerKey, Wait: 200 * time.Millisecond}
	r := newRig(t, func(c *Config) { c.Meter = cs }, func(c *instance.ServerConfig) {
		c.Receipts = &lossyReceipts{testReceipts: testReceipts{key: nodeKey, router: router, m: make(map[uint64]*apps.Meter)}, drop: 2}
	})
	for i := 1; i <= 3; i++ {
		resp, _ := r.do(t, "POST", fmt.Sprintf("/apps/7/echo?i=%d", i), r.key, strings.NewReader("x"))
		tr := resp.Trailer.Get(ReceiptTrailer)
		if resp.StatusCode != 200 || (i == 2) != (tr == "") {
			t.Fatalf("call %d: %d, trailer %q", i, resp.StatusCode, tr)
		}
	}
	if last, _ := cs.Latest(instID); last.Seq != 3 || last.Calls != 3 {
		t.Fatalf("newest %+v, want 3 calls", last.Receipt)
	}
}

func TestFileReceiptStore(t *testing.T) {
	f := newMeterFixture(t, 1)
	f.accept(1, time.Second, f.call(1, 0))
	s, _ := f.cs.Latest(instID)
	st := FileReceiptStore{Dir: t.TempDir()}
	if err := st.Save(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Dir+"/9.receipt", []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load()
	if err == nil || len(got) != 1 || got[0] != s {
		t.Fatalf("load: %+v, %v; want the one good receipt and an error for the junk", got, err)
	}
	if got, err = st.Load(); err != nil || len(got) != 1 {
		t.Fatalf("second load: %d receipts, %v (the junk file should be gone)", len(got), err)
	}
	if err := st.Delete(instID); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(instID); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
	if got, err = st.Load(); err != nil || len(got) != 0 {
		t.Fatalf("after delete: %d, %v", len(got), err)
	}
	if got, err := (FileReceiptStore{Dir: st.Dir + "/none"}).Load(); err != nil || got != nil {
		t.Fatalf("missing dir: %v %v", got, err)
	}
}

func FuzzDecodeStoredReceipt(f *testing.F) {
	s := apps.SignedReceipt{Receipt: apps.Receipt{ChainID: 1, Instance: 7, Seq: 1, Calls: 1}}
	s.NodeSig[64], s.RouterSig[64] = 0, 1
	s.NodeSig[31], s.RouterSig[31] = 1, 1
	s.NodeSig[63], s.RouterSig[63] = 1, 1
	f.Add("7.receipt", s.Encode())
	f.Add("07.receipt", s.Encode())
	f.Add("x", []byte{1})
	f.Fuzz(func(t *testing.T, name string, b []byte) {
		got, err := DecodeStoredReceipt(name, b)
		if err != nil {
			if !errors.Is(err, apps.ErrBadReceipt) {
				t.Fatalf("error %v does not wrap apps.ErrBadReceipt", err)
			}
			return
		}
		if name != fmt.Sprintf("%d.receipt", got.Instance) || !bytes.Equal(got.Encode(), b) {
			t.Fatalf("decoded %q as instance %d, not canonical", name, got.Instance)
		}
	})
}
