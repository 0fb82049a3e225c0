package jsonrpc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	emcparams "github.com/emc-network/emcd/params"
)

// TestForks: emc_forks lists every fork the binary knows with the chain's
// schedule: null and inactive when unscheduled, active once the head
// reached its block.
func TestForks(t *testing.T) {
	srv, b := newTestServer(t)
	client := rpc.DialInProc(srv.rpc)
	defer client.Close()
	head := b.CurrentHeader().Number.Uint64()
	for _, c := range []struct {
		sched map[string]uint64
		want  string
	}{
		{nil, `null,"active":false`},
		{map[string]uint64{emcparams.ForkVerifyPrune: head}, fmt.Sprintf(`"%#x","active":true`, head)},
		{map[string]uint64{emcparams.ForkVerifyPrune: head + 1}, fmt.Sprintf(`"%#x","active":false`, head+1)},
	} {
		b.forks = c.sched
		var out json.RawMessage
		if err := client.CallContext(context.Background(), &out, "emc_forks"); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`[{"name":%q,"description":%q,"block":%s}]`, emcparams.ForkVerifyPrune, emcparams.Forks[0].Doc, c.want)
		if string(out) != want {
			t.Fatalf("emc_forks with %v:\n got %s\nwant %s", c.sched, out, want)
		}
	}
}

// TestEstimateGasNextBlock: the in-process EstimateGas (the node wallet's)
// runs in the next block's context, where the transaction lands: a
// contract that succeeds only when NUMBER is the head's number plus one
// estimates, and eth_estimateGas (the latest block, as geth) reverts.
func TestEstimateGasNextBlock(t *testing.T) {
	srv, b := newTestServer(t)
	client := rpc.DialInProc(srv.rpc)
	defer client.Close()
	at := common.Address{0xe5}
	headAfter := b.CurrentHeader().Number.Uint64() + 1 // the block mineState seals
	if headAfter+1 > 0xff {
		t.Fatalf("head %d too high for the PUSH1 below", headAfter)
	}
	// NUMBER PUSH1 n EQ PUSH1 0x0b JUMPI PUSH1 0 DUP1 REVERT JUMPDEST STOP
	code := []byte{0x43, 0x60, byte(headAfter + 1), 0x14, 0x60, 0x0b, 0x57, 0x60, 0x00, 0x80, 0xfd, 0x5b, 0x00}
	b.mineState(func(st *ethstate.StateDB) { st.SetCode(at, code, tracing.CodeChangeUnspecified) })
	if got := b.CurrentHeader().Number.Uint64(); got != headAfter {
		t.Fatalf("head %d, want %d", got, headAfter)
	}
	from := common.Address{0xf0}
	gas, err := EstimateGas(context.Background(), b, TransactionArgs{From: &from, To: &at})
	if err != nil || gas < params.TxGas {
		t.Fatalf("EstimateGas in the next block's context: %d, %v", gas, err)
	}
	var out hexutil.Uint64
	err = client.CallContext(context.Background(), &out, "eth_estimateGas", map[string]any{"from": from, "to": at})
	if err == nil || !strings.Contains(err.Error(), "revert") {
		t.Fatalf("eth_estimateGas at the latest block: %d, %v (want a revert)", out, err)
	}
}
