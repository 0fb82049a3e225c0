package node

import (
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/state/native"
)

func jobsABI(t testing.TB) (string, abi.ABI) {
	t.Helper()
	abiJSON := (&jobs.Module{}).ABI() // the module's constant ABI
	parsed, err := abi.JSON(strings.NewReader(abiJSON))
	if err != nil {
		t.Fatal(err)
	}
	return abiJSON, parsed
}

func counterValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestJobsMetricsCountModuleEvents: the jobs module's events are counted by
// state and settlements add their cost and burn; the same events from any
// other address (a contract imitating the module) and undecodable data are
// not counted as settlements.
func TestJobsMetricsCountModuleEvents(t *testing.T) {
	abiJSON, parsed := jobsABI(t)
	m, err := newJobsMetrics(prometheus.NewRegistry(), abiJSON)
	if err != nil {
		t.Fatal(err)
	}
	id := common.BigToHash(big.NewInt(7))
	settled := parsed.Events["JobSettled"]
	data, err := settled.Inputs.NonIndexed().Pack(big.NewInt(5e18), big.NewInt(1e18), big.NewInt(0))
	if err != nil {
		t.Fatal(err)
	}
	log := func(addr common.Address, ev string, data []byte) *types.Log {
		return &types.Log{Address: addr, Topics: []common.Hash{parsed.Events[ev].ID, id, {}}, Data: data}
	}
	fake := common.HexToAddress("0xbad")
	m.observe(types.Receipts{
		{Logs: []*types.Log{
			log(native.JobsAddress, "JobSubmitted", nil),
			log(native.JobsAddress, "JobAssigned", nil),
			log(native.JobsAddress, "JobAccepted", nil),
		}},
		{Logs: []*types.Log{
			log(native.JobsAddress, "JobSettled", data),
			log(fake, "JobSettled", data),                             // not the module: ignored
			log(native.JobsAddress, "JobSettled", data[:40]),          // truncated: counted, not summed
			{Address: native.JobsAddress},                             // no topic
			{Address: native.JobsAddress, Topics: []common.Hash{{1}}}, // unknown event
		}},
	})
	for label, want := range map[string]float64{"submitted": 1, "assigned": 1, "running": 1, "result": 0, "settled": 2, "cancelled": 0} {
		if got := counterValue(t, m.events.WithLabelValues(label).(prometheus.Counter)); got != want {
			t.Errorf("events{%s} = %v, want %v", label, got, want)
		}
	}
	if got := counterValue(t, m.cost); got != 5e18 {
		t.Errorf("cost %v, want 5e18", got)
	}
	if got := counterValue(t, m.burned); got != 1e18 {
		t.Errorf("burned %v, want 1e18", got)
	}
	if got := counterValue(t, m.decodeFailures); got != 1 {
		t.Errorf("decode failures %v, want 1", got)
	}
}

// FuzzJobsMetricsObserve: any log data under any of the module's event
// topics is counted or refused, never a panic.
func FuzzJobsMetricsObserve(f *testing.F) {
	abiJSON, parsed := jobsABI(f)
	m, err := newJobsMetrics(prometheus.NewRegistry(), abiJSON)
	if err != nil {
		f.Fatal(err)
	}
	var topics []common.Hash
	for name := range jobEventLabels {
		topics = append(topics, parsed.Events[name].ID)
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(3), make([]byte, 96))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		m.observe(types.Receipts{{Logs: []*types.Log{{Address: native.JobsAddress,
			Topics: []common.Hash{topics[int(which)%len(topics)]}, Data: data}}}})
	})
}
