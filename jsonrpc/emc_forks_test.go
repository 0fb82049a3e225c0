package jsonrpc

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

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
