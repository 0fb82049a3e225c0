package registry_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/state/native"
)

func parsedABI(t testing.TB) abi.ABI {
	var m registry.Module
	a, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// FuzzNodeInput feeds arbitrary calldata (after the selector) through the
// registerNode argument decoding the module runs: it must never panic, and
// an accepted inventory must encode within MaxRecordBytes and decode back
// to itself.
func FuzzNodeInput(f *testing.F) {
	a := parsedABI(f)
	id, sig := proof(f, peerKey(f, 1, false), alice)
	good, _ := a.Pack("registerNode", append([]any{id, sig}, goodInv().args()...)...)
	f.Add(good[4:])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 320))
	m := a.Methods["registerNode"]
	f.Fuzz(func(t *testing.T, data []byte) {
		args, err := m.Inputs.Unpack(data)
		if err != nil {
			return
		}
		n, err := registry.DecodeNodeArgs(args[2:])
		if err != nil {
			return
		}
		n.PeerID = make([]byte, registry.MaxPeerIDBytes)
		n.RegisteredBlock, n.UpdatedBlock = ^uint64(0), ^uint64(0)
		enc, err := registry.EncodeNode(&n)
		if err != nil || len(enc) > registry.MaxRecordBytes {
			t.Fatalf("accepted inventory encodes to %d bytes: %v", len(enc), err)
		}
		back, err := registry.DecodeNode(enc)
		if err != nil {
			t.Fatalf("decode own encoding: %v", err)
		}
		again, _ := registry.EncodeNode(&back)
		if !bytes.Equal(again, enc) {
			t.Fatal("record does not round-trip")
		}
	})
}

// FuzzDecodeNode: stored records decode only in their canonical encoding.
func FuzzDecodeNode(f *testing.F) {
	n, _ := registry.DecodeNodeArgs(goodInv().args())
	n.PeerID = []byte{1, 2, 3}
	enc, _ := registry.EncodeNode(&n)
	f.Add(enc)
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := registry.DecodeNode(data)
		if err != nil {
			return
		}
		enc, err := registry.EncodeNode(&n)
		if err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("decoded a non-canonical record: %x → %x (%v)", data, enc, err)
		}
	})
}

// FuzzVerifyPeerProof: arbitrary peer IDs and signatures never panic, and
// never verify unless they are the real proof.
func FuzzVerifyPeerProof(f *testing.F) {
	id, sig := proof(f, peerKey(f, 1, false), alice)
	idS, sigS := proof(f, peerKey(f, 2, true), alice)
	f.Add(id, sig)
	f.Add(idS, sigS)
	f.Add([]byte{0, 2, 1}, []byte{1})
	chain := uint256.NewInt(1337)
	f.Fuzz(func(t *testing.T, peerID, s []byte) {
		err := registry.VerifyPeerProof(chain, alice, peerID, s)
		if err == nil && !(bytes.Equal(peerID, id) || bytes.Equal(peerID, idS)) {
			t.Fatalf("verified a proof for unknown peer %x", peerID)
		}
	})
}

// FuzzRegistryCalldata sends arbitrary calldata to the module through the
// EVM: it must never panic or break the list invariants.
func FuzzRegistryCalldata(f *testing.F) {
	a := parsedABI(f)
	id, sig := proof(f, peerKey(f, 1, false), alice)
	good, _ := a.Pack("registerNode", append([]any{id, sig}, goodInv().args()...)...)
	f.Add(good)
	dereg, _ := a.Pack("deregisterNode")
	f.Add(dereg)
	ping, _ := a.Pack("ping")
	f.Add(ping)
	seen, _ := a.Pack("lastSeen", alice)
	f.Add(seen)
	f.Fuzz(func(t *testing.T, data []byte) {
		ft := newFixture(t, "")
		msg := ft.Msg(alice, &regAddr, nil, data)
		msg.GasLimit = 3_000_000
		_, _ = ft.Invoke(msg, native.RegistryAddress, data, nil)
		owners, total := registry.NodeOwners(ft.State, 0, registry.MaxPage)
		if uint64(len(owners)) != total {
			t.Fatalf("%d owners listed of %d", len(owners), total)
		}
		for _, o := range owners {
			if _, ok, err := registry.NodeOf(ft.State, o); !ok || err != nil {
				t.Fatalf("listed %s: %v %v", o, ok, err)
			}
		}
	})
}
