package node

// Metering across restarts (issue 13): the node's meter (hubReceipts) and
// the router's countersigner (relay.Countersigner with its file store)
// driven call by call as the relay does (Sync, the node's Receipt, then
// Countersign), each side restarted from its data dir.

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/instance"
	"github.com/emc-network/emcd/internal/atomicfile"
	"github.com/emc-network/emcd/router/relay"
)

const (
	rsChain = 4242
	rsInst  = 5
)

type restartRig struct {
	t                  *testing.T
	nodeKey, routerKey *ecdsa.PrivateKey
	nodeDir, routerDir string
	price              uint256.Int
	settled            apps.Receipt // what the "chain" settled
	// batched: both sides write through a Coalescer (as emcd does),
	// flushed only when the test says so.
	batched        bool
	nodeW, routerW *atomicfile.Coalescer
	node           *hubReceipts
	cs             *relay.Countersigner
	calls          int
}

func newRestartRig(t *testing.T) *restartRig {
	nk, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rk, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	r := &restartRig{t: t, nodeKey: nk, routerKey: rk, nodeDir: t.TempDir(), routerDir: t.TempDir(),
		settled: apps.Receipt{ChainID: rsChain, Instance: rsInst, CallsHash: apps.ChainStart(rsChain, rsInst)}}
	r.price.SetUint64(1000)
	r.restartNode()
	r.restartRouter()
	return r
}

func (r *restartRig) info(id uint64) (hubInstanceInfo, error) {
	if id != rsInst {
		return hubInstanceInfo{}, fmt.Errorf("no instance %d", id)
	}
	i := hubInstanceInfo{router: crypto.PubkeyToAddress(r.routerKey.PublicKey), gpus: 1, settled: r.settled}
	i.perCall.Set(&r.price)
	return i, nil
}

func (r *restartRig) source(id uint64) (relay.Metered, bool, error) {
	if id != rsInst {
		return relay.Metered{}, false, nil
	}
	m := relay.Metered{ChainID: rsChain, Node: crypto.PubkeyToAddress(r.nodeKey.PublicKey), Router: crypto.PubkeyToAddress(r.routerKey.PublicKey), GPUs: 1, Settled: r.settled}
	m.PerCall.Set(&r.price)
	return m, true, nil
}

// restartNode replaces the node's meters by fresh ones reading its dir.
func (r *restartRig) restartNode() {
	r.node = &hubReceipts{chainID: rsChain, key: r.nodeKey, info: r.info, dir: r.nodeDir,
		log: slog.New(slog.DiscardHandler), meters: make(map[uint64]*hubMeter)}
	if r.batched {
		r.nodeW = atomicfile.NewCoalescer(time.Hour, nil)
		r.node.writer = r.nodeW
	}
}

// restartRouter replaces the countersigner by a fresh one loading its
// store; it returns the instances loaded.
func (r *restartRig) restartRouter() []uint64 {
	store := relay.FileReceiptStore{Dir: r.routerDir}
	if r.batched {
		r.routerW = atomicfile.NewCoalescer(time.Hour, nil)
		store.Writer = r.routerW
	}
	r.cs = &relay.Countersigner{Source: r.source, Key: r.routerKey, Store: store, Wait: 100 * time.Millisecond}
	ids, err := r.cs.Load()
	if err != nil {
		r.t.Fatal(err)
	}
	return ids
}

// call makes one call as the relay does; it returns the countersigned
// receipt or the refusal.
func (r *restartRig) call() (*apps.SignedReceipt, error) {
	r.calls++
	c := instance.Call{Instance: rsInst, Method: "POST", Target: fmt.Sprintf("/echo?i=%d", r.calls), Duration: time.Millisecond}
	c.SyncToken, c.SyncBase = r.cs.Sync(rsInst)
	nr, err := r.node.Receipt(c)
	if err != nil {
		return nil, err
	}
	return r.cs.Countersign(rsInst, apps.RequestDigest(c.Method, c.Target, c.BodySHA256), time.Second, nr)
}

func (r *restartRig) mustCall(wantSeq, wantCalls uint64) {
	r.t.Helper()
	s, err := r.call()
	if err != nil {
		r.t.Fatalf("call %d: %v", r.calls, err)
	}
	if s.Seq != wantSeq || s.Calls != wantCalls || !s.ChargeWei.Eq(new(uint256.Int).Mul(&r.price, uint256.NewInt(wantCalls))) {
		r.t.Fatalf("call %d: receipt %+v, want sequence %d, %d calls at the price", r.calls, s.Receipt, wantSeq, wantCalls)
	}
	if err := s.Verify(rsChain, rsInst, crypto.PubkeyToAddress(r.nodeKey.PublicKey), crypto.PubkeyToAddress(r.routerKey.PublicKey), &r.price, new(uint256.Int)); err != nil {
		r.t.Fatal(err)
	}
}

