package apps

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
)

func testKeys(t testing.TB) (node, router *ecdsaKey) {
	t.Helper()
	return newKey(t), newKey(t)
}

type ecdsaKey struct {
	priv *ecdsaPriv
	addr common.Address
}

func newKey(t testing.TB) *ecdsaKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &ecdsaKey{priv: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
}

// signed meters n calls of instance and returns the last receipt signed by
// node and router.
func signed(t testing.TB, chainID, instance uint64, n int, perCall, perGPU uint64, node, router *ecdsaKey) SignedReceipt {
	t.Helper()
	m := NewMeter(chainID, instance, uint256.NewInt(perCall), uint256.NewInt(perGPU))
	var r Receipt
	var err error
	for i := 0; i < n; i++ {
		r, err = m.Call(RequestDigest("POST", "/v1/infer", sha256.Sum256([]byte{byte(i)})), 37)
		if err != nil {
			t.Fatal(err)
		}
	}
	return signReceipt(t, r, node, router)
}

func signReceipt(t testing.TB, r Receipt, node, router *ecdsaKey) SignedReceipt {
	t.Helper()
	s := SignedReceipt{Receipt: r}
	var err error
	if s.NodeSig, err = SignReceipt(&r, RoleNode, node.priv); err != nil {
		t.Fatal(err)
	}
	if s.RouterSig, err = SignReceipt(&r, RoleRouter, router.priv); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReceiptRoundTripAndVerify(t *testing.T) {
	node, router := testKeys(t)
	s := signed(t, 7, 3, 5, 100, 2_000, node, router)
	if s.Seq != 5 || s.Calls != 5 || s.GPUMillis != 185 {
		t.Fatalf("counters %+v", s.Receipt)
	}
	// 5 × 100 + floor(2000 × 185 / 1000) = 500 + 370
	if s.ChargeWei.Uint64() != 870 {
		t.Fatalf("charge %s", &s.ChargeWei)
	}
	enc := s.Encode()
	if len(enc) != ReceiptLen {
		t.Fatalf("len %d", len(enc))
	}
	got, err := DecodeSignedReceipt(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), enc) {
		t.Fatal("round trip differs")
	}
	if err := got.Verify(7, 3, node.addr, router.addr, uint256.NewInt(100), uint256.NewInt(2_000)); err != nil {
		t.Fatal(err)
	}
}

func TestReceiptRejects(t *testing.T) {
	node, router := testKeys(t)
	other := newKey(t)
	s := signed(t, 7, 3, 4, 100, 2_000, node, router)
	p, g := uint256.NewInt(100), uint256.NewInt(2_000)
	cases := map[string]func() error{
		"wrong chain":    func() error { return s.Verify(8, 3, node.addr, router.addr, p, g) },
		"wrong instance": func() error { return s.Verify(7, 4, node.addr, router.addr, p, g) },
		"wrong node":     func() error { return s.Verify(7, 3, other.addr, router.addr, p, g) },
		"wrong router":   func() error { return s.Verify(7, 3, node.addr, other.addr, p, g) },
		"wrong price":    func() error { return s.Verify(7, 3, node.addr, router.addr, uint256.NewInt(101), g) },
		"roles swapped": func() error {
			sw := s
			sw.NodeSig, sw.RouterSig = s.RouterSig, s.NodeSig
			return sw.Verify(7, 3, node.addr, router.addr, p, g)
		},
		"not co-signed": func() error {
			// the node signs both parts itself
			r := s.Receipt
			return ptr(signReceipt(t, r, node, node)).Verify(7, 3, node.addr, router.addr, p, g)
		},
		"same key both roles rejected by role byte": func() error {
			sw := s
			sw.RouterSig = s.NodeSig
			return sw.Verify(7, 3, node.addr, node.addr, p, g)
		},
		"inflated calls": func() error {
			t2 := s
			t2.Calls++
			c, _ := Charge(p, g, t2.Calls, t2.GPUMillis)
			t2.ChargeWei = *c
			return t2.Verify(7, 3, node.addr, router.addr, p, g)
		},
		"charge not the price": func() error {
			r := s.Receipt
			r.ChargeWei.AddUint64(&r.ChargeWei, 1)
			return ptr(signReceipt(t, r, node, router)).Verify(7, 3, node.addr, router.addr, p, g)
		},
		"seq zero": func() error {
			r := s.Receipt
			r.Seq = 0
			return ptr(signReceipt(t, r, node, router)).Verify(7, 3, node.addr, router.addr, p, g)
		},
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrBadReceipt) {
			t.Errorf("%s: err %v, want ErrBadReceipt", name, err)
		}
	}
}

