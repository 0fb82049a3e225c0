package node

import (
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// TestChainRegistryCountsRegisteredPeers: the heartbeat table's Registry
// reads the registry module in the head state: an unregistered peer does
// not count; after a registerNode tx the peer counts under its owner, from
// the next head on; a peer ID that is no peer ID never counts.
func TestChainRegistryCountsRegisteredPeers(t *testing.T) {
	g := genesis.Dev()
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	keys, err := genesis.DevAccountKeys(2)
	if err != nil {
		t.Fatal(err)
	}
	owner := crypto.PubkeyToAddress(keys[1].PublicKey)
	nodeKey, _, err := lcrypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	r := &chainRegistry{chain: chain, log: discardLog()}
	if _, ok := r.Registered(p2p.PeerID(id.String())); ok {
		t.Fatal("an unregistered peer counts")
	}
	if _, ok := r.Registered("not-a-peer-id"); ok {
		t.Fatal("garbage counts as a peer")
	}

	m, _ := mods.Lookup(native.RegistryAddress)
	a, err := abi.JSON(strings.NewReader(m.ABI()))
	if err != nil {
		t.Fatal(err)
	}
	pid, sig, err := registry.SignPeerProof(nodeKey, uint256.MustFromBig(chain.Config().ChainID), owner)
	if err != nil {
		t.Fatal(err)
	}
	data, err := a.Pack("registerNode", pid, sig, crypto.Keccak256Hash([]byte("inventory")), uint32(2), "NVIDIA H100",
		uint64(81_559), true, []string{"NVIDIA H100"}, []*big.Int{big.NewInt(1e9)}, big.NewInt(1000), [][32]byte{{1}})
	if err != nil {
		t.Fatal(err)
	}
	to := native.RegistryAddress
	tx, err := types.SignNewTx(keys[1], types.LatestSigner(chain.Config()), &types.DynamicFeeTx{
		ChainID: chain.Config().ChainID, Nonce: 0, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(20e9),
		Gas: 3_000_000, To: &to, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	sealKey := genesis.DevSignerKey()
	b := supplyMine(t, chain, sealKey, crypto.PubkeyToAddress(sealKey.PublicKey), []*types.Transaction{tx})
	if rc := chain.Receipts(b.Hash()); len(rc) != 1 || rc[0].Status != types.ReceiptStatusSuccessful {
		t.Fatalf("registerNode failed: %+v", rc)
	}
	got, ok := r.Registered(p2p.PeerID(id.String()))
	if !ok || got != owner {
		t.Fatalf("registered peer: owner %s ok %v, want %s", got, ok, owner)
	}
	if _, ok := r.Registered(p2p.PeerID(peer.ID("other").String())); ok {
		t.Fatal("another peer counts")
	}
}
