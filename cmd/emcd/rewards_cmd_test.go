package main

import (
	"context"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/staking/rewards"
)

// TestRewardsCLI runs `emcd rewards` against a one-validator testnet with
// 4-block epochs: dev account 1 stakes as a validator and claims the
// testnet validator's key as its signer, so the validator's seals earn it
// the whole node reward of each settled epoch (50,000 EMC: it is the only
// eligible node, so no dust) and the whole staking budget; it claims, and
// an account owed nothing is refused.
func TestRewardsCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newCluster(t, 1, 0, 100*time.Millisecond)
	p := c.procs["validator-1"]
	genFile := filepath.Join(p.datadir, "genesis.json")
	raw, err := os.ReadFile(genFile)
	if err != nil {
		t.Fatal(err)
	}
	var gen map[string]any
	if err := json.Unmarshal(raw, &gen); err != nil {
		t.Fatal(err)
	}
	gen["epochLength"] = 4
	gen["params"] = map[string]any{"staking": map[string]any{"minValidatorStakeWei": "1000000000000000000"}}
	validator := gen["validators"].([]any)[0].(string)
	if raw, err = json.Marshal(gen); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(genFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	p.start()
	waitFor(t, 90*time.Second, "the testnet past height 2", func() bool { return p.height(ctx) >= 2 })
	url := p.rpcURL
	run := func(want int, args ...string) cliResult {
		t.Helper()
		r := runCLI(t, append(args, "--rpc", url)...)
		if r.code != want {
			t.Fatalf("%v: exit %d, want %d\n%s\n%s\nnode:\n%s", args, r.code, want, r.stdout, r.stderr, p.tail(30))
		}
		return r
	}
	owner := crypto.PubkeyToAddress(mustDevKey(t, 1).PublicKey).Hex()

	// Nothing is owed yet: the claim is refused before it is sent.
	if r := run(1, "rewards", "claim", "--dev-account", "1"); !strings.Contains(r.stderr, "rewards: nothing to claim") {
		t.Fatalf("early claim: %s", r.stderr)
	}
	run(0, "stake", "add", "--dev-account", "1", "--role", "validator", "--amount", "10")
	// The validator node's data dir holds the consensus key and its
	// password: it consents to sign for dev account 1.
	r := run(0, "stake", "signer", validator, "--signer-key", p.datadir, "--dev-account", "1", "--json")
	v := decodeTxJSON(t, r)
	// The stake counts from the next staking epoch; the set of reward
	// epoch k is recorded at block 4k+1 and settles at block 4k+5.
	k := *v.BlockNumber/4 + 1
	waitFor(t, 2*time.Minute, "the settlement", func() bool { return p.height(ctx) >= int64(4*k+6) })

	r = run(0, "rewards", owner, "--json")
	var st struct {
		Rewards struct{ Node, Staking, LongTerm, Total string } `json:"rewards"`
		Epoch   struct {
			Epoch       string `json:"epoch"`
			EpochReward string `json:"epochReward"`
			LastSettled string `json:"lastSettled"`
		} `json:"epoch"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("rewards --json %q: %v", r.stdout, err)
	}
	node, err := hexutil.DecodeBig(st.Rewards.Node)
	if err != nil {
		t.Fatalf("node %q: %v", st.Rewards.Node, err)
	}
	epochReward := rewards.EMC(50_000)
	if node.Sign() <= 0 || new(big.Int).Mod(node, epochReward).Sign() != 0 || st.Epoch.EpochReward != (*hexutil.Big)(epochReward).String() {
		t.Fatalf("rewards status %+v", st)
	}
	if r = run(0, "rewards", owner); !strings.Contains(r.stdout, owner+" can claim ") || !strings.Contains(r.stdout, "last settled epoch") {
		t.Fatalf("rewards text: %s", r.stdout)
	}

	r = run(0, "rewards", "claim", "--dev-account", "1", "--json")
	v = decodeTxJSON(t, r)
	claimed, ok := new(big.Int).SetString(v.Result["claimedWei"].(string), 10)
	if v.Status != "success" || !ok || claimed.Cmp(node) < 0 {
		t.Fatalf("claim %+v (node rewards %s before)", v, node)
	}
	// An account owed nothing, with --gas so the claim is mined and reverts.
	r = run(1, "rewards", "claim", "--dev-account", "3", "--gas", "300000", "--json")
	if v = decodeTxJSON(t, r); v.Status != "reverted" || !strings.HasPrefix(v.RevertReason, "rewards: nothing to claim") {
		t.Fatalf("claim by an account owed nothing: %+v", v)
	}
}
