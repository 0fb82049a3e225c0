package state

// Method: the chain hands executed StateDBs from one goroutine to another
// (BuildBlock with KeepExecution and ValidateBlock cache them; InsertBlock,
// maybe on the sync goroutine, commits them) while RPC readers open states
// of their own. Each step of every height runs on its own goroutine here,
// as in a validator (IBFT driver builds and validates, sync inserts), two
// validations of the same block race each other, and readers open and read
// head and historical states throughout. Run under -race: any StateDB
// reachable from two goroutines without the cache's lock between them is
// reported.

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/consensus/cert"
)

func TestChainHandsStatesAcrossGoroutines(t *testing.T) {
	heights := 24
	if testing.Short() {
		heights = 12
	}
	tc := newTestChain(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	to := common.HexToAddress("0x2222")
	from := crypto.PubkeyToAddress(tc.keys[0].PublicKey)

	stop := make(chan struct{})
	var readers sync.WaitGroup
	var readErr error
	var readMu sync.Mutex
	fail := func(err error) {
		readMu.Lock()
		defer readMu.Unlock()
		if readErr == nil {
			readErr = err
		}
	}
	for r := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				head := tc.Head()
				n := head.Number.Uint64()
				if r%2 == 1 && n > 0 {
					n = uint64(i) % n
				}
				h := tc.HeaderByNumber(n)
				st, err := tc.StateAt(h.Root)
				if err != nil {
					fail(err)
					return
				}
				// The recipient gets 1 wei per block: its balance is the height.
				if got := st.GetBalance(to).Uint64(); got != n {
					fail(fmt.Errorf("balance at block %d is %d", n, got))
					return
				}
				if b := tc.BlockByNumber(n); b != nil && b.Transactions().Len() > 0 {
					if _, err := tc.StateAtTransaction(ctx, b, 0); err != nil {
						fail(err)
						return
					}
					if len(tc.Receipts(b.Hash())) != b.Transactions().Len() {
						fail(fmt.Errorf("block %d receipts missing", n))
						return
					}
				}
			}
		}()
	}

	built := make(chan *types.Block)
	validated := make(chan *types.Block)
	errs := make(chan error, 3)
	heads := make(chan HeadEvent, 2*heights)
	sub := tc.SubscribeHead(heads)
	defer sub.Unsubscribe()
	// Builder (the proposer's driver).
	go func() {
		defer close(built)
		for h := 0; h < heights; h++ {
			var parentCert *cert.Certificate
			head := tc.Head()
			if head.Number.Sign() > 0 {
				c, err := tc.Certificate(head.Number.Uint64(), head.Hash())
				if err != nil {
					errs <- err
					return
				}
				parentCert = c
			}
			b, err := tc.BuildBlock(ctx, &listSource{txs: []*types.Transaction{tc.transfer(0, uint64(h), to, big.NewInt(1))}},
				BuildParams{Coinbase: crypto.PubkeyToAddress(tc.signer.PublicKey), Time: time.Now(), ParentCommit: parentCert, KeepExecution: true})
			if err != nil {
				errs <- err
				return
			}
			select {
			case built <- b:
			case <-ctx.Done():
				return
			}
			// Wait for the block to be committed before building on it.
			for tc.Head().Number.Uint64() < b.NumberU64() {
				select {
				case <-ctx.Done():
					return
				case <-heads:
				}
			}
		}
	}()
	// Validators: even heights are validated twice at once from decoded
	// copies (two peers delivering the proposal); odd heights are committed
	// from the builder's kept execution.
	go func() {
		defer close(validated)
		for b := range built {
			if b.NumberU64()%2 == 0 {
				var wg sync.WaitGroup
				for range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						raw, _ := rlp.EncodeToBytes(b)
						var cp types.Block
						if err := rlp.DecodeBytes(raw, &cp); err != nil {
							errs <- err
							return
						}
						if err := tc.ValidateBlock(ctx, &cp); err != nil {
							errs <- err
						}
					}()
				}
				wg.Wait()
			}
			select {
			case validated <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	// Inserter (block sync or the commit step).
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range validated {
			if err := tc.InsertBlock(ctx, b, tc.seal(b.Hash())); err != nil {
				errs <- err
				return
			}
		}
	}()
	select {
	case <-done:
	case err := <-errs:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("pipeline did not finish in time")
	}
	close(stop)
	readers.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	if got := tc.Head().Number.Uint64(); got != uint64(heights) {
		t.Fatalf("head %d, want %d", got, heights)
	}
	st, _ := tc.StateAt(tc.Head().Root)
	if n := st.GetNonce(from); n != uint64(heights) {
		t.Fatalf("sender nonce %d, want %d", n, heights)
	}
}