type ecdsaPriv = ecdsa.PrivateKey

func ptr[T any](v T) *T { return &v }

func TestReceiptTamperEveryByte(t *testing.T) {
	node, router := testKeys(t)
	s := signed(t, 7, 3, 2, 100, 2_000, node, router)
	enc := s.Encode()
	for i := range enc {
		bad := bytes.Clone(enc)
		bad[i] ^= 0x01
		d, err := DecodeSignedReceipt(bad)
		if err != nil {
			continue
		}
		if err := d.Verify(7, 3, node.addr, router.addr, uint256.NewInt(100), uint256.NewInt(2_000)); err == nil {
			t.Fatalf("flipping byte %d still verifies", i)
		}
	}
	for _, n := range []int{0, ReceiptLen - 1, ReceiptLen + 1} {
		if _, err := DecodeSignedReceipt(make([]byte, n)); !errors.Is(err, ErrBadReceipt) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
}

func TestRequestChainAudit(t *testing.T) {
	m := NewMeter(1, 9, uint256.NewInt(1), new(uint256.Int))
	h := ChainStart(1, 9)
	reqs := []struct{ method, path, body string }{{"GET", "/", ""}, {"POST", "/gen?x=1", "{}"}, {"POST", "/gen?x=1", "{}"}}
	for _, q := range reqs {
		d := RequestDigest(q.method, q.path, sha256.Sum256([]byte(q.body)))
		r, err := m.Call(d, 0)
		if err != nil {
			t.Fatal(err)
		}
		h = NextCallsHash(h, d)
		if r.CallsHash != h {
			t.Fatal("user's chain differs from the receipt's")
		}
	}
	// the chain differs per instance and per request boundary
	if ChainStart(1, 9) == ChainStart(1, 10) || ChainStart(1, 9) == ChainStart(2, 9) {
		t.Fatal("chain start not bound to chain and instance")
	}
	if RequestDigest("GE", "T/", [32]byte{}) == RequestDigest("GET", "/", [32]byte{}) {
		t.Fatal("digest is ambiguous")
	}
}

func TestChargeCumulativeRounding(t *testing.T) {
	// piecewise charges sum to the whole exactly
	p, g := uint256.NewInt(3), uint256.NewInt(999)
	var sum, prev uint256.Int
	var calls, ms uint64
	for i := 0; i < 50; i++ {
		calls++
		ms += uint64(i*7 + 1)
		c, err := Charge(p, g, calls, ms)
		if err != nil {
			t.Fatal(err)
		}
		d := new(uint256.Int).Sub(c, &prev)
		sum.Add(&sum, d)
		prev.Set(c)
	}
	whole, _ := Charge(p, g, calls, ms)
	if !whole.Eq(&sum) {
		t.Fatalf("sum %s whole %s", &sum, whole)
	}
	max := new(uint256.Int).SetAllOne()
	if _, err := Charge(max, new(uint256.Int), 2, 0); !errors.Is(err, ErrChargeOverflow) {
		t.Fatal(err)
	}
	if _, err := Charge(new(uint256.Int), max, 0, 2); !errors.Is(err, ErrChargeOverflow) {
		t.Fatal(err)
	}
}

func FuzzDecodeSignedReceipt(f *testing.F) {
	node, router := testKeys(f)
	s := signed(f, 7, 3, 2, 100, 2_000, node, router)
	f.Add(s.Encode())
	f.Add(make([]byte, ReceiptLen))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeSignedReceipt(b)
		if err != nil {
			if !errors.Is(err, ErrBadReceipt) {
				t.Fatalf("error not ErrBadReceipt: %v", err)
			}
			return
		}
		if !bytes.Equal(d.Encode(), b) {
			t.Fatal("decoded receipt does not re-encode to its input")
		}
		_, _, _ = d.Signers()
		_ = d.Verify(7, 3, node.addr, router.addr, uint256.NewInt(100), uint256.NewInt(2_000))
	})
}

