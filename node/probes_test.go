package node

// The prober against the real verify, jobs and rewards modules on an
// in-memory chain (the node's own modules, sealed by the dev signer, the
// only validator and so every router's only prober), probing the router's
// relay as the node wires it (setupResults) over libp2p on 127.0.0.1,
// which pulls the record from a real fetch.Server holding it: what the
// prober sends at each head is mined in the next block.

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/results"
	"github.com/emc-network/emcd/computing/results/fetch"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// probeEpochLength: epoch 1 is blocks 60 … 119; its middle third starts
// at 80, tries at 80, 86, 92.
const probeEpochLength = 60

// minedProbes is a probeSender that queues probeFail from a key for the
// next block.
type minedProbes struct {
	f     *assignFixture
	from  *chainActor
	queue []func() *types.Transaction
	sent  []common.Address
}

func (m *minedProbes) ProbeFail(_ context.Context, epoch uint64, router common.Address) error {
	m.sent = append(m.sent, router)
	vabi := moduleABI(m.f.t, m.f.mods, native.VerifyAddress)
	m.queue = append(m.queue, m.f.tx(m.from, native.VerifyAddress, nil, pack(m.f.t, vabi, "probeFail", epoch, router)))
	return nil
}

type probeSetup struct {
	*assignFixture
	mod        *verify.Module
	rtr, node  *libp2p.Host
	prober     *libp2p.Host
	validator  *chainActor
	resultHash common.Hash
}

