package p2ptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/p2p"
)

// Harness adapts one implementation to the suite.
type Harness struct {
	// NewNode starts a node with the given handshake status that proves
	// signer's address in its handshakes (nil: none). It must clean up with
	// t.Cleanup. The node must also implement p2p.Scorer and
	// p2p.AddressBook.
	NewNode func(t *testing.T, st p2p.Status, signer p2p.Signer) p2p.Network
	// Connect dials b from a and waits for the handshake. It returns the
	// handshake error for nodes of different networks.
	Connect func(t *testing.T, a, b p2p.Network) error
	// Wait bounds every eventual condition (gossip mesh formation is slow on
	// real hosts).
	Wait time.Duration
}

// Status returns a status of the test network with chain id 1337.
func Status(genesis byte) p2p.Status {
	return p2p.Status{ChainID: 1337, Genesis: common.Hash{genesis}, HeadNumber: 0, HeadHash: common.Hash{genesis}}
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	if h.Wait == 0 {
		h.Wait = 10 * time.Second
	}
	t.Run("HandshakeRejectsOtherGenesis", func(t *testing.T) { testHandshake(t, h) })
	t.Run("HandshakeIdentity", func(t *testing.T) { testIdentity(t, h) })
	t.Run("GossipTwoHops", func(t *testing.T) { testGossipTwoHops(t, h) })
	t.Run("RequestResponse", func(t *testing.T) { testRequest(t, h) })
	t.Run("DirectLargePayload", func(t *testing.T) { testDirect(t, h) })
	t.Run("MalformedGossipPenalised", func(t *testing.T) { testMalformedGossip(t, h) })
	t.Run("OversizedRequestPenalised", func(t *testing.T) { testOversizedRequest(t, h) })
	t.Run("GossipPenaltyWeights", func(t *testing.T) { testGossipPenaltyWeights(t, h) })
}

// Eventually polls cond until it holds or wait passes.
func Eventually(t *testing.T, wait time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testHandshake(t *testing.T, h Harness) {
	a := h.NewNode(t, Status(1), nil)
	b := h.NewNode(t, Status(2), nil)
	c := h.NewNode(t, Status(1), nil)
	if err := h.Connect(t, a, b); !errors.Is(err, p2p.ErrNetworkMismatch) && !errors.Is(err, p2p.ErrBanned) {
		t.Fatalf("connect across networks: %v, want ErrNetworkMismatch", err)
	}
	Eventually(t, h.Wait, "mismatched peers dropped", func() bool { return a.PeerCount() == 0 && b.PeerCount() == 0 })
	if !a.(p2p.Scorer).Banned(b.Self()) {
		t.Fatal("peer of another network not banned")
	}
	if err := h.Connect(t, a, c); err != nil {
		t.Fatalf("connect same network: %v", err)
	}
	Eventually(t, h.Wait, "same-network peers", func() bool { return a.PeerCount() == 1 && c.PeerCount() == 1 })
	if a.Peers()[0] != c.Self() {
		t.Fatalf("a's peer %s, want %s", a.Peers()[0], c.Self())
	}
	// A later dial from the other network is refused too.
	if err := h.Connect(t, b, a); err == nil {
		t.Fatal("banned peer reconnected")
	}
	time.Sleep(100 * time.Millisecond)
	for _, p := range a.Peers() {
		if p == b.Self() {
			t.Fatal("other network's node became a peer")
		}
	}
}

// Key returns a fixed secp256k1 key, distinct for each n > 0.
func Key(n byte) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(common.LeftPadBytes([]byte{n}, 32))
	if err != nil {
		panic(err)
	}
	return k
}

// KeySigner signs handshake identities with key.
type KeySigner struct{ Key *ecdsa.PrivateKey }

// Address implements p2p.Signer.
func (s KeySigner) Address() common.Address { return crypto.PubkeyToAddress(s.Key.PublicKey) }

// Sign implements p2p.Signer.
func (s KeySigner) Sign(digest []byte) ([]byte, error) { return crypto.Sign(digest, s.Key) }

// forgedSigner claims an address whose key it does not hold.
type forgedSigner struct {
	claim common.Address
	key   *ecdsa.PrivateKey
}

func (s forgedSigner) Address() common.Address            { return s.claim }
func (s forgedSigner) Sign(digest []byte) ([]byte, error) { return crypto.Sign(digest, s.key) }

// replaySigner presents a signature it copied from another peer's handshake.
type replaySigner struct {
	claim common.Address
	sig   []byte
}

func (s replaySigner) Address() common.Address     { return s.claim }
func (s replaySigner) Sign([]byte) ([]byte, error) { return s.sig, nil }

