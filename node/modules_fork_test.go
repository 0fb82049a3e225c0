package node

import (
	"encoding/json"
	"testing"

	"github.com/ethereum/go-ethereum/common/math"

	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/params"
)

// TestVerifyPruneForkWiring: the verify module prunes exactly when the
// genesis schedules the verifyPrune fork, from its block.
func TestVerifyPruneForkWiring(t *testing.T) {
	for _, c := range []struct {
		name   string
		sched  map[string]math.HexOrDecimal64
		pruned bool
	}{
		{"unscheduled", nil, false},
		{"from genesis", map[string]math.HexOrDecimal64{params.ForkVerifyPrune: 0}, true},
		{"far ahead", map[string]math.HexOrDecimal64{params.ForkVerifyPrune: 1 << 40}, false},
	} {
		g := genesis.Dev()
		g.Forks = c.sched
		g.Params[verify.Name] = json.RawMessage(`{}`)
		mods, err := LoadModules(g)
		if err != nil {
			t.Fatal(err)
		}
		v := mods.verify()
		if v == nil {
			t.Fatal("no verify module")
		}
		late := (verify.DefaultKeepEpochs+1)*uint64(g.EpochLength) + 1
		if got := v.Pruned(0, late); got != c.pruned {
			t.Errorf("%s: epoch 0 pruned at block %d: %v, want %v", c.name, late, got, c.pruned)
		}
		if forkSchedule(g)[params.ForkVerifyPrune] != uint64(c.sched[params.ForkVerifyPrune]) {
			t.Errorf("%s: emc_forks schedule %v", c.name, forkSchedule(g))
		}
	}
}