func probeHost(t *testing.T, key lcrypto.PrivKey, chainID uint64) *libp2p.Host {
	t.Helper()
	st := p2p.Status{ChainID: chainID}
	cfg := libp2p.Config{ChainID: chainID, Status: func() p2p.Status { return st }, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		DisableDHT: true, HandshakeTimeout: 3 * time.Second}
	cfg.Key = key
	if key == nil {
		cfg.Key = newPeerKey(t)
	}
	h, err := libp2p.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// newProbeSetup: a staked, registered router whose relay (probe protocol
// served on its host) reaches a compute node's results server; one job
// submitted, assigned by the router, accepted (the router's credits of
// epoch 1) and with its result on chain, all in epoch 1 before its middle
// third.
// With routerIsValidator the router's owner is the dev signer, the only
// validator: nobody can be drawn to probe it.
func newProbeSetup(t *testing.T, routerIsValidator bool) *probeSetup {
	t.Helper()
	g := genesis.Dev()
	g.EpochLength = probeEpochLength
	g.BlockPeriodMs = 1000
	g.Params[verify.Name] = json.RawMessage(`{"pow": {"classes": [
		{"name": "simulated", "n": 256, "deadlineSeconds": 8},
		{"name": "cpu", "n": 64, "deadlineSeconds": 8},
		{"name": "gpu", "n": 128, "deadlineSeconds": 8}],
		"defaultClass": "gpu", "cpuClass": "cpu", "simulatedClass": "simulated", "chunksPerValidator": 4},
		"attestBlocks": 10, "verifiers": 3, "passesNeeded": 2}`)
	f := &assignFixture{t: t, sealer: genesis.DevSignerKey()}
	g.Alloc[crypto.PubkeyToAddress(f.sealer.PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))}
	for _, a := range []**chainActor{&f.router, &f.node, &f.sub} {
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		*a = &chainActor{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
		g.Alloc[(*a).addr] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))}
	}
	validator := &chainActor{key: f.sealer, addr: crypto.PubkeyToAddress(f.sealer.PublicKey)}
	if routerIsValidator {
		f.router = validator
		g.Alloc[validator.addr] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))}
	}
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	f.chain, f.mods = chain, mods
	s := &probeSetup{assignFixture: f, mod: mods.verify(), validator: validator}
	cid := uint256.MustFromBig(chain.Config().ChainID)
	stkABI, regABI, jobsABI := moduleABI(t, mods, native.StakingAddress), moduleABI(t, mods, native.RegistryAddress), moduleABI(t, mods, native.JobsAddress)

	// The router: staked in epoch 0, registered in epoch 1 with its host's key.
	f.mustMine(f.tx(f.router, native.StakingAddress, staking.DefaultParams().MinStakeWei[staking.RoleRouter].ToBig(),
		pack(t, stkABI, "stake", uint8(staking.RoleRouter), uint8(0))))
	for chain.Head().Number.Uint64() < probeEpochLength {
		f.mustMine()
	}
	rkey := newPeerKey(t)
	rid, rsig, err := registry.SignPeerProof(rkey, cid, f.router.addr)
	if err != nil {
		t.Fatal(err)
	}
	f.mustMine(f.tx(f.router, native.RegistryAddress, nil, pack(t, regABI, "registerRouter", rid, rsig)))
	image := common.Hash{0x1a}
	nodeKey, _ := f.registerNode(1, image)

	// The compute node's store holds the record the chain will name.
	store, err := results.Open(t.TempDir(), results.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &job.Result{JobID: "1", SpecSHA256: "ab", Executor: "process", Status: job.StatusSucceeded}
	if err := rec.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveResult(rec); err != nil {
		t.Fatal(err)
	}
	s.resultHash = common.HexToHash(rec.RecordSHA256)

	// The job: submitted, drawn to the router, assigned, accepted, done.
	spec := jobs.Spec{Image: image, GPUs: 1, GPUModel: "NVIDIA H100", TimeoutSeconds: 60, OutputCapBytes: 1 << 20}
	enc, err := spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f.mustMine(f.tx(f.sub, native.JobsAddress, new(big.Int).Mul(big.NewInt(1e9), big.NewInt(60*8*2)), pack(t, jobsABI, "submitJob", enc, big.NewInt(2e9))))
	for range jobs.DefaultOfferDelayBlocks + 1 {
		f.mustMine()
	}
	f.mustMine(f.tx(f.router, native.JobsAddress, nil, pack(t, jobsABI, "assign", big.NewInt(1), f.node.addr)))
	f.mustMine(f.tx(f.node, native.JobsAddress, nil, pack(t, jobsABI, "accept", big.NewInt(1))))
	f.mustMine(f.tx(f.node, native.JobsAddress, nil, pack(t, jobsABI, "submitResult", big.NewInt(1), [32]byte(s.resultHash), uint64(1000), int32(0))))
	st := f.headState()
	if j, _, _ := jobs.JobOf(st, 1); !fetch.HasResult(&j) || j.Router != f.router.addr {
		t.Fatalf("job 1 %+v", j)
	}
	if h := chain.Head().Number.Uint64(); h >= probeEpochLength+probeEpochLength/3-1 || !rewards.RouterCredited(st, f.router.addr, 1) {
		t.Fatalf("at head %d the router is not credited in epoch 1 before its middle third", h)
	}

	// Hosts: the node serves its store; the router relays, and serves probes.
	probers := chainProbers{chain, s.mod}
	s.node, s.rtr, s.prober = probeHost(t, nodeKey, cid.Uint64()), probeHost(t, rkey, cid.Uint64()), probeHost(t, nil, cid.Uint64())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct{ from, to *libp2p.Host }{{s.rtr, s.node}, {s.prober, s.rtr}} {
		if err := c.from.Connect(ctx, c.to.Addrs()[0]); err != nil {
			t.Fatal(err)
		}
	}
	spec2 := fetch.Spec(p2p.Names{ChainID: cid.Uint64()}, 0)
	srv, err := fetch.NewServer(fetch.ServerConfig{ChainID: cid, Owner: f.node.addr, Store: store, Jobs: chainResults{chain}, Probers: probers, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Register(s.node, spec2); err != nil {
		t.Fatal(err)
	}
	// The router: the node's own wiring (setupResults: the relay, with the
	// chain's probers, and the probe protocol) over its host.
	rn := &Node{cfg: Config{Role: RoleRouter}, chain: chain, jobs: mods.jobs(), net: &network{host: s.rtr},
		reg: prometheus.NewRegistry(), backend: &backend{chain: chain, verify: s.mod}}
	if err := rn.setupResults(); err != nil {
		t.Fatal(err)
	}
	if pid, _ := peer.IDFromBytes(rid); p2p.PeerID(pid.String()) != s.rtr.Self() {
		t.Fatal("router host is not the registered peer")
	}
	return s
}

// run steps the validator's prober and an outsider's through epoch 1 and
// mines what they send; it returns the blocks the validator sent in.
func (s *probeSetup) run(val, outsider *prober, vs *minedProbes) []uint64 {
	t := s.t
	var sentAt []uint64
	for s.chain.Head().Number.Uint64() < 2*probeEpochLength-1 {
		head := s.chain.Head().Number.Uint64()
		st := s.headState()
		before := len(vs.sent)
		if _, _, err := val.step(t.Context(), st, head); err != nil {
			t.Fatalf("head %d: %v", head, err)
		}
		if len(vs.sent) > before {
			sentAt = append(sentAt, head+1)
		}
		if _, _, err := outsider.step(t.Context(), st, head); err != nil {
			t.Fatalf("outsider at head %d: %v", head, err)
		}
		txs := vs.queue
		vs.queue = nil
		s.mustMine(txs...)
	}
	return sentAt
}

func (s *probeSetup) probers(cid *uint256.Int) (*prober, *prober, *minedProbes, *minedProbes) {
	spec := fetch.ProbeSpec(p2p.Names{ChainID: cid.Uint64()}, 5*time.Second)
	log := slog.New(slog.DiscardHandler)
	vs, os := &minedProbes{f: s.assignFixture, from: s.validator}, &minedProbes{f: s.assignFixture, from: s.sub}
	val := newProber(s.mod, probeEpochLength, s.validator.addr, p2pProber{req: s.prober, spec: spec, key: s.validator.key, chainID: cid, now: time.Now}, vs, log)
	out := newProber(s.mod, probeEpochLength, s.sub.addr, p2pProber{req: s.prober, spec: spec, key: s.sub.key, chainID: cid, now: time.Now}, os, log)
	return val, out, vs, os
}

func (s *probeSetup) credits(who common.Address) uint64 {
	for _, e := range rewards.LedgerOf(s.headState(), 1) {
		if e.Owner == who {
			return e.Credits
		}
	}
	return 0
}

// TestProberPassesRelayingRouter: the router relays the record; its
// prober passes it silently, its credits stay; the outsider never sends.
func TestProberPassesRelayingRouter(t *testing.T) {
	if testing.Short() {
		t.Skip("libp2p hosts")
	}
	s := newProbeSetup(t, false)
	cid := uint256.MustFromBig(s.chain.Config().ChainID)
	val, out, vs, os := s.probers(cid)
	before := s.credits(s.router.addr)
	if before != rewards.DefaultRouterCredits {
		t.Fatalf("router credits %d", before)
	}
	if sent := s.run(val, out, vs); len(sent) != 0 || len(os.sent) != 0 {
		t.Fatalf("probeFail sent in blocks %v, by the outsider %d", sent, len(os.sent))
	}
	if got := s.credits(s.router.addr); got != before {
		t.Fatalf("router credits %d, want %d", got, before)
	}
	if st := val.routers[s.router.addr]; st == nil || !st.done || st.tries != 1 {
		t.Fatalf("prober's state %+v, want passed at the first try", st)
	}
}

// TestProberFailsDownRelay: the router's host is gone; its prober tries
// ProbeTries times across the middle third and then reports it once; the
// router loses exactly its router credits of the epoch and its counters
// show the failed epoch; the outsider never sends.
func TestProberFailsDownRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("libp2p hosts")
	}
	s := newProbeSetup(t, false)
	cid := uint256.MustFromBig(s.chain.Config().ChainID)
	val, out, vs, os := s.probers(cid)
	s.rtr.Close()
	sent := s.run(val, out, vs)
	if want := val.tryAt(1, ProbeTries-1); len(sent) != 1 || sent[0] != want {
		t.Fatalf("probeFail sent in blocks %v, want once in %d", sent, want)
	}
	if len(os.sent) != 0 {
		t.Fatalf("the outsider sent %d", len(os.sent))
	}
	st := s.headState()
	if got := s.credits(s.router.addr); got != 0 {
		t.Fatalf("failed router kept %d credits", got)
	}
	if got := verify.RouterProbesOf(st, s.router.addr); got != (verify.RouterProbes{FailReports: 1, FailedEpochs: 1}) {
		t.Fatalf("router counters %+v", got)
	}
	if p, err := s.mod.ProbeOf(st, 1, s.router.addr); err != nil || !p.RouterFailed {
		t.Fatalf("probe %+v %v", p, err)
	}
}

// TestProberNotDrawnNeverSends: the router's owner is the only validator,
// so the draw picks nobody to probe it; with its relay down the
// validator still never probes nor sends, and the router keeps its
// credits.
func TestProberNotDrawnNeverSends(t *testing.T) {
	if testing.Short() {
		t.Skip("libp2p hosts")
	}
	s := newProbeSetup(t, true)
	cid := uint256.MustFromBig(s.chain.Config().ChainID)
	if ps, ok := s.mod.DrawProbers(s.headState(), 1, s.router.addr); !ok || len(ps) != 0 {
		t.Fatalf("probers of a validator's own router: %v %v", ps, ok)
	}
	val, out, vs, os := s.probers(cid)
	s.rtr.Close()
	if sent := s.run(val, out, vs); len(sent) != 0 || len(os.sent) != 0 {
		t.Fatalf("probeFail sent in blocks %v, by the outsider %d", sent, len(os.sent))
	}
	if st := val.routers[s.router.addr]; st == nil || !st.done || st.tries != 0 {
		t.Fatalf("prober's state %+v, want settled without a try", st)
	}
	if got := s.credits(s.router.addr); got < rewards.DefaultRouterCredits {
		t.Fatalf("router credits %d", got)
	}
}