func TestHubMeterRestarts(t *testing.T) {
	t.Run("router", func(t *testing.T) {
		r := newRestartRig(t)
		for i := uint64(1); i <= 5; i++ {
			r.mustCall(i, i)
		}
		if ids := r.restartRouter(); len(ids) != 1 || ids[0] != rsInst {
			t.Fatalf("router reloaded %v, want instance %d", ids, rsInst)
		}
		if l, ok := r.cs.Latest(rsInst); !ok || l.Seq != 5 {
			t.Fatalf("reloaded newest %+v %v, want receipt 5 (to settle)", l.Receipt, ok)
		}
		r.mustCall(6, 6)
		r.mustCall(7, 7)
	})
	t.Run("node", func(t *testing.T) {
		r := newRestartRig(t)
		for i := uint64(1); i <= 5; i++ {
			r.mustCall(i, i)
		}
		r.restartNode()
		r.mustCall(6, 6) // its meter came back from disk: no call lost
	})
	t.Run("node lost its meter", func(t *testing.T) {
		r := newRestartRig(t)
		for i := uint64(1); i <= 3; i++ {
			r.mustCall(i, i)
		}
		if err := os.RemoveAll(r.nodeDir); err != nil {
			t.Fatal(err)
		}
		r.restartNode()
		// The node restarts from the chain (nothing settled): its
		// receipt is refused and the router asks for a resync ...
		if _, err := r.call(); !errors.Is(err, relay.ErrReceipt) {
			t.Fatalf("a receipt from a meter behind: %v", err)
		}
		// ... which the node takes with the next call.
		r.mustCall(4, 4)
	})
	t.Run("node level with the chain", func(t *testing.T) {
		r := newRestartRig(t)
		for i := uint64(1); i <= 3; i++ {
			r.mustCall(i, i)
		}
		last, _ := r.cs.Latest(rsInst)
		r.settled = last.Receipt // the router settled receipt 3
		r.restartNode()
		r.mustCall(4, 4) // no call lost to a resync
	})
	t.Run("both", func(t *testing.T) {
		r := newRestartRig(t)
		for i := uint64(1); i <= 4; i++ {
			r.mustCall(i, i)
		}
		r.restartNode()
		r.restartRouter()
		r.mustCall(5, 5)
	})
	t.Run("router restarts with the node ahead", func(t *testing.T) {
		r := newRestartRig(t)
		for i := uint64(1); i <= 3; i++ {
			r.mustCall(i, i)
		}
		// The node numbers a call whose receipt never reaches the router.
		if _, err := r.node.Receipt(instance.Call{Instance: rsInst, Method: "POST", Target: "/lost"}); err != nil {
			t.Fatal(err)
		}
		r.restartRouter()
		// The router resyncs from receipt 3: the node drops the call the
		// router never countersigned.
		r.mustCall(4, 4)
	})
	t.Run("crash before the batched writes", func(t *testing.T) {
		// Both sides write through a Coalescer, as emcd does: the node's
		// meter in batches, the router's receipts durable before they
		// leave (group commit). Both crash after calls 1..5 with the node's
		// meter written up to 3: the router reloads receipt 5, the node
		// resyncs from it, and the next call is 6.
		r := newRestartRig(t)
		r.batched = true
		r.restartNode()
		r.restartRouter()
		for i := uint64(1); i <= 5; i++ {
			r.mustCall(i, i)
			if i == 3 {
				if err := errors.Join(r.nodeW.Flush(), r.routerW.Flush()); err != nil {
					t.Fatal(err)
				}
			}
		}
		if r.nodeW.Pending() != 1 || r.routerW.Pending() != 0 {
			t.Fatalf("pending writes: node %d, router %d, want 1 and 0 (receipts are durable before they leave)", r.nodeW.Pending(), r.routerW.Pending())
		}
		r.restartNode()
		if ids := r.restartRouter(); len(ids) != 1 {
			t.Fatalf("router reloaded %v", ids)
		}
		r.mustCall(6, 6)
		r.mustCall(7, 7)
	})
	t.Run("chain settled past the router", func(t *testing.T) {
		r := newRestartRig(t)
		for i := uint64(1); i <= 3; i++ {
			r.mustCall(i, i)
		}
		last, _ := r.cs.Latest(rsInst)
		r.settled = last.Receipt // settled 3 on chain
		if err := os.RemoveAll(r.routerDir); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(r.nodeDir); err != nil {
			t.Fatal(err)
		}
		r.restartRouter()
		r.restartNode()
		r.mustCall(4, 4) // both resume from the chain's settled receipt
	})
}