func TestAPIKey(t *testing.T) {
	a, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewAPIKey()
	if a == b || len(a) != len(APIKeyPrefix)+64 || APIKeyHash(a) == APIKeyHash(b) || APIKeyHash(a) != APIKeyHash(" "+a+"\n") {
		t.Fatalf("keys %q %q", a, b)
	}
}

// BenchmarkMeterCall: the per-call cost of metering (digest, chain hash,
// charge) without signing.
func BenchmarkMeterCall(b *testing.B) {
	m := NewMeter(1, 1, uint256.NewInt(1000), uint256.NewInt(7))
	body := sha256.Sum256([]byte("{}"))
	for b.Loop() {
		if _, err := m.Call(RequestDigest("POST", "/v1/chat", body), 10); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignReceipt: one role's signature of a receipt (the node's or
// the router's per-call cost when every call is receipted).
func BenchmarkSignReceipt(b *testing.B) {
	k := newKey(b)
	r := Receipt{ChainID: 1, Instance: 1, Seq: 1, Calls: 1}
	for b.Loop() {
		if _, err := SignReceipt(&r, RoleNode, k.priv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyReceipt: decoding and checking a signed receipt (two
// recoveries), what settle does besides storage.
func BenchmarkVerifyReceipt(b *testing.B) {
	node, router := testKeys(b)
	s := signed(b, 7, 3, 5, 100, 2_000, node, router)
	enc := s.Encode()
	for b.Loop() {
		d, err := DecodeSignedReceipt(enc)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Verify(7, 3, node.addr, router.addr, uint256.NewInt(100), uint256.NewInt(2_000)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestResyncBase(t *testing.T) {
	node, router := testKeys(t)
	pc, pg := uint256.NewInt(5), uint256.NewInt(7)
	s5 := signed(t, 9, 2, 5, 5, 7, node, router)
	settled := func(n int) Receipt {
		if n == 0 {
			return Receipt{ChainID: 9, Instance: 2, CallsHash: ChainStart(9, 2)}
		}
		return signed(t, 9, 2, n, 5, 7, node, router).Receipt
	}
	// No base: the chain's; a newer base wins, an older one does not.
	if got, err := ResyncBase(nil, settled(0), node.addr, router.addr, pc, pg); err != nil || got != settled(0) {
		t.Fatalf("no base: %+v %v", got, err)
	}
	if got, err := ResyncBase(s5.Encode(), settled(3), node.addr, router.addr, pc, pg); err != nil || got != s5.Receipt {
		t.Fatalf("newer base: %+v %v", got, err)
	}
	if got, err := ResyncBase(s5.Encode(), settled(7), node.addr, router.addr, pc, pg); err != nil || got.Seq != 7 {
		t.Fatalf("older base: %+v %v, want the chain's 7", got, err)
	}
	stranger := newKey(t)
	enc := func(s SignedReceipt) []byte { return s.Encode() }
	for name, base := range map[string][]byte{
		"other router":   enc(signed(t, 9, 2, 5, 5, 7, node, stranger)),
		"other node":     enc(signed(t, 9, 2, 5, 5, 7, stranger, router)),
		"other instance": enc(signed(t, 9, 3, 5, 5, 7, node, router)),
		"other chain":    enc(signed(t, 8, 2, 5, 5, 7, node, router)),
		"other price":    enc(signed(t, 9, 2, 5, 6, 7, node, router)),
		"truncated":      s5.Encode()[:ReceiptLen-1],
	} {
		if _, err := ResyncBase(base, settled(0), node.addr, router.addr, pc, pg); !errors.Is(err, ErrBadReceipt) {
			t.Errorf("%s: %v, want ErrBadReceipt", name, err)
		}
	}
}
