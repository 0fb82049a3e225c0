package sim_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/emc-network/emcd/computing/sim"
)

func TestRunSmoke(t *testing.T) {
	cfg := sim.DefaultConfig()
	r, err := sim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(r, "", " ")
	t.Logf("%s", b)
}
