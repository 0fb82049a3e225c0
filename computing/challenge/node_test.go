package challenge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/challenge"
	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/verify"
)

// listedChain: owner is challenged in every epoch, nothing committed.
type listedChain struct{ fakeChain }

func (listedChain) EpochSeed(epoch uint64) (common.Hash, bool) { return common.Hash{byte(epoch)}, true }

func (listedChain) Challenge(uint64, common.Address) (verify.Challenge, error) {
	return verify.Challenge{}, nil
}

func (listedChain) Listing(epoch uint64, _ common.Address) (verify.Listing, error) {
	return verify.Listing{Challenged: true, N: 64, Deadline: epoch*40 + 7}, nil
}

type nopSender struct{ commits int }

func (s *nopSender) CommitRoot(context.Context, uint64, common.Hash) error { s.commits++; return nil }
func (s *nopSender) Rebut(context.Context, uint64, common.Address, []byte) error {
	return errors.New("unexpected rebut")
}

// TestNodeServiceCancelsOnNewEpoch: a computation still running when the
// epoch changes is cancelled, its result dropped, and the new epoch's
// computation started.
func TestNodeServiceCancelsOnNewEpoch(t *testing.T) {
	started := make(chan pow.Workload, 4)
	cancelled := make(chan struct{}, 4)
	prove := func(ctx context.Context, w pow.Workload) (*pow.Prover, error) {
		started <- w
		<-ctx.Done()
		cancelled <- struct{}{}
		return nil, ctx.Err()
	}
	srv, err := challenge.NewServer(challenge.ServerConfig{ChainID: chainID, Owner: owner, Chain: &listedChain{}, Chunks: 4, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	snd := &nopSender{}
	svc, err := challenge.NewNodeService(challenge.NodeConfig{Owner: owner, Chain: &listedChain{}, Sender: snd, Server: srv, Prove: prove, Chunks: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	if err := svc.OnHead(ctx, 41, 1); err != nil {
		t.Fatal(err)
	}
	w1 := <-started
	if err := svc.OnHead(ctx, 42, 1); err != nil { // still computing: nothing new
		t.Fatal(err)
	}
	if err := svc.OnHead(ctx, 81, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("epoch 1's computation not cancelled")
	}
	w2 := <-started
	if w1.Seed == w2.Seed || w2.N != 64 {
		t.Fatalf("epoch 2 workload %+v after %+v", w2, w1)
	}
	if len(started) != 0 || snd.commits != 0 {
		t.Fatalf("%d extra computations, %d commits", len(started), snd.commits)
	}
	if _, ok := srv.Prover(1); ok {
		t.Fatal("a cancelled computation left a prover")
	}
}
