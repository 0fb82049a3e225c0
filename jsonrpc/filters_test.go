package jsonrpc

import (
	"context"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"
)

func ethereumFilter(addr common.Address) ethereum.FilterQuery {
	return ethereum.FilterQuery{Addresses: []common.Address{addr}}
}

// TestFilterExpiry advances a simulated clock past the filter timeout.
func TestFilterExpiry(t *testing.T) {
	b := newFakeBackend(t)
	cfg := DefaultConfig().withDefaults()
	api := newFilterAPI(b, cfg, nil)
	now := time.Unix(1_700_000_000, 0)
	api.now = func() time.Time { return now }
	ctx := context.Background()

	kept, _ := api.NewBlockFilter(ctx)
	dropped, _ := api.NewPendingTransactionFilter(ctx, nil)
	now = now.Add(cfg.FilterTimeout - time.Second)
	if _, err := api.GetFilterChanges(ctx, kept); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	api.expire()
	if _, err := api.GetFilterChanges(ctx, kept); err != nil {
		t.Fatalf("polled filter expired: %v", err)
	}
	if _, err := api.GetFilterChanges(ctx, dropped); err != ErrFilterNotFound {
		t.Fatalf("idle filter: err = %v, want ErrFilterNotFound", err)
	}
}

func TestFilterLimit(t *testing.T) {
	b := newFakeBackend(t)
	cfg := DefaultConfig().withDefaults()
	cfg.MaxFilters = 2
	api := newFilterAPI(b, cfg, nil)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := api.NewBlockFilter(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := api.NewBlockFilter(ctx); err == nil {
		t.Fatal("third filter installed")
	}
}

func TestLogResultLimit(t *testing.T) {
	b := newFakeBackend(t)
	cfg := DefaultConfig().withDefaults()
	cfg.LogResultLimit = 1
	api := newFilterAPI(b, cfg, nil)
	b.mine(signedLoggerCall(t, 2))
	earliest := rpc.EarliestBlockNumber
	if _, err := api.GetLogs(context.Background(), FilterCriteria{FromBlock: &earliest}); err == nil {
		t.Fatal("limit not enforced")
	} else if c, ok := err.(rpc.Error); !ok || c.ErrorCode() != codeLimitExceeded {
		t.Fatalf("err = %v, want code %d", err, codeLimitExceeded)
	}
}

// TestResolveTags pins how every block tag resolves on a BFT chain.
func TestResolveTags(t *testing.T) {
	b := newFakeBackend(t) // head = 2
	tests := []struct {
		tag  rpc.BlockNumber
		want uint64
		ok   bool
	}{
		{rpc.LatestBlockNumber, 2, true},
		{rpc.PendingBlockNumber, 2, true},
		{rpc.SafeBlockNumber, 2, true},
		{rpc.FinalizedBlockNumber, 2, true},
		{rpc.EarliestBlockNumber, 0, true},
		{1, 1, true},
		{99, 99, true},
		{-7, 0, false},
	}
	for _, tt := range tests {
		got, ok := resolveNumber(b, tt.tag)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%v: got (%d, %v), want (%d, %v)", tt.tag, got, ok, tt.want, tt.ok)
		}
	}
	h1 := b.HeaderByNumber(1).Hash()
	refs := []struct {
		name    string
		ref     rpc.BlockNumberOrHash
		want    uint64
		wantErr error
	}{
		{"hash", rpc.BlockNumberOrHashWithHash(h1, false), 1, nil},
		{"canonical hash", rpc.BlockNumberOrHashWithHash(h1, true), 1, nil},
		{"unknown hash", rpc.BlockNumberOrHashWithHash(common.Hash{1}, false), 0, ErrHashNotFound},
		{"future number", rpc.BlockNumberOrHashWithNumber(5), 0, ErrHeaderNotFound},
		{"finalized", rpc.BlockNumberOrHashWithNumber(rpc.FinalizedBlockNumber), 2, nil},
	}
	for _, tt := range refs {
		h, err := headerByNumberOrHash(b, tt.ref)
		if err != tt.wantErr || (err == nil && h.Number.Uint64() != tt.want) {
			t.Errorf("%s: got (%v, %v)", tt.name, h, err)
		}
	}
}
