package engine

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state"
)

// bus is an in-process broadcast transport between engines (every message
// reaches every engine, including the sender, like gossip with self-delivery
// disabled plus the core's own local delivery).
type bus struct {
	mu      sync.Mutex
	engines []*Engine
	down    map[int]bool
}

type busPort struct {
	b    *bus
	self int
}

func (p busPort) Broadcast(_ context.Context, data []byte) error {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if p.b.down[p.self] {
		return nil
	}
	for i, e := range p.b.engines {
		if i != p.self && !p.b.down[i] {
			e.Deliver(append([]byte(nil), data...))
		}
	}
	return nil
}

type emptyPool struct{}

func (emptyPool) Source() state.TxSource             { return nil }
func (emptyPool) Get(common.Hash) *types.Transaction { return nil }

func TestFourValidatorsCommitTheSameChain(t *testing.T) {
	const n = 4
	keys := make([]*ecdsa.PrivateKey, n)
	g := genesis.Dev()
	g.Validators = nil
	for i := range keys {
		keys[i], _ = crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("engine-test-%d", i))))
		g.Validators = append(g.Validators, crypto.PubkeyToAddress(keys[i].PublicKey))
	}
	g.BlockPeriodMs = 100
	b := &bus{down: map[int]bool{}}
	chains := make([]*state.Chain, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	dir := t.TempDir()
	for i := range n {
		c, err := state.Open(state.OpenMemoryStore(), g, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		chains[i] = c
		e := New(Config{Key: keys[i], BlockPeriod: 100 * time.Millisecond, Tick: 10 * time.Millisecond,
			WALPath: filepath.Join(dir, fmt.Sprintf("wal-%d", i))}, c, emptyPool{}, busPort{b, i})
		b.engines = append(b.engines, e)
	}
	for _, e := range b.engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.Run(ctx); err != nil {
				errs <- err
			}
		}()
	}
	waitHeight := func(target uint64, nodes ...int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			ok := true
			for _, i := range nodes {
				if chains[i].Head().Number.Uint64() < target {
					ok = false
				}
			}
			if ok {
				return
			}
			select {
			case err := <-errs:
				t.Fatal(err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		for _, i := range nodes {
			t.Logf("node %d at %d", i, chains[i].Head().Number)
		}
		t.Fatalf("height %d not reached", target)
	}
	waitHeight(5, 0, 1, 2, 3)
	// One validator down (F = 1): the others go on.
	b.mu.Lock()
	b.down[3] = true
	b.mu.Unlock()
	h := chains[0].Head().Number.Uint64()
	waitHeight(h+5, 0, 1, 2)
	cancel()
	wg.Wait()
	// Same block at every height on every node that has it.
	for num := uint64(1); num <= chains[0].Head().Number.Uint64(); num++ {
		var want common.Hash
		for i := range n {
			blk := chains[i].BlockByNumber(num)
			if blk == nil {
				continue
			}
			if want == (common.Hash{}) {
				want = blk.Hash()
			} else if blk.Hash() != want {
				t.Fatalf("fork at height %d", num)
			}
			c, err := chains[i].Certificate(num, blk.Hash())
			if err != nil || c == nil {
				t.Fatalf("node %d block %d: no certificate", i, num)
			}
			vals, _ := chains[i].ValidatorsFor(num)
			if _, err := c.Verify(blk.Hash(), vals); err != nil {
				t.Fatalf("node %d block %d: %v", i, num, err)
			}
		}
	}
}
