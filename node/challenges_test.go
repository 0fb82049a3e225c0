package node

// The challenge protocol over the node's own wiring: a compute node's
// challenge.Server on a real libp2p host, a validator's p2pFetcher on
// another, finding the node's peer id in the registry of an in-memory dev
// chain (the node registered with its libp2p key). The challenge itself
// comes from a fixed view (the services against the real verify module
// are tested in computing/challenge); this checks that the spec's bounds
// and the peer lookup carry a real answer of the most chunks a request may
// ask.

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/challenge"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/p2p/libp2p"
)

type fixedChallenge struct {
	node common.Address
	ch   verify.Challenge
}

func (f fixedChallenge) Challenge(epoch uint64, node common.Address) (verify.Challenge, error) {
	if epoch != 1 || node != f.node {
		return verify.Challenge{}, nil
	}
	return f.ch, nil
}
func (fixedChallenge) EpochSeed(uint64) (common.Hash, bool)  { return common.Hash{9}, true }
func (fixedChallenge) SampleSeed(uint64) (common.Hash, bool) { return common.Hash{5}, true }

func TestChallengeOpeningsOverLibp2p(t *testing.T) {
	f := newAssignFixture(t)
	nodeKey, _ := f.registerNode(1, common.Hash{0x1a})
	chainID := uint256.MustFromBig(f.chain.Config().ChainID)
	st := p2p.Status{ChainID: chainID.Uint64()}
	host := func(key lcrypto.PrivKey) *libp2p.Host {
		h, err := libp2p.New(libp2p.Config{ChainID: st.ChainID, Status: func() p2p.Status { return st }, Key: key,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DisableDHT: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	nodeHost, valHost := host(nodeKey), host(newPeerKey(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := valHost.Connect(ctx, nodeHost.Addrs()[0]); err != nil {
		t.Fatal(err)
	}

	valKey, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	val := crypto.PubkeyToAddress(valKey.PublicKey)
	const n, k = 256, pow.MaxOpenings // the default simulated class, the most chunks a request may ask
	w := pow.Workload{Seed: pow.ChallengeSeed(common.Hash{9}, f.node.addr), N: n}
	p, err := pow.Prove(ctx, w, 2)
	if err != nil {
		t.Fatal(err)
	}
	view := fixedChallenge{node: f.node.addr, ch: verify.Challenge{Status: verify.StatusCommitted, Root: p.Root(), N: n,
		DeadlineBlock: 46, WindowEnd: 56, Verifiers: []common.Address{val}, Slots: []uint8{0}}}
	spec := challenge.Spec(p2p.Names{ChainID: st.ChainID}, 0)
	srv, err := challenge.NewServer(challenge.ServerConfig{ChainID: chainID, Owner: f.node.addr, Chain: view, Chunks: k, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Register(nodeHost, spec); err != nil {
		t.Fatal(err)
	}
	srv.Keep(1, p)

	fetcher := p2pFetcher{valHost, spec, chainResults{f.chain}}
	ask := func(key *ecdsa.PrivateKey) *challenge.Response {
		t.Helper()
		req, err := challenge.NewRequest(key, chainID, 1, f.node.addr, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		b, err := req.Encode()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := fetcher.Fetch(ctx, f.node.addr, b)
		if err != nil {
			t.Fatal(err)
		}
		r, err := challenge.DecodeResponse(raw, pow.MaxEncodedBytes)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := ask(valKey)
	if r.Code != challenge.CodeOK {
		t.Fatalf("verifier refused: %s %s", r.Code, r.Message)
	}
	if err := challenge.CheckOpenings(common.Hash{9}, f.node.addr, &view.ch, common.Hash{5}, val, k, r.Openings); err != nil {
		t.Fatalf("openings over libp2p fail the check: %v", err)
	}
	other, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if r := ask(other); r.Code != challenge.CodeNotVerifier {
		t.Fatalf("non-verifier: %s", r.Code)
	}
	if _, err := fetcher.Fetch(ctx, common.Address{0x99}, nil); err == nil {
		t.Fatal("fetched from an unregistered node")
	}
}

// TestDevNodeChallengeVerified: a dev node on a genesis with the verify
// module runs both challenge services with the real wallets, sealer and
// modules: its compute side (the dev compute owner, simulated H100s)
// registers, computes its epoch-1 challenge and commits; its verifier (the
// dev signer, the only validator) fetches over the in-process link,
// checks and attests; the challenge is verified and credited.
func TestDevNodeChallengeVerified(t *testing.T) {
	// The deadline is 16 blocks of the 1 s block period; sealed every
	// 200 ms that is 3.2 s of wall time for the n = 256 proof, which took
	// 1.1 s under -race on a loaded 2-core machine (8 blocks at 100 ms
	// flaked there). The window (1 + 16 + 10 blocks) closes inside the
	// 30-block epoch.
	devNodeChallengeVerified(t, ProverInProcess, 30, 16)
}

// TestDevNodeChallengeVerifiedSandboxProver is TestDevNodeChallengeVerified
// with --verify.prover sandbox: the challenge is computed by the prover
// program (this test binary, which TestMain turns into `emcd pow prove`)
// run through the process executor, and the root it hands back is the
// one verified. The deadline has room for the program's start (24 blocks,
// 4.8 s; window 1 + 24 + 10 in a 40-block epoch).
func TestDevNodeChallengeVerifiedSandboxProver(t *testing.T) {
	devNodeChallengeVerified(t, ProverSandbox, 40, 24)
}

// TestDevNodeChallengeVerifiedDockerProver: the same with the Docker
// executor, the prover run from --verify.prover-image: a FROM scratch
// image of the static test prover (computing/challenge/testdata/powprover,
// the command line of `emcd pow prove`). Skipped where no Docker engine
// answers.
func TestDevNodeChallengeVerifiedDockerProver(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: Docker tests skipped")
	}
	if err := exec.Command("docker", "version").Run(); err != nil {
		t.Skip("no Docker engine answers: ", err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "powprover"), "../computing/challenge/testdata/powprover")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build powprover: %v\n%s", err, out)
	}
	df := "FROM scratch\nCOPY powprover /powprover\nENTRYPOINT [\"/powprover\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("emcd-node-powprover-test:%d", time.Now().UnixNano())
	if out, err := exec.Command("docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	logs := devNodeChallengeVerified(t, ProverSandbox, 40, 24, func(c *Config) { c.Executor, c.VerifyProverImage = "docker", tag })
	if !strings.Contains(logs.String(), "executor=docker image="+tag) {
		t.Fatalf("the prover did not run from %s; log:\n%s", tag, logs)
	}
}

func devNodeChallengeVerified(t *testing.T, prover string, epoch, deadline int, mods ...func(*Config)) *logBuf {
	g := genesis.Dev()
	g.EpochLength = math.HexOrDecimal64(epoch)
	g.BlockPeriodMs = 1000
	g.Params[verify.Name] = json.RawMessage(fmt.Sprintf(`{"pow": {"classes": [
		{"name": "simulated", "n": 256, "deadlineSeconds": %[1]d},
		{"name": "cpu", "n": 64, "deadlineSeconds": %[1]d},
		{"name": "gpu", "n": 128, "deadlineSeconds": %[1]d}],
		"defaultClass": "gpu", "cpuClass": "cpu", "simulatedClass": "simulated", "chunksPerValidator": 4},
		"attestBlocks": 10, "verifiers": 3, "passesNeeded": 2}`, deadline))
	signer := crypto.PubkeyToAddress(genesis.DevSignerKey().PublicKey)
	g.Alloc[signer] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(1e18))}
	dd := config.NewDataDir(t.TempDir())
	logs := &logBuf{}
	cfg := Config{
		Role: RoleValidator, Dev: true, DevMarket: true, DataDir: dd, Genesis: g, DevPeriod: 200 * time.Millisecond,
		GPU: func() (gpu.Provider, error) {
			return gpu.Open(gpu.Config{Mode: gpu.ModeSimulated, Simulated: gpu.SimulatedH100s(1)})
		},
		TelemetryInterval: time.Hour, VerifyProver: prover,
		Register: RegisterConfig{Auto: true, PricesPerGPUSecond: []string{"1000000000000"}, CPUPriceWei: "1000000000000"},
	}
	for _, m := range mods {
		m(&cfg)
	}
	n, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	defer n.Close()
	owner := n.Wallet().Address()
	mod := n.backend.verify
	var ch verify.Challenge
	waitLogged(t, "epoch 1's challenge decided", logs, func() bool {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		if ch, err = mod.ChallengeOf(st, 1, owner, n.Chain().Head().Number.Uint64()); err != nil {
			t.Fatal(err)
		}
		return ch.Status != verify.StatusNone && ch.Status != verify.StatusCommitted
	})
	if ch.Status != verify.StatusVerified || len(ch.Verifiers) != 1 || ch.Verifiers[0] != signer || ch.Slots[0] != verify.SlotPassed {
		t.Fatalf("challenge %+v, want verified with the dev signer's pass; log:\n%s", ch, logs)
	}
	st, err := n.Chain().StateAt(n.Chain().Head().Root)
	if err != nil {
		t.Fatal(err)
	}
	if f := verify.FaultsOf(st, owner); f.Passed != 1 || f.Failed+f.Missed != 0 {
		t.Fatalf("node faults %+v", f)
	}
	if sandboxed := strings.Contains(logs.String(), "challenge proven in the sandbox"); sandboxed != (prover == ProverSandbox) {
		t.Fatalf("prover %s, proven in the sandbox: %v; log:\n%s", prover, sandboxed, logs)
	}
	return logs
}