// testIdentity: a node proves its consensus address in the handshake; the
// proof binds its own peer id, so it can be neither forged nor replayed by
// another peer; a node without a key simply has no address.
func testIdentity(t *testing.T, h Harness) {
	sa, sb := KeySigner{Key(1)}, KeySigner{Key(2)}
	a := h.NewNode(t, Status(1), sa)
	b := h.NewNode(t, Status(1), sb)
	c := h.NewNode(t, Status(1), nil)
	for _, peer := range []p2p.Network{b, c} {
		if err := h.Connect(t, a, peer); err != nil {
			t.Fatal(err)
		}
	}
	Eventually(t, h.Wait, "handshakes", func() bool { return a.PeerCount() == 2 && b.PeerCount() == 1 && c.PeerCount() == 1 })
	book := func(n p2p.Network) p2p.AddressBook { return n.(p2p.AddressBook) }
	wantAddr := func(n, peer p2p.Network, want common.Address, wantOK bool) {
		t.Helper()
		got, ok := book(n).PeerAddress(peer.Self())
		if ok != wantOK || got != want {
			t.Fatalf("%s's view of %s: %s %v, want %s %v", n.Self().ShortString(), peer.Self().ShortString(), got, ok, want, wantOK)
		}
	}
	wantAddr(a, b, sb.Address(), true)
	wantAddr(b, a, sa.Address(), true)
	wantAddr(c, a, sa.Address(), true) // a keyless node still verifies others
	wantAddr(a, c, common.Address{}, false)
	if p, ok := book(a).PeerByAddress(sb.Address()); !ok || p != b.Self() {
		t.Fatalf("PeerByAddress(b) = %s %v", p, ok)
	}
	if p, ok := book(a).PeerByAddress(sa.Address()); ok {
		t.Fatalf("a found its own address at peer %s", p)
	}

	// d claims b's address but signs with its own key; a, the listener,
	// catches it.
	d := h.NewNode(t, Status(1), forgedSigner{claim: sb.Address(), key: Key(4)})
	_ = h.Connect(t, d, a) // the dialer may or may not hear of its rejection
	Eventually(t, h.Wait, "forged identity penalised", func() bool { return a.(p2p.Scorer).Score(d.Self()) > 0 })

	// e presents b's genuine signature, copied from b's handshake; a, the
	// dialer, catches it: the signature is over b's peer id, not e's.
	digest := p2p.IdentityHash(Status(1).ChainID, Status(1).Genesis, b.Self())
	sig, err := crypto.Sign(digest[:], sb.Key)
	if err != nil {
		t.Fatal(err)
	}
	e := h.NewNode(t, Status(1), replaySigner{claim: sb.Address(), sig: sig})
	if err := h.Connect(t, a, e); !errors.Is(err, p2p.ErrBadIdentity) {
		t.Fatalf("dialing a replayer: %v, want ErrBadIdentity", err)
	}
	Eventually(t, h.Wait, "replayed identity penalised", func() bool { return a.(p2p.Scorer).Score(e.Self()) > 0 })
	Eventually(t, h.Wait, "impostors dropped", func() bool {
		return !slices.Contains(a.Peers(), d.Self()) && !slices.Contains(a.Peers(), e.Self())
	})
	for _, bad := range []p2p.Network{d, e} {
		wantAddr(a, bad, common.Address{}, false)
	}
	if p, ok := book(a).PeerByAddress(sb.Address()); !ok || p != b.Self() {
		t.Fatalf("after the impostors, PeerByAddress(b) = %s %v, want %s", p, ok, b.Self())
	}

	// The mapping lives as long as the connection.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	Eventually(t, h.Wait, "b's address gone with b", func() bool {
		_, ok := book(a).PeerByAddress(sb.Address())
		return !ok
	})
}

