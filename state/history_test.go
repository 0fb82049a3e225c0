package state

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
)

// fakeReader answers every account with one nonce, or fails with err.
type fakeReader struct {
	ethstate.Reader
	nonce uint64
	err   error
}

func (f fakeReader) Account(common.Address) (*types.StateAccount, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &types.StateAccount{Nonce: f.nonce, Balance: new(uint256.Int)}, nil
}

func (f fakeReader) Storage(common.Address, common.Hash) (common.Hash, error) {
	if f.err != nil {
		return common.Hash{}, f.err
	}
	return common.BigToHash(new(uint256.Int).SetUint64(f.nonce).ToBig()), nil
}

// A live reader whose layer goes stale (pathdb's "layer stale", wrapped as
// go-ethereum wraps it) reads the same state from the history; any other
// error is the caller's.
func TestLiveReaderFallsBackWhenStale(t *testing.T) {
	root := common.HexToHash("0x01")
	stale := fmt.Errorf("[%#x] %w", root, errors.New("layer stale"))
	opened := 0
	historic := func(r common.Hash) (ethstate.Reader, error) {
		opened++
		if r != root {
			t.Fatalf("history opened at %s, want %s", r, root)
		}
		return fakeReader{nonce: 7}, nil
	}
	r := &liveReader{Reader: fakeReader{err: stale}, root: root, historic: historic}
	for range 3 {
		a, err := r.Account(common.Address{1})
		if err != nil || a.Nonce != 7 {
			t.Fatalf("stale account read: %v, %v; want the history's", a, err)
		}
		v, err := r.Storage(common.Address{1}, common.Hash{})
		if err != nil || v != common.BigToHash(uint256.NewInt(7).ToBig()) {
			t.Fatalf("stale storage read: %v, %v", v, err)
		}
	}
	if opened != 1 {
		t.Fatalf("history opened %d times, want once", opened)
	}
	other := errors.New("disk on fire")
	r = &liveReader{Reader: fakeReader{err: other}, root: root, historic: historic}
	if _, err := r.Account(common.Address{1}); !errors.Is(err, other) {
		t.Fatalf("non-stale error: %v", err)
	}
	r = &liveReader{Reader: fakeReader{nonce: 3}, root: root, historic: historic}
	if a, err := r.Account(common.Address{1}); err != nil || a.Nonce != 3 {
		t.Fatalf("live read: %v, %v", a, err)
	}
}
