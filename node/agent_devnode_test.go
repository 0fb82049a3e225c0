package node

// The compute agent in a real dev node (compute role, --compute.executor
// process, one SIMULATED GPU): the node registers itself with the
// program's digest as its image, a router account (stake, registerRouter)
// and a submitter send their transactions into the node's pool, the router
// account assigns the job when it is offered, and the node's own agent
// accepts, runs, reports through the node wallet; the job settles. The
// node is then stopped while a second job runs and started again on the
// same data dir: the job is finished and paid once. Balances are exact to
// the wei, gas included.

import (
	"context"
	"crypto/ecdsa"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/agent"
	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

type devActor struct {
	key   *ecdsa.PrivateKey
	addr  common.Address
	nonce uint64
}

func newDevActor(t *testing.T, g *genesis.Genesis) *devActor {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a := &devActor{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
	g.Alloc[a.addr] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))}
	return a
}

// send signs a call from a into n's pool and waits for its receipt.
func (a *devActor) send(t *testing.T, n *Node, logs *logBuf, to common.Address, value *big.Int, data []byte) *types.Receipt {
	t.Helper()
	cfg := n.Chain().Config()
	if value == nil {
		value = new(big.Int)
	}
	tx, err := types.SignNewTx(a.key, types.LatestSigner(cfg), &types.DynamicFeeTx{
		ChainID: cfg.ChainID, Nonce: a.nonce, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9),
		Gas: 3_000_000, To: &to, Value: value, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.nonce++
	if err := n.backend.SendTx(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	var rc *types.Receipt
	waitLogged(t, "receipt", logs, func() bool {
		if _, blockHash, _, idx := n.Chain().Transaction(tx.Hash()); blockHash != (common.Hash{}) {
			rc = n.Chain().Receipts(blockHash)[idx]
			return true
		}
		return false
	})
	return rc
}

func startAgentNode(t *testing.T, dd *config.DataDir, g *genesis.Genesis, image common.Hash, logs *logBuf) *Node {
	t.Helper()
	n, err := New(Config{
		Role: RoleCompute, Dev: true, DataDir: dd, Genesis: g, DevPeriod: 50 * time.Millisecond,
		GPU: func() (gpu.Provider, error) {
			return gpu.Open(gpu.Config{Mode: gpu.ModeSimulated, Simulated: gpu.SimulatedH100s(1)})
		},
		Executor:          agent.ExecutorProcess,
		TelemetryInterval: time.Hour,
		Register: RegisterConfig{Auto: true, PricesPerGPUSecond: []string{"1000000000"},
			Images: []string{strings.TrimPrefix(image.Hex(), "0x")}},
	}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	return n
}

// gasSince sums what addr paid for gas in blocks after from, and checks it
// never earned the tips (it is not the sealer).
func gasSince(t *testing.T, n *Node, addr common.Address, from uint64) *big.Int {
	t.Helper()
	total := new(big.Int)
	signer := types.LatestSigner(n.Chain().Config())
	for b := from + 1; b <= n.Chain().Head().Number.Uint64(); b++ {
		blk := n.Chain().BlockByNumber(b)
		if blk.Coinbase() == addr {
			t.Fatalf("%s is the coinbase of block %d", addr, b)
		}
		rcs := n.Chain().Receipts(blk.Hash())
		for i, tx := range blk.Transactions() {
			if s, err := types.Sender(signer, tx); err == nil && s == addr {
				total.Add(total, new(big.Int).Mul(new(big.Int).SetUint64(rcs[i].GasUsed), rcs[i].EffectiveGasPrice))
			}
		}
	}
	return total
}

func TestAgentOnDevNode(t *testing.T) {
	g := genesis.Dev()
	g.EpochLength = 4
	router, sub := newDevActor(t, g), newDevActor(t, g)
	dd := config.NewDataDir(t.TempDir())
	src := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(src, []byte(agentTestProgram), 0o755); err != nil {
		t.Fatal(err)
	}
	image, err := agent.NewPrograms(filepath.Join(dd.Compute(), "programs")).Load(src)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	n := startAgentNode(t, dd, g, image, logs)
	defer func() { n.Close() }()
	owner := n.Wallet().Address()
	waitLogged(t, "registration", logs, func() bool { _, ok := headNode(t, n, owner); return ok })

	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	stkABI, regABI, jobsABI := moduleABI(t, mods, native.StakingAddress), moduleABI(t, mods, native.RegistryAddress), moduleABI(t, mods, native.JobsAddress)
	router.send(t, n, logs, native.StakingAddress, staking.DefaultParams().MinStakeWei[staking.RoleRouter].ToBig(),
		pack(t, stkABI, "stake", uint8(staking.RoleRouter), uint8(0)))
	start := n.Chain().Head().Number.Uint64()
	waitLogged(t, "the stake's epoch", logs, func() bool { return n.Chain().Head().Number.Uint64() >= start+8 })
	rid, rsig, err := registry.SignPeerProof(newPeerKey(t), uint256.MustFromBig(n.Chain().Config().ChainID), router.addr)
	if err != nil {
		t.Fatal(err)
	}
	if rc := router.send(t, n, logs, native.RegistryAddress, nil, pack(t, regABI, "registerRouter", rid, rsig)); rc.Status != 1 {
		t.Fatal("registerRouter reverted")
	}

	job := func(id uint64) jobs.Job {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		j, _, err := jobs.JobOf(st, id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	balance := func(a common.Address) *big.Int {
		st, err := n.Chain().StateAt(n.Chain().Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		return st.GetBalance(a).ToBig()
	}
	// runJob submits a job, assigns it as the router once it is offered,
	// and returns its id.
	runJob := func(id uint64, args ...string) {
		spec := jobs.Spec{Image: image, Args: args, GPUs: 1, TimeoutSeconds: 60, OutputCapBytes: 1 << 20}
		enc, err := spec.Encode()
		if err != nil {
			t.Fatal(err)
		}
		escrow := new(big.Int).Mul(big.NewInt(2e9), big.NewInt(60))
		if rc := sub.send(t, n, logs, native.JobsAddress, escrow, pack(t, jobsABI, "submitJob", enc, big.NewInt(2e9))); rc.Status != 1 {
			t.Fatal("submitJob reverted")
		}
		waitLogged(t, "the router draw", logs, func() bool { return job(id).Offered })
		if rc := router.send(t, n, logs, native.JobsAddress, nil, pack(t, jobsABI, "assign", new(big.Int).SetUint64(id), owner)); rc.Status != 1 {
			t.Fatalf("assign reverted; job %+v", job(id))
		}
	}
	check := func(id uint64, ownerBefore, subBefore *big.Int, from uint64) {
		t.Helper()
		j := job(id)
		if j.State != jobs.StateSettled || j.ExitCode() != 0 || j.GPUMillis == 0 {
			t.Fatalf("job %d: %s exit %d usage %d; log:\n%s", id, j.State, j.ExitCode(), j.GPUMillis, logs)
		}
		cost := jobs.Cost(j.GPUMillis, j.PriceWei, j.EscrowWei)
		provider, burn := jobs.Split(cost)
		if !j.CostWei.Eq(cost) || !j.BurnedWei.Eq(burn) || !new(uint256.Int).Add(cost, j.RefundWei).Eq(j.EscrowWei) {
			t.Fatalf("job %d: cost %s burned %s refund %s of escrow %s", id, j.CostWei, j.BurnedWei, j.RefundWei, j.EscrowWei)
		}
		wantOwner := new(big.Int).Sub(new(big.Int).Add(ownerBefore, provider.ToBig()), gasSince(t, n, owner, from))
		if got := balance(owner); got.Cmp(wantOwner) != 0 {
			t.Fatalf("owner balance %s, want %s", got, wantOwner)
		}
		wantSub := new(big.Int).Sub(new(big.Int).Sub(subBefore, j.CostWei.ToBig()), gasSince(t, n, sub.addr, from))
		if got := balance(sub.addr); got.Cmp(wantSub) != 0 {
			t.Fatalf("submitter balance %s, want %s", got, wantSub)
		}
	}

	// Job 1: the whole loop.
	from := n.Chain().Head().Number.Uint64()
	ownerBefore, subBefore := balance(owner), balance(sub.addr)
	runJob(1)
	waitLogged(t, "job 1 settled", logs, func() bool { return job(1).State == jobs.StateSettled })
	check(1, ownerBefore, subBefore, from)

	// Job 2: the node stops while it runs, and starts again.
	release := filepath.Join(t.TempDir(), "release")
	from = n.Chain().Head().Number.Uint64()
	ownerBefore, subBefore = balance(owner), balance(sub.addr)
	runJob(2, release)
	waitLogged(t, "job 2 running", logs, func() bool { return job(2).State == jobs.StateRunning && logs.count("job=2") > 0 })
	time.Sleep(200 * time.Millisecond) // the run has started
	n.Close()
	runID := agent.RunID(n.Chain().Config().ChainID.Uint64(), 2, 1)
	if k, err := agent.KillProcesses("/proc", runID); err != nil || k != 0 {
		t.Fatalf("%d processes of job 2 left after the node stopped (%v)", k, err)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n = startAgentNode(t, dd, g, image, logs)
	waitLogged(t, "job 2 settled", logs, func() bool { return job(2).State == jobs.StateSettled })
	check(2, ownerBefore, subBefore, from)
	waitLogged(t, "completed metric", logs, func() bool { return metricValue(t, n, "emcd_agent_completed_total") == 1 })
	if v := metricValue(t, n, "emcd_agent_abandoned_total"); v != 0 {
		t.Fatalf("abandoned_total %v after the restart, want 0", v)
	}
	if c := strings.Count(logs.String(), "msg=\"resuming journaled job\""); c != 1 {
		t.Fatalf("%d journaled jobs resumed, want 1; log:\n%s", c, logs)
	}
}
