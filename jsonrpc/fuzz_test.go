package jsonrpc

import (
	"context"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

func signedLoggerCall(t testing.TB, nonce uint64) *types.Transaction {
	return types.MustSignNewTx(devKey, types.LatestSignerForChainID(testChainID), &types.DynamicFeeTx{
		ChainID: testChainID, Nonce: nonce, GasTipCap: big.NewInt(params.GWei), GasFeeCap: big.NewInt(5 * params.GWei),
		Gas: 100_000, To: &loggerAddr,
	})
}

// FuzzSendRawTransaction: any bytes through eth_sendRawTransaction's
// decoding and submission must not panic.
func FuzzSendRawTransaction(f *testing.F) {
	raw, _ := signedLoggerCall(f, 2).MarshalBinary()
	f.Add(raw)
	legacy, _ := types.MustSignNewTx(devKey, types.LatestSignerForChainID(testChainID), &types.LegacyTx{Nonce: 2, Gas: 21000, GasPrice: big.NewInt(1)}).MarshalBinary()
	f.Add(legacy)
	f.Add([]byte{0x02})
	f.Add([]byte{0xc0})
	b := newFakeBackend(f)
	api := newEthAPI(b, DefaultConfig().withDefaults(), nopLogger())
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = api.SendRawTransaction(context.Background(), hexutil.Bytes(data))
	})
}

// FuzzCallArgs: any JSON as eth_call's parameter list must decode or fail
// cleanly, and decoded parameters must execute without panicking.
func FuzzCallArgs(f *testing.F) {
	f.Add([]byte(`[{"to":"0x0000000000000000000000000000000000001000"},"latest"]`))
	f.Add([]byte(`[{"from":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","to":"0x0000000000000000000000000000000000002000","gas":"0x1","gasPrice":"0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff","value":"0x1"},"0x1"]`))
	f.Add([]byte(`[{"maxFeePerGas":"0x1","maxPriorityFeePerGas":"0x2","input":"0x6001"},{"blockHash":"0x0000000000000000000000000000000000000000000000000000000000000000"},{"0x0000000000000000000000000000000000001000":{"balance":"0x1","state":{},"stateDiff":{}}}]`))
	b := newFakeBackend(f)
	cfg := DefaultConfig().withDefaults()
	cfg.GasCap = 1_000_000
	api := newEthAPI(b, cfg, nopLogger())
	f.Fuzz(func(t *testing.T, data []byte) {
		var params []json.RawMessage
		if json.Unmarshal(data, &params) != nil || len(params) == 0 || len(params) > 3 {
			return
		}
		var args TransactionArgs
		if json.Unmarshal(params[0], &args) != nil {
			return
		}
		var bnh *rpc.BlockNumberOrHash
		if len(params) > 1 {
			bnh = new(rpc.BlockNumberOrHash)
			if json.Unmarshal(params[1], bnh) != nil {
				return
			}
		}
		var overrides *StateOverride
		if len(params) > 2 {
			overrides = new(StateOverride)
			if json.Unmarshal(params[2], overrides) != nil {
				return
			}
		}
		ctx := context.Background()
		_, _ = api.Call(ctx, args, bnh, overrides)
		_, _ = api.EstimateGas(ctx, args, bnh, overrides)
	})
}

// FuzzFilterCriteria: any JSON as an eth_getLogs filter must decode or fail
// cleanly, and decoded filters must run without panicking.
func FuzzFilterCriteria(f *testing.F) {
	f.Add([]byte(`{"fromBlock":"earliest","toBlock":"latest","address":"0x0000000000000000000000000000000000001000"}`))
	f.Add([]byte(`{"blockHash":"0x0000000000000000000000000000000000000000000000000000000000000001","topics":[null,["0x00000000000000000000000000000000000000000000000000000000000000aa",null]]}`))
	f.Add([]byte(`{"address":["0x0000000000000000000000000000000000001000"],"topics":[[],"0x00"]}`))
	b := newFakeBackend(f)
	api := newFilterAPI(b, DefaultConfig().withDefaults(), nopLogger())
	f.Fuzz(func(t *testing.T, data []byte) {
		var crit FilterCriteria
		if json.Unmarshal(data, &crit) != nil {
			return
		}
		_, _ = api.GetLogs(context.Background(), crit)
	})
}

// FuzzJobsFilter: any filter through emc_jobs on a chain with jobs 1
// (submitted) and 2 (cancelled) must not panic, must answer within the
// page bound, and must list only jobs that match it.
func FuzzJobsFilter(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"owner":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","state":"cancelled","offset":"0x1","limit":"0x1"}`))
	f.Add([]byte(`{"offset":"0xffffffffffffffff","limit":"0x64"}`))
	f.Add([]byte(`{"state":"settled","limit":"0x65"}`))
	b := newFakeBackend(f)
	jobsSetup(b)
	api := &emcAPI{b: b}
	f.Fuzz(func(t *testing.T, data []byte) {
		var filter JobsFilter
		if json.Unmarshal(data, &filter) != nil {
			return
		}
		out, err := api.Jobs(context.Background(), filter, nil)
		if err != nil {
			return
		}
		if len(out.Jobs) > MaxJobsPage || uint64(len(out.Jobs)) > uint64(out.Total) || out.NextOffset > max(out.Total, filter.Offset) {
			t.Fatalf("filter %s: %d jobs, next %d, total %d", data, len(out.Jobs), out.NextOffset, out.Total)
		}
		for _, j := range out.Jobs {
			if filter.Owner != nil && j.Submitter != *filter.Owner || filter.State != nil && j.State != *filter.State || uint64(j.ID) <= uint64(filter.Offset) && filter.Owner == nil {
				t.Fatalf("filter %s listed job %d (%s, %s)", data, j.ID, j.State, j.Submitter)
			}
		}
	})
}
