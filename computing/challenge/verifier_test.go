package challenge_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/computing/challenge"
	"github.com/emc-network/emcd/computing/verify"
)

// manyChain: nodes 1…count each committed with self as their only verifier.
type manyChain struct {
	fakeChain
	self  common.Address
	count int
}

func (c *manyChain) Nodes() ([]common.Address, error) {
	out := make([]common.Address, c.count)
	for i := range out {
		out[i] = common.Address{byte(i + 1)}
	}
	return out, nil
}

func (c *manyChain) Challenge(uint64, common.Address) (verify.Challenge, error) {
	return verify.Challenge{Status: verify.StatusCommitted, Root: common.Hash{1}, N: 64, DeadlineBlock: 46, WindowEnd: 56,
		Verifiers: []common.Address{c.self}, Slots: []uint8{verify.SlotPending}}, nil
}

// gate blocks every fetch until released and records the most in flight.
type gate struct {
	mu        sync.Mutex
	in, most  int
	release   chan struct{}
	requested chan struct{}
}

func (g *gate) Fetch(ctx context.Context, _ common.Address, _ []byte) ([]byte, error) {
	g.mu.Lock()
	g.in++
	g.most = max(g.most, g.in)
	g.mu.Unlock()
	g.requested <- struct{}{}
	<-g.release
	g.mu.Lock()
	g.in--
	g.mu.Unlock()
	return nil, errors.New("unreachable")
}

type countSender struct {
	mu     sync.Mutex
	passes int
	fails  map[common.Address]int
}

func (s *countSender) Attest(context.Context, uint64, common.Address, []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.passes++
	return nil
}

func (s *countSender) AttestFail(_ context.Context, _ uint64, node common.Address) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[node]++
	return nil
}

// TestVerifierBoundedAndFails: five challenges, two fetches at a time;
// after MaxAttempts unreachable answers each gets exactly one attestFail.
func TestVerifierBoundedAndFails(t *testing.T) {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	mc := &manyChain{fakeChain: fakeChain{sample: common.Hash{5}, ready: true}, self: crypto.PubkeyToAddress(k.PublicKey), count: 5}
	g := &gate{release: make(chan struct{}), requested: make(chan struct{}, 16)}
	snd := &countSender{fails: map[common.Address]int{}}
	vs, err := challenge.NewVerifierService(challenge.VerifierConfig{ChainID: chainID, Key: k, Chain: mc, Fetcher: g, Sender: snd,
		Chunks: 4, Concurrency: 2, MaxAttempts: 2, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for head := uint64(47); head <= 49; head++ {
		if err := vs.OnHead(ctx, head, 1); err != nil {
			t.Fatal(err)
		}
		if head < 49 {
			for _, batch := range []int{2, 2, 1} { // two in flight at once, never three
				for range batch {
					<-g.requested
				}
				for range batch {
					g.release <- struct{}{}
				}
			}
		}
		vs.Wait()
	}
	if g.most != 2 {
		t.Errorf("at most %d fetches in flight, want 2", g.most)
	}
	if snd.passes != 0 || len(snd.fails) != 5 {
		t.Fatalf("%d passes, fails %v", snd.passes, snd.fails)
	}
	for n, c := range snd.fails {
		if c != 1 {
			t.Errorf("node %s failed %d times", n, c)
		}
	}
	// Sent: no more fails at later heads.
	if err := vs.OnHead(ctx, 50, 1); err != nil {
		t.Fatal(err)
	}
	vs.Wait()
	for n, c := range snd.fails {
		if c != 1 {
			t.Errorf("node %s failed %d times after a later head", n, c)
		}
	}
}

// notReady answers every request with CodeNotReady.
type notReady struct{ calls int }

func (f *notReady) Fetch(context.Context, common.Address, []byte) ([]byte, error) {
	f.calls++
	return (&challenge.Response{Code: challenge.CodeNotReady, Message: "behind"}).Encode(), nil
}

// TestVerifierWaitsForLaggingNode: "not ready" answers count no attempt;
// the fail comes only at the fail margin.
func TestVerifierWaitsForLaggingNode(t *testing.T) {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	mc := &manyChain{fakeChain: fakeChain{sample: common.Hash{5}, ready: true}, self: crypto.PubkeyToAddress(k.PublicKey), count: 1}
	f := &notReady{}
	snd := &countSender{fails: map[common.Address]int{}}
	vs, err := challenge.NewVerifierService(challenge.VerifierConfig{ChainID: chainID, Key: k, Chain: mc, Fetcher: f, Sender: snd,
		Chunks: 4, MaxAttempts: 2, FailMargin: 3, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	for head := uint64(47); head <= 53; head++ { // window 47…56; 53 + 3 ≥ 56
		if err := vs.OnHead(context.Background(), head, 1); err != nil {
			t.Fatal(err)
		}
		vs.Wait()
		if fails := len(snd.fails); (head < 53) != (fails == 0) {
			t.Fatalf("head %d: %d fails after %d fetches", head, fails, f.calls)
		}
	}
	if f.calls != 6 {
		t.Fatalf("%d fetches, want one a head before the margin (6)", f.calls)
	}
}
