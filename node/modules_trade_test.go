package node

import (
	"encoding/json"
	"testing"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// TestJobsReportToRewards: the node wires the jobs module to a rewards
// module built from the chain's own rewards params (epoch length and trade
// params included), so the market's credits and trade rewards follow the
// genesis.
func TestJobsReportToRewards(t *testing.T) {
	g := genesis.Dev()
	g.Params = map[string]json.RawMessage{rewards.Name: json.RawMessage(`{"trade":{"vestingEpochs":5}}`)}
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := mods.Lookup(native.JobsAddress)
	if !ok {
		t.Fatal("no jobs module")
	}
	rw := m.(*jobs.Module).Rewards()
	if rw == nil {
		t.Fatal("the jobs module reports to no rewards module")
	}
	chain := mods.rewards()
	if got, want := rw.Params(), chain.Params(); got.Trade.VestingEpochs != 5 || got.EpochLength != want.EpochLength ||
		!got.Trade.EpochCapWei.Eq(want.Trade.EpochCapWei) {
		t.Fatalf("jobs' rewards params %+v, chain's %+v", got.Trade, want.Trade)
	}
}