// TestHubMeterForgedResync: a resync base the node did not sign with the
// instance's router, or for another instance or chain, is refused and the
// node's meter does not move; a stored receipt tampered with on disk is
// dropped by the router at load.
func TestHubMeterForgedResync(t *testing.T) {
	r := newRestartRig(t)
	for i := uint64(1); i <= 3; i++ {
		r.mustCall(i, i)
	}
	good, _ := r.cs.Latest(rsInst)
	stranger, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sign := func(rc apps.Receipt, nodeKey, routerKey *ecdsa.PrivateKey) []byte {
		s := apps.SignedReceipt{Receipt: rc}
		var err error
		if s.NodeSig, err = apps.SignReceipt(&rc, apps.RoleNode, nodeKey); err != nil {
			t.Fatal(err)
		}
		if s.RouterSig, err = apps.SignReceipt(&rc, apps.RoleRouter, routerKey); err != nil {
			t.Fatal(err)
		}
		return s.Encode()
	}
	newer := good.Receipt
	newer.Seq, newer.Calls = 100, 100
	newer.ChargeWei.Mul(&r.price, uint256.NewInt(100))
	other := newer
	other.Instance = rsInst + 1
	otherChain := newer
	otherChain.ChainID = rsChain + 1
	badSig := sign(newer, r.nodeKey, r.routerKey)
	badSig[apps.ReceiptBodyLen+apps.SigLen+3] ^= 1 // the router's signature
	for name, base := range map[string][]byte{
		"router signature by a stranger": sign(newer, r.nodeKey, stranger),
		"node signature by a stranger":   sign(newer, stranger, r.routerKey),
		"roles swapped":                  sign(newer, r.routerKey, r.nodeKey),
		"bad router signature":           badSig,
		"other instance":                 sign(other, r.nodeKey, r.routerKey),
		"other chain":                    sign(otherChain, r.nodeKey, r.routerKey),
		"not a receipt":                  bytes.Repeat([]byte{1}, apps.ReceiptLen),
	} {
		_, err := r.node.Receipt(instance.Call{Instance: rsInst, Method: "POST", Target: "/x", SyncToken: 0xbad, SyncBase: base})
		if err == nil {
			t.Fatalf("%s: the node took the forged resync", name)
		}
		if got := r.node.meters[rsInst].m.Last(); got.Seq != 3 {
			t.Fatalf("%s: the node's meter moved to %d", name, got.Seq)
		}
	}
	r.mustCall(4, 4)

	// Tampered on disk: the router's stored receipt claims more calls.
	path := filepath.Join(r.routerDir, fmt.Sprintf("%d.receipt", rsInst))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[32] ^= 0x10 // calls
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if ids := r.restartRouter(); len(ids) != 0 {
		t.Fatalf("a tampered receipt was loaded: %v", ids)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the tampered receipt is still stored: %v", err)
	}
}

func TestNodeMeterFile(t *testing.T) {
	rc := apps.Receipt{ChainID: 1, Instance: 2, Seq: 3, Calls: 3, CallsHash: common.Hash{9}}
	rc.ChargeWei.SetUint64(3000)
	b := encodeNodeMeter(&rc, 77)
	got, token, err := decodeNodeMeter(b)
	if err != nil || got != rc || token != 77 {
		t.Fatalf("round trip: %+v %d %v", got, token, err)
	}
	for name, bad := range map[string][]byte{"short": b[:len(b)-1], "long": append(bytes.Clone(b), 0), "version": append([]byte{2}, b[1:]...), "empty": nil} {
		if _, _, err := decodeNodeMeter(bad); !errors.Is(err, apps.ErrBadReceipt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecodeNodeMeter(f *testing.F) {
	rc := apps.Receipt{ChainID: 1, Instance: 2, Seq: 3, Calls: 3}
	f.Add(encodeNodeMeter(&rc, 5))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, token, err := decodeNodeMeter(b)
		if err != nil {
			if !errors.Is(err, apps.ErrBadReceipt) {
				t.Fatalf("error %v does not wrap ErrBadReceipt", err)
			}
			return
		}
		if !bytes.Equal(encodeNodeMeter(&r, token), b) {
			t.Fatal("a decoded meter does not encode back to itself")
		}
	})
}

// TestBusySpan: concurrent calls are metered as the union of their spans,
// so the GPU time of a busy instance never passes its wall time.
func TestBusySpan(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var busy time.Time
	total := uint64(0)
	// Ten calls of 1 s each, all in flight over [0, 1.9 s], ending in order.
	for i := range 10 {
		var ms uint64
		ms, busy = busySpan(busy, at(i*100), at(i*100+1000))
		total += ms
	}
	if total != 1900 {
		t.Fatalf("union of ten overlapping calls: %d ms, want 1900", total)
	}
	// A call inside what was already metered adds nothing; a later one adds its span.
	if ms, b := busySpan(busy, at(500), at(1500)); ms != 0 || !b.Equal(busy) {
		t.Fatalf("covered call: %d ms, busy until %v", ms, b)
	}
	if ms, _ := busySpan(busy, at(5000), at(5250)); ms != 250 {
		t.Fatalf("a later call: %d ms, want 250", ms)
	}
}
