package main

// The stake-driven validator set with real processes (issue 10): a testnet
// of 4 genesis validators (genesis stakes) and 3 candidates with 20-block
// epochs. The candidates stake with the CLI and the set grows to 7 at the
// next boundary, and all 7 seal; a validator that stops for a whole reward
// epoch earns nothing for it while the others are paid exactly what the
// formula gives (recomputed here from the block headers' certificates);
// a candidate unstakes and the set returns to 4.

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/staking/rewards"
)

const epochTestL = 20

// epochNet is the running testnet of TestStakeDrivenValidatorSet.
type epochNet struct {
	t     *testing.T
	ctx   context.Context
	procs []*proc // validator-1…4, candidate-1…3
	rpc   *rpc.Client
	eth   *ethclient.Client
}

func (n *epochNet) validators(block uint64) []jsonrpc.ValidatorEntry {
	n.t.Helper()
	var v []jsonrpc.ValidatorEntry
	if err := n.rpc.CallContext(n.ctx, &v, "emc_validators", hexutil.Uint64(block)); err != nil {
		n.t.Fatalf("emc_validators(%d): %v", block, err)
	}
	return v
}

func (n *epochNet) head() uint64 {
	n.t.Helper()
	h, err := n.eth.BlockNumber(n.ctx)
	if err != nil {
		n.t.Fatalf("head: %v", err)
	}
	return h
}

// nodeReward is owner's accrued node reward after block.
func (n *epochNet) nodeReward(owner common.Address, block uint64) *big.Int {
	n.t.Helper()
	var r jsonrpc.Rewards
	if err := n.rpc.CallContext(n.ctx, &r, "emc_rewardsOf", owner, hexutil.Uint64(block)); err != nil {
		n.t.Fatalf("emc_rewardsOf(%s, %d): %v", owner, block, err)
	}
	return r.Node.ToInt()
}

// sealers returns, per signer, how many certificates of blocks first…last
// carry its seal: the certificates travel in the next block's header.
func (n *epochNet) sealers(first, last uint64) (map[common.Address]uint64, uint64) {
	n.t.Helper()
	counts := map[common.Address]uint64{}
	var certs uint64
	for num := first + 1; num <= last+1; num++ {
		h, err := n.eth.HeaderByNumber(n.ctx, new(big.Int).SetUint64(num))
		if err != nil {
			n.t.Fatalf("header %d: %v", num, err)
		}
		extra, err := cert.DecodeExtra(h.Extra)
		if err != nil {
			n.t.Fatalf("header %d extra: %v", num, err)
		}
		certs++
		for _, s := range extra.ParentCommit.Seals {
			a, err := cert.RecoverSealer(h.ParentHash, extra.ParentCommit.Round, s)
			if err != nil {
				n.t.Fatalf("header %d seal: %v", num, err)
			}
			counts[a]++
		}
	}
	return counts, certs
}

// waitBlock waits until the head passes block.
func (n *epochNet) waitBlock(block uint64, d time.Duration) {
	n.t.Helper()
	waitFor(n.t, d, fmt.Sprintf("block %d", block), func() bool { return n.head() > block })
}

