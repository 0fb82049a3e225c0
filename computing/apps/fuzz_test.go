package apps_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/core/vm"
)

// FuzzSettle: any bytes given to settle as a receipt either settle (only a
// well-signed receipt can) or revert with an apps or framework reason,
// never panic, and the invariants (checked by the fixture after the call)
// hold either way.
func FuzzSettle(f *testing.F) {
	seed := newFixture(f)
	app := seed.publish(1_000)
	id := seed.running(app, emc(1))
	seed.to(seed.Number + 5)
	good := seed.meter(id, n1Key, r1Key).calls(f, 3, 100)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{})
	f.Add(make([]byte, 235))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fx := newFixture(t)
		app := fx.publish(1_000)
		id := fx.running(app, emc(1))
		fx.to(fx.Number + 5)
		r := fx.send(n1, nil, "settle", big64(id), raw)
		if r.err == nil {
			if in := fx.inst(id); in.Seq == 0 {
				t.Fatal("settle succeeded without recording the receipt")
			}
			return
		}
		if !errors.Is(r.err, vm.ErrExecutionReverted) || !(strings.HasPrefix(r.reason(), "apps: ") || strings.HasPrefix(r.reason(), "native: ")) {
			t.Fatalf("settle: %v %q", r.err, r.reason())
		}
	})
}