func line(t *testing.T, h Harness, n int) []p2p.Network {
	nodes := make([]p2p.Network, n)
	for i := range nodes {
		nodes[i] = h.NewNode(t, Status(1), nil)
	}
	for i := 1; i < n; i++ {
		if err := h.Connect(t, nodes[i-1], nodes[i]); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func testGossipTwoHops(t *testing.T, h Harness) {
	nodes := line(t, h, 3)
	const name = "/emcd/1337/test/1"
	topics := make([]p2p.Topic, len(nodes))
	for i, n := range nodes {
		tp, err := n.Join(name, p2p.TopicOptions{})
		if err != nil {
			t.Fatal(err)
		}
		topics[i] = tp
	}
	for _, p := range nodes[0].Peers() {
		if p == nodes[2].Self() {
			t.Fatal("ends of the line are directly connected")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.Wait)
	defer cancel()
	// Republish until the mesh has formed and the far end hears it.
	got := make(chan p2p.Message, 1)
	go func() {
		for m := range topics[2].Messages() {
			select {
			case got <- m:
			default:
			}
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if err := topics[0].Publish(ctx, fmt.Appendf(nil, "hello %d", i)); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m.Origin != nodes[0].Self() || m.From != nodes[1].Self() || !bytes.HasPrefix(m.Data, []byte("hello ")) {
				t.Fatalf("message %+v: want origin %s via %s", m, nodes[0].Self(), nodes[1].Self())
			}
			return
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("gossip did not reach the peer two hops away")
		}
	}
}

var echoSpec = p2p.Spec{ID: "/emcd/1337/echo/1", MaxRequest: 1 << 10, MaxResponse: 1 << 10, Timeout: 5 * time.Second}

func testRequest(t *testing.T, h Harness) {
	nodes := line(t, h, 2)
	a, b := nodes[0], nodes[1]
	err := b.Handle(echoSpec, func(_ context.Context, from p2p.PeerID, req []byte) ([]byte, error) {
		if string(req) == "fail" {
			return nil, errors.New("refused")
		}
		return append([]byte(string(from)+":"), req...), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Handle(echoSpec, nil); !errors.Is(err, p2p.ErrAlreadyRegistered) {
		t.Fatalf("second handler: %v", err)
	}
	Eventually(t, h.Wait, "peers", func() bool { return a.PeerCount() == 1 })
	ctx := context.Background()
	resp, err := a.Request(ctx, b.Self(), echoSpec, []byte("ping"))
	if err != nil {
		t.Fatal(err)
	}
	if want := string(a.Self()) + ":ping"; string(resp) != want {
		t.Fatalf("response %q, want %q", resp, want)
	}
	if _, err := a.Request(ctx, b.Self(), echoSpec, []byte("fail")); !errors.Is(err, p2p.ErrRemote) {
		t.Fatalf("error reply: %v, want ErrRemote", err)
	}
	other := echoSpec
	other.ID = "/emcd/1337/nothere/1"
	if _, err := a.Request(ctx, b.Self(), other, []byte("x")); err == nil {
		t.Fatal("request on an unserved protocol succeeded")
	}
	if a.(p2p.Scorer).Score(b.Self()) != 0 || b.(p2p.Scorer).Score(a.Self()) != 0 {
		t.Fatal("honest exchange penalised someone")
	}
}

func testDirect(t *testing.T, h Harness) {
	nodes := line(t, h, 2)
	a, b := nodes[0], nodes[1]
	spec := p2p.Names{ChainID: 1337}.DirectSpec()
	got := make(chan []byte, 1)
	if err := b.Handle(spec, func(_ context.Context, _ p2p.PeerID, req []byte) ([]byte, error) {
		got <- req
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, h.Wait, "peers", func() bool { return a.PeerCount() == 1 })
	big := bytes.Repeat([]byte{0xab}, 3*p2p.MaxGossipSize)
	if _, err := a.Request(context.Background(), b.Self(), spec, big); err != nil {
		t.Fatal(err)
	}
	if r := <-got; !bytes.Equal(r, big) {
		t.Fatal("direct payload corrupted")
	}
	over := make([]byte, spec.MaxRequest+1)
	if _, err := a.Request(context.Background(), b.Self(), spec, over); !errors.Is(err, p2p.ErrTooLarge) {
		t.Fatalf("over-limit direct send: %v", err)
	}
}

func testMalformedGossip(t *testing.T, h Harness) {
	nodes := line(t, h, 2)
	a, b := nodes[0], nodes[1]
	const name = "/emcd/1337/strict/1"
	ta, err := a.Join(name, p2p.TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Join(name, p2p.TopicOptions{MaxSize: 64, Validate: func(_ context.Context, _ p2p.PeerID, data []byte) error {
		if bytes.HasPrefix(data, []byte("bad")) {
			return fmt.Errorf("%w: starts with bad", p2p.ErrMalformed)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.Wait)
	defer cancel()
	// Wait until a good message gets through (mesh formed).
	for i := 0; ; i++ {
		_ = ta.Publish(ctx, fmt.Appendf(nil, "good %d", i))
		select {
		case <-tb.Messages():
		case <-time.After(200 * time.Millisecond):
			if ctx.Err() != nil {
				t.Fatal("good message never arrived")
			}
			continue
		}
		break
	}
	scorer := b.(p2p.Scorer)
	if err := ta.Publish(ctx, []byte("bad message")); err != nil {
		t.Fatal(err)
	}
	Eventually(t, h.Wait, "penalty for malformed gossip", func() bool { return scorer.Score(a.Self()) > 0 })
	before := scorer.Score(a.Self())
	if err := ta.Publish(ctx, bytes.Repeat([]byte("x"), 100)); err != nil {
		t.Fatal(err)
	}
	Eventually(t, h.Wait, "penalty for oversized gossip", func() bool { return scorer.Score(a.Self()) > before })
	for {
		select {
		case m := <-tb.Messages():
			if bytes.HasPrefix(m.Data, []byte("bad")) || len(m.Data) > 64 {
				t.Fatalf("rejected message delivered: %q", m.Data)
			}
			continue
		default:
		}
		break
	}
}

func testOversizedRequest(t *testing.T, h Harness) {
	nodes := line(t, h, 2)
	a, b := nodes[0], nodes[1]
	small := echoSpec
	small.MaxRequest = 16
	if err := b.Handle(small, func(_ context.Context, _ p2p.PeerID, req []byte) ([]byte, error) {
		if len(req) == 0 {
			return nil, fmt.Errorf("%w: empty", p2p.ErrMalformed)
		}
		return req, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Both sides must have verified the handshake: b resets streams from a
	// peer it has not verified yet, without a penalty (seen under load).
	Eventually(t, h.Wait, "peers", func() bool { return a.PeerCount() == 1 && b.PeerCount() == 1 })
	// The client believes the limit is larger than the server's.
	big := small
	big.MaxRequest = 1 << 10
	if _, err := a.Request(context.Background(), b.Self(), big, make([]byte, 100)); err == nil {
		t.Fatal("oversized request answered")
	}
	scorer := b.(p2p.Scorer)
	Eventually(t, h.Wait, "penalty for oversized request", func() bool { return scorer.Score(a.Self()) > 0 })
	before := scorer.Score(a.Self())
	if _, err := a.Request(context.Background(), b.Self(), small, nil); !errors.Is(err, p2p.ErrRemote) {
		t.Fatalf("malformed request: %v", err)
	}
	Eventually(t, h.Wait, "penalty for malformed request", func() bool { return scorer.Score(a.Self()) > before })
}

// testGossipPenaltyWeights checks that a Validator's error picks the penalty
// (p2p.GossipPenalty): a stale message costs PenaltyMinor, a provably
// invalid one PenaltyInvalid. Scores decay on the wall clock, so the bounds
// leave room for a little decay.
func testGossipPenaltyWeights(t *testing.T, h Harness) {
	nodes := line(t, h, 2)
	a, b := nodes[0], nodes[1]
	const name = "/emcd/1337/weights/1"
	ta, err := a.Join(name, p2p.TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Join(name, p2p.TopicOptions{Validate: func(_ context.Context, _ p2p.PeerID, data []byte) error {
		switch {
		case bytes.HasPrefix(data, []byte("stale")):
			return fmt.Errorf("%w: old", p2p.ErrStale)
		case bytes.HasPrefix(data, []byte("forged")):
			return fmt.Errorf("%w: bad signature", p2p.ErrInvalid)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.Wait)
	defer cancel()
	for i := 0; ; i++ {
		_ = ta.Publish(ctx, fmt.Appendf(nil, "good %d", i))
		select {
		case <-tb.Messages():
		case <-time.After(200 * time.Millisecond):
			if ctx.Err() != nil {
				t.Fatal("good message never arrived")
			}
			continue
		}
		break
	}
	scorer := b.(p2p.Scorer)
	if err := ta.Publish(ctx, []byte("stale 1")); err != nil {
		t.Fatal(err)
	}
	Eventually(t, h.Wait, "penalty for stale gossip", func() bool { return scorer.Score(a.Self()) > 0 })
	if s := scorer.Score(a.Self()); s > float64(p2p.PenaltyMinor) {
		t.Fatalf("stale gossip cost %.2f, want at most PenaltyMinor (%d)", s, p2p.PenaltyMinor)
	}
	if err := ta.Publish(ctx, []byte("forged 1")); err != nil {
		t.Fatal(err)
	}
	Eventually(t, h.Wait, "penalty for invalid gossip", func() bool {
		return scorer.Score(a.Self()) > float64(p2p.PenaltyInvalid)-1
	})
	if s := scorer.Score(a.Self()); s > float64(p2p.PenaltyInvalid+p2p.PenaltyMinor) {
		t.Fatalf("stale + invalid gossip cost %.2f, want at most %d", s, p2p.PenaltyInvalid+p2p.PenaltyMinor)
	}
}