func TestStakeDrivenValidatorSet(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	base := freeBasePort(t, 70)
	out, err := exec.CommandContext(ctx, emcdBinary(t), "testnet", "--validators", "4", "--candidates", "3",
		"--epoch-length", fmt.Sprint(epochTestL), "--out", filepath.Join(dir, "net"), "--base-port", fmt.Sprint(base),
		"--block-period", "300ms").CombinedOutput()
	if err != nil {
		t.Fatalf("emcd testnet: %v\n%s", err, out)
	}
	n := &epochNet{t: t, ctx: ctx}
	names := []string{"validator-1", "validator-2", "validator-3", "validator-4", "candidate-1", "candidate-2", "candidate-3"}
	for k, name := range names {
		p := &proc{t: t, name: name, role: "validator", datadir: filepath.Join(dir, "net", name),
			rpcURL: fmt.Sprintf("http://127.0.0.1:%d", base+10*k+1), logPath: filepath.Join(dir, name+".log")}
		n.procs = append(n.procs, p)
		p.start()
	}
	t.Cleanup(func() {
		for _, p := range n.procs {
			if t.Failed() {
				t.Logf("---- %s log tail ----\n%s", p.name, p.tail(30))
			}
			p.kill()
		}
	})
	if n.rpc, err = rpc.DialContext(ctx, n.procs[0].rpcURL); err != nil {
		t.Fatal(err)
	}
	defer n.rpc.Close()
	n.eth = ethclient.NewClient(n.rpc)
	waitFor(t, 90*time.Second, "every node past block 2", func() bool {
		for _, p := range n.procs {
			if p.height(ctx) < 2 {
				return false
			}
		}
		return true
	})
	if got := n.validators(n.head()); len(got) != 4 {
		t.Fatalf("genesis set %d validators, want 4: %+v", len(got), got)
	}

	// 1. The candidates stake the minimum with the CLI.
	for _, p := range n.procs[4:] {
		r := runCLI(t, "stake", "add", "--rpc", p.rpcURL, "--datadir", p.datadir, "--role", "validator", "--amount", "1000000", "--json")
		if v := decodeTxJSON(t, r); r.code != 0 || v.Status != "success" {
			t.Fatalf("%s stake: exit %d\n%s\n%s", p.name, r.code, r.stdout, r.stderr)
		}
	}
	// The stakes count from the next staking epoch, whose boundary block
	// carries the set of 7.
	var seven uint64
	waitFor(t, 2*time.Minute, "a set of 7", func() bool {
		h := n.head()
		if len(n.validators(h)) == 7 {
			seven = h
			return true
		}
		return false
	})
	boundary := seven / epochTestL * epochTestL
	if got := n.validators(boundary); len(got) != 7 {
		t.Fatalf("the set changed after block %d, not at its boundary %d: %d there", seven, boundary, len(got))
	}
	if got := n.validators(boundary - 1); len(got) != 4 {
		t.Fatalf("the set before boundary %d has %d validators, want 4", boundary, len(got))
	}
	set7 := n.validators(boundary)

	// 2. All 7 seal blocks of the epoch the set of 7 certifies.
	n.waitBlock(boundary+epochTestL+1, 2*time.Minute)
	counts, certs := n.sealers(boundary+1, boundary+epochTestL)
	for _, v := range set7 {
		if counts[v.Address] == 0 {
			t.Fatalf("validator %s sealed none of %d certificates after the set grew: %v", v.Address, certs, counts)
		}
	}
	t.Logf("set of 7 from block %d; seals in %d certificates: %v", boundary+1, certs, counts)

	// 3. validator-4 stops for a whole reward epoch: it earns nothing for
	// it, the others the formula.
	stopped := n.procs[3]
	stoppedAddr := addressOfDataDir(t, stopped.datadir)
	stopped.kill()
	stopAt := n.head()
	k := stopAt/epochTestL + 1 // the first reward epoch entirely after the kill
	first, last := k*epochTestL+1, (k+1)*epochTestL
	n.waitBlock(last+1, 3*time.Minute)
	stopped.start()

	var info jsonrpc.EpochInfo
	if err := n.rpc.CallContext(ctx, &info, "emc_epochInfo", hexutil.Uint64(last+1)); err != nil {
		t.Fatal(err)
	}
	if info.LastSettled == nil || uint64(*info.LastSettled) != k {
		t.Fatalf("block %d settled %v, want reward epoch %d", last+1, info.LastSettled, k)
	}
	counts, certs = n.sealers(first, last)
	set := n.validators(first - 1) // the set certifying reward epoch k
	var work []rewards.NodeWork
	for _, v := range set {
		earns, err := rewards.ValidatorEarnsCredits(counts[v.Address], certs)
		if err != nil {
			t.Fatal(err)
		}
		var credits uint64
		if earns {
			credits = rewards.DefaultValidatorCredits
		}
		work = append(work, rewards.NodeWork{Node: *v.Owner, Credits: credits, StakeWei: v.Stake.ToInt()})
	}
	want, err := rewards.DistributeNodeRewards(info.LastReward.ToInt(), work)
	if err != nil {
		t.Fatal(err)
	}
	paid := map[common.Address]*big.Int{}
	for _, s := range want.Shares {
		paid[s.Node] = s.AmountWei
	}
	for _, v := range set {
		got := new(big.Int).Sub(n.nodeReward(*v.Owner, last+1), n.nodeReward(*v.Owner, last))
		w := paid[*v.Owner]
		if w == nil {
			w = new(big.Int)
		}
		if got.Cmp(w) != 0 {
			t.Fatalf("epoch %d: %s paid %s, formula %s (seals %d of %d)", k, *v.Owner, got, w, counts[v.Address], certs)
		}
		if v.Address == stoppedAddr && got.Sign() != 0 {
			t.Fatalf("the stopped validator was paid %s for epoch %d", got, k)
		}
	}
	if paid[stoppedAddr] != nil && paid[stoppedAddr].Sign() != 0 {
		t.Fatal("the formula paid the stopped validator")
	}
	if len(want.Shares) < 5 {
		t.Fatalf("only %d validators earned credits in epoch %d: %v", len(want.Shares), k, counts)
	}
	t.Logf("reward epoch %d (blocks %d–%d): reward %s wei, %d earners, validator-4 sealed %d of %d",
		k, first, last, info.LastReward.ToInt(), len(want.Shares), counts[stoppedAddr], certs)

	// 4. A candidate unstakes everything: six eligible, the set returns to 4.
	leaving := n.procs[6]
	r := runCLI(t, "stake", "unstake", "--rpc", leaving.rpcURL, "--datadir", leaving.datadir, "--amount", "1000000", "--json")
	if v := decodeTxJSON(t, r); r.code != 0 || v.Status != "success" {
		t.Fatalf("unstake: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	waitFor(t, 2*time.Minute, "the set back to 4", func() bool { return len(n.validators(n.head())) == 4 })
	after := n.validators(n.head())
	leavingAddr := addressOfDataDir(t, leaving.datadir)
	if slices.ContainsFunc(after, func(v jsonrpc.ValidatorEntry) bool { return v.Address == leavingAddr }) {
		t.Fatal("the unstaked candidate is still in the set")
	}
	// The chain goes on with the set of 4.
	h := n.head()
	n.waitBlock(h+3, time.Minute)
}

// addressOfDataDir returns the address of the one key in a testnet data
// dir's keystore (its file name ends with the address, as geth names it).
func addressOfDataDir(t *testing.T, datadir string) common.Address {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(datadir, "keystore"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("keystore of %s: %v (%d files)", datadir, err, len(entries))
	}
	name := entries[0].Name()
	if len(name) < 40 || !common.IsHexAddress(name[len(name)-40:]) {
		t.Fatalf("keystore file %s names no address", name)
	}
	return common.HexToAddress(name[len(name)-40:])
}
