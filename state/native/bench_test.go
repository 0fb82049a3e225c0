package native_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/core/vm"
)

// BenchmarkBind measures the per-message cost the executor pays: a fresh
// precompile map and one bound module.
func BenchmarkBind(b *testing.B) {
	c, _ := newProbeChain(b)
	msg := c.Msg(alice, &probeAddr, nil, nil)
	evm := vm.NewEVM(c.BlockContext(), c.State, c.Config, vm.Config{})
	b.ReportAllocs()
	for b.Loop() {
		c.Registry.Bind(evm, msg)
	}
}

// BenchmarkDirectView measures a bound view call through evm.Call.
func BenchmarkDirectView(b *testing.B) {
	c, a := newProbeChain(b)
	data, err := a.Pack("get")
	if err != nil {
		b.Fatal(err)
	}
	msg := c.Msg(alice, &probeAddr, nil, data)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Invoke(msg, probeAddr, data, nil); err != nil {
			b.Fatal(err)
		}
	}
}
