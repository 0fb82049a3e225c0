package main

// End-to-end test of the signing CLI and `emcd credits`: the real binary
// runs as a dev node and, as separate processes, as the CLI, with every key
// source (--dev-account, --keystore, --datadir), the --json output shape and
// both revert paths (refused by the estimate; mined and reverted).

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/genesis"
)

type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the emcd binary with args, bounded by a generous timeout.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, emcdBinary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("emcd %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("emcd %v: timed out\n%s%s", args, r.stdout, r.stderr)
	}
	return r
}

// txJSON is the --json shape of a signing command.
type txJSON struct {
	From         string         `json:"from"`
	To           string         `json:"to"`
	ValueWei     string         `json:"valueWei"`
	ChainID      uint64         `json:"chainId"`
	TxHash       *string        `json:"txHash"`
	Status       string         `json:"status"`
	BlockNumber  *uint64        `json:"blockNumber"`
	GasUsed      uint64         `json:"gasUsed"`
	RevertReason string         `json:"revertReason"`
	Result       map[string]any `json:"result"`
}

func decodeTxJSON(t *testing.T, r cliResult) txJSON {
	t.Helper()
	var v txJSON
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("--json output %q: %v (stderr %s)", r.stdout, err, r.stderr)
	}
	return v
}

func creditsBalance(t *testing.T, url, addr string) string {
	t.Helper()
	r := runCLI(t, "credits", "balance", addr, "--rpc", url, "--json")
	if r.code != 0 {
		t.Fatalf("credits balance: exit %d: %s", r.code, r.stderr)
	}
	var v struct {
		Address string `json:"address"`
		Credits string `json:"credits"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("balance --json %q: %v", r.stdout, err)
	}
	if !strings.EqualFold(v.Address, addr) {
		t.Fatalf("balance of %s reported for %s", v.Address, addr)
	}
	return v.Credits
}

func TestCreditsCLIEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	node := startDevNode(t, t.TempDir())
	url := node.url
	keys, err := genesis.DevAccountKeys(3)
	if err != nil {
		t.Fatal(err)
	}
	acct1 := crypto.PubkeyToAddress(keys[1].PublicKey).Hex()
	acct2 := crypto.PubkeyToAddress(keys[2].PublicKey).Hex()

	// 1. --dev-account, --json: 250 Credits at the default 0.01 EMC.
	r := runCLI(t, "credits", "buy", "--rpc", url, "--dev-account", "1", "--credits", "250", "--json")
	if r.code != 0 {
		t.Fatalf("buy: exit %d\n%s\n%s\nnode:\n%s", r.code, r.stdout, r.stderr, node.output())
	}
	v := decodeTxJSON(t, r)
	if v.Status != "success" || v.TxHash == nil || v.BlockNumber == nil || v.GasUsed == 0 ||
		!strings.EqualFold(v.From, acct1) || !strings.EqualFold(v.To, "0x0000000000000000000000000000000000001003") ||
		v.ValueWei != "2500000000000000000" || v.ChainID != 1337 || v.RevertReason != "" {
		t.Fatalf("buy outcome %+v", v)
	}
	if v.Result["credits"] != "250" || v.Result["balance"] != "250" || v.Result["creditPriceWei"] != "10000000000000000" ||
		!strings.EqualFold(v.Result["to"].(string), acct1) {
		t.Fatalf("buy result %+v", v.Result)
	}
	if got := creditsBalance(t, url, acct1); got != "250" {
		t.Fatalf("balance %s, want 250", got)
	}

	// 2. --keystore DIR --password FILE, and --datadir DIR with the password
	// file beside the keystore (the testnet layout): dev key 2 imported.
	dd := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "key")
	pwFile := filepath.Join(dd, "password")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(crypto.FromECDSA(keys[2]))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "account", "import", "--datadir", dd, "--lightkdf", "--password", pwFile, keyFile); r.code != 0 {
		t.Fatalf("account import: %s", r.stderr)
	}
	r = runCLI(t, "credits", "buy", "--rpc", url, "--keystore", filepath.Join(dd, "keystore"), "--password", pwFile, "--from", acct2, "--credits", "5", "--to", acct1)
	if r.code != 0 || !strings.Contains(r.stdout, "bought 5 credits for "+acct1) || !strings.Contains(r.stdout, "now holds 255 credits") {
		t.Fatalf("buy with --keystore: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "credits", "buy", "--rpc", url, "--datadir", dd, "--credits", "7")
	if r.code != 0 || !strings.Contains(r.stdout, "bought 7 credits for "+acct2) {
		t.Fatalf("buy with --datadir: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "credits", "balance", "--rpc", url, "--datadir", dd); r.code != 0 || !strings.Contains(r.stdout, acct2+" holds 7 credits") {
		t.Fatalf("balance with --datadir: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// A wrong password is an error, not a transaction.
	bad := filepath.Join(t.TempDir(), "bad")
	_ = os.WriteFile(bad, []byte("nope\n"), 0o600)
	if r := runCLI(t, "credits", "buy", "--rpc", url, "--datadir", dd, "--password", bad, "--credits", "1"); r.code == 0 || !strings.Contains(r.stderr, "could not decrypt") {
		t.Fatalf("wrong password: exit %d\n%s", r.code, r.stderr)
	}

	// 3. Reverts: the zero address as recipient. With the estimate the
	// transaction is refused before sending; with --gas it is mined and
	// reverts; both exit 1 with the module's reason.
	zero := "0x0000000000000000000000000000000000000000"
	r = runCLI(t, "credits", "buy", "--rpc", url, "--dev-account", "1", "--credits", "1", "--to", zero, "--json")
	v = decodeTxJSON(t, r)
	if r.code != 1 || v.Status != "rejected" || v.TxHash != nil || v.BlockNumber != nil || v.RevertReason != "credits: zero address: buyCredits to" {
		t.Fatalf("refused buy: exit %d, %+v\n%s", r.code, v, r.stderr)
	}
	r = runCLI(t, "credits", "buy", "--rpc", url, "--dev-account", "1", "--credits", "1", "--to", zero, "--gas", "200000", "--json")
	v = decodeTxJSON(t, r)
	if r.code != 1 || v.Status != "reverted" || v.TxHash == nil || v.BlockNumber == nil || v.RevertReason != "credits: zero address: buyCredits to" ||
		!strings.Contains(r.stderr, "transaction reverted: credits: zero address") {
		t.Fatalf("reverted buy: exit %d, %+v\n%s", r.code, v, r.stderr)
	}
	r = runCLI(t, "credits", "buy", "--rpc", url, "--dev-account", "1", "--credits", "0")
	if r.code != 1 || !strings.Contains(r.stdout, "credits: payment must be positive") {
		t.Fatalf("zero credits: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := creditsBalance(t, url, acct1); got != "255" {
		t.Fatalf("balance after reverts %s, want 255", got)
	}

	// 4. Usage errors exit non-zero without sending.
	for _, args := range [][]string{
		{"credits", "buy", "--rpc", url, "--credits", "1"},                                        // no key
		{"credits", "buy", "--rpc", url, "--dev-account", "1", "--datadir", dd, "--credits", "1"}, // two keys
		{"credits", "buy", "--rpc", url, "--dev-account", "10", "--credits", "1"},                 // no such dev account
		{"credits", "buy", "--rpc", url, "--dev-account", "1", "--credits", "1.5"},                // not whole
		{"credits", "buy", "--rpc", url, "--dev-account", "1", "--credits", "1", "--to", "0x12"},  // bad address
		{"credits", "balance", "--rpc", url},                                                      // no address
		{"credits", "balance", "0xnot", "--rpc", url},                                             // bad address
		{"credits", "balance", acct1, "--rpc", url, "--block", "0xffffff"},                        // unknown block
	} {
		if r := runCLI(t, args...); r.code == 0 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}
