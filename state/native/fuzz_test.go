package native_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"
)

// FuzzDispatch feeds arbitrary input to the probe module, directly and from
// a contract, with and without value: the dispatcher must never panic, and
// every failure must be a revert carrying a decodable Error(string) reason.
func FuzzDispatch(f *testing.F) {
	a, err := abi.JSON(strings.NewReader(probeABI))
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range a.Methods {
		f.Add(m.ID, false, uint64(0))
		f.Add(append(m.ID, make([]byte, 32)...), true, uint64(1))
		f.Add(append(m.ID, 0xff, 0xff), false, uint64(0))
	}
	f.Add([]byte{}, false, uint64(0))
	f.Fuzz(func(t *testing.T, input []byte, direct bool, value uint64) {
		c, _ := newProbeChain(t)
		to := probeAddr
		if !direct {
			to = alice // the message went elsewhere; this call is "from a contract"
		}
		msg := c.Msg(alice, &to, uint256.NewInt(value), input)
		ret, err := c.Invoke(msg, probeAddr, input, uint256.NewInt(value))
		if err == nil {
			return
		}
		if errors.Is(err, vm.ErrOutOfGas) {
			return
		}
		if !errors.Is(err, vm.ErrExecutionReverted) {
			t.Fatalf("error %v is not a revert", err)
		}
		if _, uerr := abi.UnpackRevert(ret); uerr != nil {
			t.Fatalf("revert data %x does not decode: %v", ret, uerr)
		}
	})
}
