package main

// End-to-end tests of `emcd stake`, plus unit tests of its argument
// parsing. The dev genesis has 43,200-block epochs and 10,000 EMC accounts
// (below the validator and router minimums), so against `emcd --dev`
// everything happens in epoch 0 with compute stakes; TestStakeCLIEpochs
// runs a one-validator testnet with 4-block epochs and a 1 EMC validator
// minimum for setSigner, the release epoch and a paying withdraw.

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/state/native"
)

func TestParseEMC(t *testing.T) {
	for in, want := range map[string]string{
		"1": "1000000000000000000", "0.5": "500000000000000000", "1000000": "1000000000000000000000000",
		"0.000000000000000001": "1", ".5": "500000000000000000", "0": "0",
	} {
		got, err := parseEMC(in)
		if err != nil || got.String() != want {
			t.Errorf("parseEMC(%q) = %v, %v; want %s", in, got, err, want)
		}
		if err == nil && in != ".5" && in != "0.5" && formatEMC(got) != in {
			t.Errorf("formatEMC(%s) = %s, want %s", got, formatEMC(got), in)
		}
	}
	for _, bad := range []string{"", ".", "1.", "-1", "1e18", "0x10", "1.0000000000000000001", "1,5", " 1",
		strings.Repeat("9", 80)} {
		if v, err := parseEMC(bad); err == nil {
			t.Errorf("parseEMC(%q) = %s, want an error", bad, v)
		}
	}
	if got := formatEMC(big.NewInt(1_500_000_000_000_000_000)); got != "1.5" {
		t.Errorf("formatEMC(1.5e18) = %s", got)
	}
	for in, want := range map[string]uint8{"0": 0, "none": 0, "7d": 1, "30d": 2, "90d": 3, "180d": 4} {
		if got, err := parseLock(in); err != nil || got != want {
			t.Errorf("parseLock(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "1d", "365d", "7"} {
		if _, err := parseLock(bad); err == nil {
			t.Errorf("parseLock(%q) accepted", bad)
		}
	}
}

type positionJSON struct {
	Role           *string `json:"role"`
	Amount         string  `json:"amount"`
	PreviousAmount string  `json:"previousAmount"`
	EffectiveFrom  string  `json:"effectiveFrom"`
	Lock           string  `json:"lock"`
	LockName       string  `json:"lockName"`
	UnlockEpoch    string  `json:"unlockEpoch"`
	Signer         string  `json:"signer"`
	Unbonding      []struct {
		Amount       string `json:"amount"`
		ReleaseEpoch string `json:"releaseEpoch"`
	} `json:"unbonding"`
}

func stakeStatus(t *testing.T, url, addr string) positionJSON {
	t.Helper()
	r := runCLI(t, "stake", "status", addr, "--rpc", url, "--json")
	if r.code != 0 {
		t.Fatalf("stake status: exit %d: %s", r.code, r.stderr)
	}
	var v struct {
		Address  string       `json:"address"`
		Position positionJSON `json:"position"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || !strings.EqualFold(v.Address, addr) {
		t.Fatalf("status --json %q: %v", r.stdout, err)
	}
	return v.Position
}

func TestStakeCLIEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	node := startDevNode(t, t.TempDir())
	url := node.url
	keys, err := genesis.DevAccountKeys(4)
	if err != nil {
		t.Fatal(err)
	}
	acct1 := crypto.PubkeyToAddress(keys[1].PublicKey).Hex()
	acct2 := crypto.PubkeyToAddress(keys[2].PublicKey).Hex()
	sk := newSignerKey(t)

	// 1. add, --json: 100 EMC for compute, locked 7 epochs.
	r := runCLI(t, "stake", "add", "--rpc", url, "--dev-account", "1", "--role", "compute", "--amount", "100", "--lock", "7d", "--json")
	if r.code != 0 {
		t.Fatalf("add: exit %d\n%s\n%s\nnode:\n%s", r.code, r.stdout, r.stderr, node.output())
	}
	v := decodeTxJSON(t, r)
	if v.Status != "success" || v.TxHash == nil || !strings.EqualFold(v.From, acct1) ||
		!strings.EqualFold(v.To, "0x0000000000000000000000000000000000001000") || v.ValueWei != "100000000000000000000" {
		t.Fatalf("add outcome %+v", v)
	}
	pos, _ := v.Result["position"].(map[string]any)
	if pos["role"] != "compute" || pos["amount"] != "0x56bc75e2d63100000" || pos["lockName"] != "7d" || pos["unlockEpoch"] != "0x7" || pos["effectiveFrom"] != "0x1" {
		t.Fatalf("add result %+v", v.Result)
	}
	if p := stakeStatus(t, url, acct1); p.Role == nil || *p.Role != "compute" || p.Amount != "0x56bc75e2d63100000" || !strings.EqualFold(p.Signer, acct1) {
		t.Fatalf("status %+v", p)
	}
	r = runCLI(t, "stake", "status", "--rpc", url, "--dev-account", "1")
	if r.code != 0 || !strings.Contains(r.stdout, acct1+": compute, 100 EMC staked (effective from epoch 1; 0 EMC before), lock 7d until epoch 7") {
		t.Fatalf("status text: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// 2. Reverts exit 1 with the module's reason: locked, another role,
	// below the validator minimum, signer without a validator position,
	// nothing released; with --gas the transaction is mined and reverts.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"unstake", "--dev-account", "1", "--amount", "1"}, "staking: stake is locked"},
		{[]string{"add", "--dev-account", "1", "--role", "router", "--amount", "1"}, "staking: position has another role"},
		{[]string{"add", "--dev-account", "3", "--role", "validator", "--amount", "5000"}, "staking: stake would be below the role's minimum"},
		{[]string{"signer", "--signer-key", sk.dir, "--signer-password", sk.pw, "--dev-account", "1"}, "staking: only a validator position may set a signer"},
		{[]string{"withdraw", "--dev-account", "1"}, "staking: nothing released to withdraw"},
	} {
		r := runCLI(t, append(append([]string{"stake"}, tc.args...), "--rpc", url)...)
		if r.code != 1 || !strings.Contains(r.stdout, tc.want) || !strings.Contains(r.stderr, "transaction reverted: "+tc.want) {
			t.Errorf("%v: exit %d\n%s\n%s", tc.args, r.code, r.stdout, r.stderr)
		}
	}
	r = runCLI(t, "stake", "withdraw", "--rpc", url, "--dev-account", "1", "--gas", "400000", "--json")
	if v = decodeTxJSON(t, r); r.code != 1 || v.Status != "reverted" || v.TxHash == nil || v.RevertReason != "staking: nothing released to withdraw" {
		t.Fatalf("mined withdraw: exit %d %+v\n%s", r.code, v, r.stderr)
	}

	// 3. unstake without a lock: the amount enters the unbonding queue,
	// released at epoch 0 + 1 + 7.
	if r := runCLI(t, "stake", "add", "--rpc", url, "--dev-account", "2", "--role", "compute", "--amount", "5"); r.code != 0 ||
		!strings.Contains(r.stdout, "staked 5 EMC as compute; position now 5 EMC, lock 0 until epoch 0, effective from epoch 1") {
		t.Fatalf("add 2: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "stake", "unstake", "--rpc", url, "--dev-account", "2", "--amount", "2.5")
	if r.code != 0 || !strings.Contains(r.stdout, "unstaked 2.5 EMC, released at epoch 8; position now 2.5 EMC") {
		t.Fatalf("unstake: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	p := stakeStatus(t, url, acct2)
	if p.Amount != "0x22b1c8c1227a0000" || len(p.Unbonding) != 1 || p.Unbonding[0].Amount != "0x22b1c8c1227a0000" || p.Unbonding[0].ReleaseEpoch != "0x8" {
		t.Fatalf("status after unstake %+v", p)
	}
	if r := runCLI(t, "stake", "status", acct2, "--rpc", url); r.code != 0 || !strings.Contains(r.stdout, "  unbonding 2.5 EMC, released at epoch 8") {
		t.Fatalf("status text: %s %s", r.stdout, r.stderr)
	}
	if p := stakeStatus(t, url, "0x000000000000000000000000000000000000dead"); p.Role != nil || p.Amount != "0x0" {
		t.Fatalf("empty position %+v", p)
	}

	// 4. Usage errors exit non-zero without sending.
	for _, args := range [][]string{
		{"stake", "add", "--rpc", url, "--role", "compute", "--amount", "1"},                                               // no key
		{"stake", "add", "--rpc", url, "--dev-account", "1", "--role", "miner", "--amount", "1"},                           // bad role
		{"stake", "add", "--rpc", url, "--dev-account", "1", "--role", "compute", "--amount", "-1"},                        // bad amount
		{"stake", "add", "--rpc", url, "--dev-account", "1", "--role", "compute", "--amount", "1", "--lock", "1y"},         // bad lock
		{"stake", "unstake", "--rpc", url, "--dev-account", "1"},                                                           // no amount
		{"stake", "signer", "0x12", "--rpc", url, "--dev-account", "1"},                                                    // bad address
		{"stake", "signer", "0x000000000000000000000000000000000000beef", "--rpc", url, "--dev-account", "1"},              // no consent
		{"stake", "signer", acct2, "--signer-key", sk.dir, "--signer-password", sk.pw, "--rpc", url, "--dev-account", "1"}, // key is not ADDR
		{"stake", "signer", "--signer-key", sk.dir, "--rpc", url, "--dev-account", "1"},                                    // no password
		{"stake", "signer", "--signer-key", sk.pw, "--signer-password", sk.pw, "--rpc", url, "--dev-account", "1"},         // not a key file
		{"stake", "signer", "--rpc", url, "--dev-account", "1"},                                                            // neither ADDR nor key
		{"stake", "status", "--rpc", url},                                                                                  // no address
		{"stake", "status", acct1, "--rpc", url, "--block", "0xffffff"},                                                    // unknown block
	} {
		if r := runCLI(t, args...); r.code == 0 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// TestStakeCLIEpochs runs `emcd stake` against a one-validator testnet
// whose genesis has 4-block epochs and a 1 EMC validator minimum, so
// epochs pass within the test: a validator stake, setSigner with the
// signer key's consent (a second owner refused the same signer; clearing
// and claiming again with a fresh consent), unstake, the release epoch
// reached, and withdraw paying exactly once.
func TestStakeCLIEpochs(t *testing.T) {
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
	if raw, err = json.Marshal(gen); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(genFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	p.start()
	waitFor(t, 90*time.Second, "the testnet past height 2", func() bool { return p.height(ctx) >= 2 })
	url := p.rpcURL
	sk := newSignerKey(t)
	signerAddr := sk.addr.Hex()

	run := func(want int, args ...string) cliResult {
		t.Helper()
		r := runCLI(t, append(args, "--rpc", url)...)
		if r.code != want {
			t.Fatalf("%v: exit %d, want %d\n%s\n%s\nnode:\n%s", args, r.code, want, r.stdout, r.stderr, p.tail(30))
		}
		return r
	}
	r := run(0, "stake", "add", "--dev-account", "1", "--role", "validator", "--amount", "10")
	if !strings.Contains(r.stdout, "staked 10 EMC as validator; position now 10 EMC") {
		t.Fatalf("add: %s", r.stdout)
	}
	// The signer key consents (a key file, ADDR named and matching).
	r = run(0, "stake", "signer", signerAddr, "--signer-key", sk.file, "--signer-password", sk.pw, "--dev-account", "1", "--json")
	if v := decodeTxJSON(t, r); v.Status != "success" || !strings.EqualFold(v.Result["position"].(map[string]any)["signer"].(string), signerAddr) {
		t.Fatalf("signer --json: %+v", v)
	}
	if n := signerNonceOf(t, url, sk.addr); n != 1 {
		t.Fatalf("signer nonce after the claim %d, want 1", n)
	}
	run(0, "stake", "add", "--dev-account", "2", "--role", "validator", "--amount", "3")
	if r = run(1, "stake", "signer", "--signer-key", sk.dir, "--signer-password", sk.pw, "--dev-account", "2"); !strings.Contains(r.stderr, "staking: address is another owner's signer or an owner") {
		t.Fatalf("second claim: %s", r.stderr)
	}
	// Clearing needs no consent; the signer's consent claims it again (a
	// fresh one: the nonce moved on).
	acct1 := crypto.PubkeyToAddress(mustDevKey(t, 1).PublicKey).Hex()
	if r = run(0, "stake", "signer", acct1, "--dev-account", "1"); !strings.Contains(r.stdout, "signer set to "+acct1) {
		t.Fatalf("clear: %s", r.stdout)
	}
	if r = run(0, "stake", "signer", "--signer-key", sk.dir, "--signer-password", sk.pw, "--dev-account", "1"); !strings.Contains(r.stdout, "signer set to "+signerAddr) {
		t.Fatalf("signer: %s", r.stdout)
	}
	if n := signerNonceOf(t, url, sk.addr); n != 2 {
		t.Fatalf("signer nonce after the second claim %d, want 2", n)
	}
	r = run(0, "stake", "unstake", "--dev-account", "1", "--amount", "4", "--json")
	v := decodeTxJSON(t, r)
	pos, _ := v.Result["position"].(map[string]any)
	entries, _ := pos["unbonding"].([]any)
	if v.Status != "success" || len(entries) != 1 || !strings.EqualFold(pos["signer"].(string), signerAddr) {
		t.Fatalf("unstake: %+v", v)
	}
	release, err := hexutil.DecodeUint64(entries[0].(map[string]any)["releaseEpoch"].(string))
	if err != nil || release != *v.BlockNumber/4+1+7 {
		t.Fatalf("release epoch %d (%v), unstaked in block %d", release, err, *v.BlockNumber)
	}
	if r = run(1, "stake", "withdraw", "--dev-account", "1"); !strings.Contains(r.stdout, "nothing released") {
		t.Fatalf("early withdraw: %s", r.stdout)
	}
	waitFor(t, 2*time.Minute, "the release epoch", func() bool { return p.height(ctx) >= int64(release*4) })
	if r = run(0, "stake", "withdraw", "--dev-account", "1"); !strings.Contains(r.stdout, "withdrew 4 EMC; 0 EMC still unbonding") {
		t.Fatalf("withdraw: %s", r.stdout)
	}
	run(1, "stake", "withdraw", "--dev-account", "1")
	st := stakeStatus(t, url, crypto.PubkeyToAddress(mustDevKey(t, 1).PublicKey).Hex())
	if st.Amount != "0x53444835ec580000" || len(st.Unbonding) != 0 || !strings.EqualFold(st.Signer, signerAddr) {
		t.Fatalf("final position %+v", st)
	}
}

// signerKey is a keystore holding one fresh key: dir, its key file, and a
// password file.
type signerKey struct {
	dir, file, pw string
	addr          common.Address
}

func newSignerKey(t *testing.T) signerKey {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("signer secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks := keystore.NewKeyStore(dir, keystore.LightScryptN, keystore.LightScryptP)
	acct, err := ks.NewAccount("signer secret")
	if err != nil {
		t.Fatal(err)
	}
	return signerKey{dir: dir, file: acct.URL.Path, pw: pw, addr: acct.Address}
}

// signerNonceOf reads the staking module's signerNonce(addr) over url.
func signerNonceOf(t *testing.T, url string, addr common.Address) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nd, err := dialNode(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()
	a, err := stakingABI()
	if err != nil {
		t.Fatal(err)
	}
	data, err := a.Pack("signerNonce", addr)
	if err != nil {
		t.Fatal(err)
	}
	to := native.StakingAddress
	ret, err := nd.eth.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Unpack("signerNonce", ret)
	if err != nil {
		t.Fatal(err)
	}
	return out[0].(uint64)
}

func mustDevKey(t *testing.T, i int) *ecdsa.PrivateKey {
	t.Helper()
	keys, err := genesis.DevAccountKeys(i + 1)
	if err != nil {
		t.Fatal(err)
	}
	return keys[i]
}
