// The chain test runs the services against the real verify module (with
// the real staking, registry and rewards modules) on an in-memory chain
// (state/native/nativetest): transactions a service sends at head h are
// applied in block h+1, as a chain would include them.
package challenge_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/challenge"
	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

const (
	epochLength = 40
	periodMs    = 2000
	// simulated n 256, deadline 10 s (block b+6); 4 chunks; 10 blocks to attest.
	verifyParams = `{"pow": {"classes": [
		{"name": "simulated", "n": 256, "deadlineSeconds": 10},
		{"name": "cpu", "n": 64, "deadlineSeconds": 20},
		{"name": "gpu", "n": 128, "deadlineSeconds": 10}],
		"defaultClass": "gpu", "cpuClass": "cpu", "simulatedClass": "simulated", "chunksPerValidator": 4},
		"attestBlocks": 10, "verifiers": 3, "passesNeeded": 2}`
)

func emc(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1_000_000_000_000_000_000))
}

type sent struct {
	from common.Address
	name string
	args []any
}

// chain is the in-memory chain with its modules; mu guards the state,
// which the services read from their goroutines.
type chain struct {
	t   *testing.T
	mu  sync.Mutex
	c   *nativetest.Chain
	mod *verify.Module
	abi abi.ABI
	reg abi.ABI
	rw  *rewards.Module

	validators []common.Address
	queue      []sent
	// reverts lists the transactions that reverted: "name by from: reason".
	reverts []string
	// dropCommits: this many commitRoot transactions are lost.
	dropCommits int
}

func newChain(t *testing.T, validators []common.Address, funded []common.Address) *chain {
	t.Helper()
	st := registry.Staking{EpochLength: epochLength, MinRouterStakeWei: staking.DefaultParams().MinStakeWei[staking.RoleRouter]}
	rp, err := rewards.ParseModuleParams(nil, epochLength)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := rewards.NewModule(rp, staking.RewardsView{})
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]json.RawMessage{
		registry.Name: json.RawMessage(`{"allowSimulatedGPUs":true}`), verify.Name: json.RawMessage(verifyParams),
		staking.Name: json.RawMessage(`{"minValidatorStakeWei":"1000000000000000000"}`),
	}
	reg, err := native.Load(raw, map[string]native.Factory{
		staking.Name:  staking.Factory(epochLength),
		registry.Name: registry.Factory(st),
		rewards.Name:  rewards.Factory(epochLength, staking.RewardsView{}),
		verify.Name:   verify.Factory(epochLength, periodMs, verify.WithRewards(rw)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := &chain{t: t, validators: validators, rw: rw}
	for addr, dst := range map[common.Address]*abi.ABI{native.VerifyAddress: &ch.abi, native.RegistryAddress: &ch.reg} {
		m, _ := reg.Lookup(addr)
		if *dst, err = abi.JSON(strings.NewReader(m.ABI())); err != nil {
			t.Fatal(err)
		}
		if addr == native.VerifyAddress {
			ch.mod = m.(*verify.Module)
		}
	}
	alloc := types.GenesisAlloc{}
	for _, a := range funded {
		alloc[a] = types.Account{Balance: emc(1000).ToBig()}
	}
	ch.c = nativetest.New(t, reg, alloc)
	return ch
}

func (ch *chain) env() *native.BlockEnv {
	c := ch.c
	return &native.BlockEnv{Number: c.Number, Time: c.Time, Coinbase: c.Coinbase, BaseFee: big.NewInt(nativetest.BaseFeeWei),
		EpochLength: epochLength, Validators: ch.validators,
		ParentHash: crypto.Keccak256Hash([]byte("block"), new(big.Int).SetUint64(c.Number-1).Bytes())}
}

// call applies one transaction now and returns its revert reason, "" on success.
func (ch *chain) call(to common.Address, a abi.ABI, from common.Address, name string, args ...any) string {
	ch.t.Helper()
	data, err := a.Pack(name, args...)
	if err != nil {
		ch.t.Fatal(err)
	}
	msg := ch.c.Msg(from, &to, nil, data)
	msg.GasLimit = 5_000_000
	res, _ := ch.c.Apply(msg)
	if res.Err == nil {
		return ""
	}
	if s, err := abi.UnpackRevert(res.ReturnData); err == nil {
		return s
	}
	return res.Err.Error()
}

// next ends the block, begins the next and applies the queued transactions in it.
func (ch *chain) next() {
	ch.t.Helper()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	c := ch.c
	if err := c.Registry.EndBlock(c.State, ch.env()); err != nil {
		ch.t.Fatalf("EndBlock %d: %v", c.Number, err)
	}
	c.State.Finalise(c.Rules())
	c.Number++
	c.Time += periodMs / 1000
	if err := c.Registry.BeginBlock(c.State, ch.env()); err != nil {
		ch.t.Fatalf("BeginBlock %d: %v", c.Number, err)
	}
	for _, tx := range ch.queue {
		if r := ch.call(native.VerifyAddress, ch.abi, tx.from, tx.name, tx.args...); r != "" {
			ch.reverts = append(ch.reverts, fmt.Sprintf("%s by %s: %s", tx.name, tx.from, r))
		}
	}
	ch.queue = nil
	c.State.Finalise(c.Rules())
}

func (ch *chain) enqueue(from common.Address, name string, args ...any) error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.queue = append(ch.queue, sent{from, name, args})
	return nil
}

func (ch *chain) head() uint64 {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.c.Number
}

// Chain views, as of the head.

func (ch *chain) Challenge(epoch uint64, node common.Address) (verify.Challenge, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.mod.ChallengeOf(ch.c.State, epoch, node, ch.c.Number)
}

func (ch *chain) EpochSeed(epoch uint64) (common.Hash, bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	s, _, ok := verify.EpochSeed(ch.c.State, epoch)
	return s, ok
}

func (ch *chain) SampleSeed(deadline uint64) (common.Hash, bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return verify.SampleSeed(ch.c.State, deadline)
}

func (ch *chain) Listing(epoch uint64, owner common.Address) (verify.Listing, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.mod.ListingOf(ch.c.State, epoch, owner)
}

func (ch *chain) Nodes() ([]common.Address, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	owners, _ := registry.NodeOwners(ch.c.State, 0, 1000)
	return owners, nil
}

func (ch *chain) faults(a common.Address) verify.Faults {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return verify.FaultsOf(ch.c.State, a)
}

func (ch *chain) credits(k uint64, who common.Address) uint64 {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for _, e := range rewards.LedgerOf(ch.c.State, k) {
		if e.Owner == who {
			return e.Credits
		}
	}
	return 0
}

// registerNode registers owner with 2 simulated H200s.
func (ch *chain) registerNode(owner common.Address, seed int64) {
	ch.t.Helper()
	k, _, err := lcrypto.GenerateEd25519Key(rand.New(rand.NewSource(seed)))
	if err != nil {
		ch.t.Fatal(err)
	}
	id, sig, err := registry.SignPeerProof(k, uint256.MustFromBig(nativetest.Config().ChainID), owner)
	if err != nil {
		ch.t.Fatal(err)
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if r := ch.call(native.RegistryAddress, ch.reg, owner, "registerNode", id, sig, [32]byte{byte(seed)}, uint32(2), "NVIDIA H200",
		uint64(143_771), true, []string{"NVIDIA H200"}, []*big.Int{big.NewInt(1e9)}, big.NewInt(0), [][32]byte{{0xaa}}); r != "" {
		ch.t.Fatalf("registerNode %s: %s", owner, r)
	}
}

// nodeSender and verifierSender queue the services' transactions.
type nodeSender struct {
	ch    *chain
	owner common.Address
}

func (s nodeSender) CommitRoot(_ context.Context, epoch uint64, root common.Hash) error {
	s.ch.mu.Lock()
	drop := s.ch.dropCommits > 0
	if drop {
		s.ch.dropCommits-- // accepted by the wallet, lost before a block
	}
	s.ch.mu.Unlock()
	if drop {
		return nil
	}
	return s.ch.enqueue(s.owner, "commitRoot", epoch, [32]byte(root))
}

func (s nodeSender) Rebut(_ context.Context, epoch uint64, v common.Address, openings []byte) error {
	return s.ch.enqueue(s.owner, "rebut", epoch, v, openings)
}

type verifierSender struct {
	ch   *chain
	from common.Address
}

func (s verifierSender) Attest(_ context.Context, epoch uint64, node common.Address, openings []byte) error {
	return s.ch.enqueue(s.from, "attest", epoch, node, openings)
}

func (s verifierSender) AttestFail(_ context.Context, epoch uint64, node common.Address) error {
	return s.ch.enqueue(s.from, "attestFail", epoch, node)
}

// fetcher routes requests to the nodes' servers in process; down lists
// nodes that do not answer.
type fetcher struct {
	peer    p2p.PeerID
	servers map[common.Address]*challenge.Server
	down    map[common.Address]bool
}

func (f *fetcher) Fetch(ctx context.Context, node common.Address, req []byte) ([]byte, error) {
	s, ok := f.servers[node]
	if !ok || f.down[node] {
		return nil, fmt.Errorf("node %s unreachable", node)
	}
	return s.Handle(ctx, f.peer, req)
}

// cheat is a prover that commits to a wrong output: one entry of every
// chunk is off by one, so every sampled chunk fails.
func cheat(ctx context.Context, w pow.Workload) (*pow.Prover, error) {
	c, err := pow.Compute(ctx, w, 1)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(c); i += pow.ChunkEntries {
		c[i]++
	}
	return pow.NewProver(w, c, 1)
}

type world struct {
	ch        *chain
	nodes     []*challenge.NodeService
	verifiers []*challenge.VerifierService
	servers   map[common.Address]*challenge.Server
	restart   func(i int, owner common.Address)
}

func (w *world) step(t *testing.T) {
	t.Helper()
	w.ch.next()
	head := w.ch.head()
	ctx := context.Background()
	for _, n := range w.nodes {
		if err := n.OnHead(ctx, head, head/epochLength); err != nil {
			t.Fatalf("node at %d: %v", head, err)
		}
		n.Wait()
	}
	for _, v := range w.verifiers {
		if err := v.OnHead(ctx, head, head/epochLength); err != nil {
			t.Fatalf("verifier at %d: %v", head, err)
		}
		v.Wait()
	}
}

// newWorld registers the nodes (prove nil: honest CPU reference) in
// block 1 with three validators, and builds the services.
func newWorld(t *testing.T, nodes map[common.Address]challenge.ProveFunc, down map[common.Address]bool, liar common.Address) *world {
	t.Helper()
	var keys []*ecdsa.PrivateKey
	var vals []common.Address
	for i := range 3 {
		k, err := crypto.ToECDSA(crypto.Keccak256([]byte{byte(i), 'v'}))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		vals = append(vals, crypto.PubkeyToAddress(k.PublicKey))
	}
	var funded []common.Address
	funded = append(funded, vals...)
	for n := range nodes {
		funded = append(funded, n)
	}
	ch := newChain(t, vals, funded)
	cid := uint256.MustFromBig(nativetest.Config().ChainID)
	now := func() time.Time { return time.Unix(int64(ch.c.Time), 0) }
	w := &world{ch: ch}
	servers := map[common.Address]*challenge.Server{}
	w.servers = servers
	service := func(owner common.Address, prove challenge.ProveFunc) *challenge.NodeService {
		srv, err := challenge.NewServer(challenge.ServerConfig{ChainID: cid, Owner: owner, Chain: ch, Chunks: 4, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		servers[owner] = srv
		ns, err := challenge.NewNodeService(challenge.NodeConfig{Owner: owner, Chain: ch, Sender: nodeSender{ch, owner},
			Server: srv, Workers: 2, Prove: prove, Chunks: 4})
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	// restart replaces node i (an honest one) by a fresh service and server: all it held is lost.
	w.restart = func(i int, owner common.Address) {
		w.nodes[i].Close()
		w.nodes[i] = service(owner, nil)
	}
	seed := int64(1)
	for owner, prove := range nodes {
		ch.registerNode(owner, seed)
		seed++
		w.nodes = append(w.nodes, service(owner, prove))
	}
	for i, k := range keys {
		var sender challenge.VerifierSender = verifierSender{ch, vals[i]}
		if vals[i] == liar || (liar == common.Address{1} && i == 0) {
			sender = liarSender{verifierSender{ch, vals[i]}}
		}
		vs, err := challenge.NewVerifierService(challenge.VerifierConfig{ChainID: cid, Key: k, Chain: ch,
			Fetcher: &fetcher{peer: p2p.PeerID(fmt.Sprint("v", i)), servers: servers, down: down},
			Sender:  sender, Chunks: 4, MaxAttempts: 2, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		w.verifiers = append(w.verifiers, vs)
	}
	return w
}

// liarSender attests a fail whatever it checked.
type liarSender struct{ verifierSender }

func (s liarSender) Attest(ctx context.Context, epoch uint64, node common.Address, _ []byte) error {
	return s.AttestFail(ctx, epoch, node)
}

var (
	honest  = common.HexToAddress("0x1100000000000000000000000000000000000001")
	cheater = common.HexToAddress("0x1200000000000000000000000000000000000002")
)

// TestChainHonestAndCheater: in epoch 1 the honest node commits, its three
// verifiers fetch, check and attest, the challenge is verified and the
// node credited; the cheater (a wrong root) is attested failed by every
// verifier, its rebuts are refused, and its challenge fails.
func TestChainHonestAndCheater(t *testing.T) {
	w := newWorld(t, map[common.Address]challenge.ProveFunc{honest: nil, cheater: cheat}, nil, common.Address{})
	for w.ch.head() < 2*epochLength-1 {
		w.step(t)
	}
	hf, cf := w.ch.faults(honest), w.ch.faults(cheater)
	if hf.Passed != 1 || hf.Failed != 0 || hf.Missed != 0 {
		t.Errorf("honest node faults %+v, want one pass", hf)
	}
	if cf.Failed != 1 || cf.Passed != 0 {
		t.Errorf("cheater faults %+v, want one fail", cf)
	}
	ch, err := w.ch.Challenge(1, honest)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Status != verify.StatusVerified {
		t.Errorf("honest challenge status %d, want verified", ch.Status)
	}
	for i, s := range ch.Slots {
		if s != verify.SlotPassed {
			t.Errorf("honest slot %d is %d, want passed", i, s)
		}
	}
	if got := w.ch.credits(rewards.RewardEpoch(ch.WindowEnd, epochLength), honest); got != rewards.DefaultComputeCreditsPerTask {
		t.Errorf("honest credits %d, want %d", got, rewards.DefaultComputeCreditsPerTask)
	}
	cc, err := w.ch.Challenge(1, cheater)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Status != verify.StatusFailed {
		t.Errorf("cheater challenge status %d, want failed", cc.Status)
	}
	for i, s := range cc.Slots {
		if s != verify.SlotFailed {
			t.Errorf("cheater slot %d is %d, want failed", i, s)
		}
	}
	for _, v := range w.verifiers {
		if f := w.ch.faults(v.Self()); f.MissedDuties != 0 || f.FalseFails != 0 {
			t.Errorf("verifier %s faults %+v", v.Self(), f)
		}
	}
	// Every revert is a cheater's rebut refused by the chain.
	rebuts := 0
	for _, r := range w.ch.reverts {
		if !strings.HasPrefix(r, "rebut by "+cheater.String()) {
			t.Errorf("unexpected revert: %s", r)
		}
		rebuts++
	}
	if rebuts != 3 {
		t.Errorf("%d cheater rebuts refused, want 3 (%v)", rebuts, w.ch.reverts)
	}
}

// TestChainRebutLyingVerifier: a verifier that attests a fail after a
// good check is rebutted by the honest node: the challenge is verified,
// the liar gets a false fail.
func TestChainRebutLyingVerifier(t *testing.T) {
	w := newWorld(t, map[common.Address]challenge.ProveFunc{honest: nil}, nil, common.Address{1})
	for w.ch.head() < 2*epochLength-1 {
		w.step(t)
	}
	if f := w.ch.faults(honest); f.Passed != 1 || f.Failed != 0 {
		t.Errorf("honest node faults %+v, want one pass", f)
	}
	liar := w.verifiers[0].Self()
	if f := w.ch.faults(liar); f.FalseFails != 1 {
		t.Errorf("liar faults %+v, want one false fail", f)
	}
	ch, _ := w.ch.Challenge(1, honest)
	for i, v := range ch.Verifiers {
		want := verify.SlotPassed
		if v == liar {
			want = verify.SlotRebutted
		}
		if ch.Slots[i] != want {
			t.Errorf("slot of %s is %d, want %d", v, ch.Slots[i], want)
		}
	}
	if len(w.ch.reverts) != 0 {
		t.Errorf("reverts: %v", w.ch.reverts)
	}
}

// TestChainUnreachableNode: verifiers that cannot reach an honest node
// attest fails; the node proves its slots itself and is verified.
func TestChainUnreachableNode(t *testing.T) {
	w := newWorld(t, map[common.Address]challenge.ProveFunc{honest: nil}, map[common.Address]bool{honest: true}, common.Address{})
	for w.ch.head() < 2*epochLength-1 {
		w.step(t)
	}
	if f := w.ch.faults(honest); f.Passed != 1 || f.Failed != 0 {
		t.Errorf("honest node faults %+v, want one pass", f)
	}
	ch, _ := w.ch.Challenge(1, honest)
	for i, s := range ch.Slots {
		if s != verify.SlotRebutted && s != verify.SlotProvenByNode {
			t.Errorf("slot %d is %d, want rebutted or proven by the node", i, s)
		}
	}
}

// TestChainRestartAfterCommit: a node restarted after its root landed has
// lost its output; it computes it again (deterministic: the same root) and
// its challenge is verified.
func TestChainRestartAfterCommit(t *testing.T) {
	w := newWorld(t, map[common.Address]challenge.ProveFunc{honest: nil}, nil, common.Address{})
	for {
		w.step(t)
		if ch, _ := w.ch.Challenge(1, honest); ch.Status == verify.StatusCommitted {
			break
		}
		if w.ch.head() > 2*epochLength {
			t.Fatal("never committed")
		}
	}
	w.restart(0, honest)
	for w.ch.head() < 2*epochLength-1 {
		w.step(t)
	}
	ch, _ := w.ch.Challenge(1, honest)
	if ch.Status != verify.StatusVerified {
		t.Fatalf("status %d, want verified (slots %v)", ch.Status, ch.Slots)
	}
	for i, s := range ch.Slots {
		if s != verify.SlotPassed {
			t.Errorf("slot %d is %d, want passed", i, s)
		}
	}
}

// TestChainCommitResent: a commitRoot lost on its way is sent again and
// lands before the deadline.
func TestChainCommitResent(t *testing.T) {
	w := newWorld(t, map[common.Address]challenge.ProveFunc{honest: nil}, nil, common.Address{})
	w.ch.dropCommits = 1
	for w.ch.head() < 2*epochLength-1 {
		w.step(t)
	}
	if w.ch.dropCommits != 0 {
		t.Fatal("no commit was sent")
	}
	if f := w.ch.faults(honest); f.Passed != 1 {
		t.Fatalf("faults %+v, want one pass", f)
	}
	if len(w.ch.reverts) != 0 {
		t.Fatalf("reverts: %v", w.ch.reverts)
	}
}
