package main

// End-to-end test of `emcd job`: the real binary runs as a dev node and, as
// separate processes, as the CLI. The dev node's router is drawn for a job
// but its compute node holds no program for the job's image, so the job
// stays submitted until cancelled or its assign deadline; the test cancels
// it and checks the refund to the wei from balances and the receipt's fee.

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

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
)

// jobRecord runs `job status ID --json` and decodes emc_getJob's record.
func jobRecord(t *testing.T, url, id string, extra ...string) (jsonrpc.Job, cliResult) {
	t.Helper()
	r := runCLI(t, append([]string{"job", "status", id, "--rpc", url, "--json"}, extra...)...)
	var j jsonrpc.Job
	if r.code == 0 {
		if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
			t.Fatalf("status --json %q: %v", r.stdout, err)
		}
	}
	return j, r
}

// feeOf returns gasUsed × effectiveGasPrice of the transaction.
func feeOf(t *testing.T, ec *ethclient.Client, tx string) *big.Int {
	t.Helper()
	rcpt, err := ec.TransactionReceipt(context.Background(), common.HexToHash(tx))
	if err != nil {
		t.Fatal(err)
	}
	return new(big.Int).Mul(new(big.Int).SetUint64(rcpt.GasUsed), rcpt.EffectiveGasPrice)
}

// balanceAround returns addr's balance at block n-1 and n.
func balanceAround(t *testing.T, ec *ethclient.Client, addr common.Address, n uint64) (*big.Int, *big.Int) {
	t.Helper()
	ctx := context.Background()
	before, err := ec.BalanceAt(ctx, addr, new(big.Int).SetUint64(n-1))
	if err != nil {
		t.Fatal(err)
	}
	after, err := ec.BalanceAt(ctx, addr, new(big.Int).SetUint64(n))
	if err != nil {
		t.Fatal(err)
	}
	return before, after
}

func TestJobCLIEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	node := startDevNode(t, t.TempDir())
	url := node.url
	ec, err := ethclient.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	keys, err := genesis.DevAccountKeys(4)
	if err != nil {
		t.Fatal(err)
	}
	// Dev account 3 only submits and cancels here, and is not the block
	// producer (checked below), so its balance moves only by our txs.
	acct := crypto.PubkeyToAddress(keys[3].PublicKey)
	digest := "sha256:" + strings.Repeat("ab", 32)
	escrowWei, _ := new(big.Int).SetString("2500000000000000000", 10) // 2.5 EMC

	// 1. Submit: 2.5 EMC escrow, the spec from flags and ARGS.
	r := runCLI(t, "job", "submit", "--rpc", url, "--dev-account", "3", "--image", digest, "--gpus", "2",
		"--gpu-model", "NVIDIA H200", "--run-timeout", "10m", "--escrow", "2.5", "--env", "A=1", "--json", "--", "python", "train.py")
	if r.code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s\nnode:\n%s", r.code, r.stdout, r.stderr, node.output())
	}
	v := decodeTxJSON(t, r)
	// Default max price: 2.5e18 wei / (600 s × 2 GPUs), rounded down.
	if v.Status != "success" || v.ValueWei != escrowWei.String() || v.Result["id"] != float64(1) ||
		v.Result["state"] != "submitted" || v.Result["maxPriceWeiPerGpuSecond"] != "2083333333333333" {
		t.Fatalf("submit outcome %+v", v)
	}
	hdr, err := ec.HeaderByNumber(context.Background(), new(big.Int).SetUint64(*v.BlockNumber))
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Coinbase == acct {
		t.Fatalf("dev account 3 is the coinbase: the balance checks would count tips")
	}
	before, after := balanceAround(t, ec, acct, *v.BlockNumber)
	if want := new(big.Int).Sub(before, new(big.Int).Add(escrowWei, feeOf(t, ec, *v.TxHash))); after.Cmp(want) != 0 {
		t.Fatalf("balance after submit %s, want %s", after, want)
	}

	// 2. Status: submitted, the spec as given; no router is named until
	// the draw, and none assigns.
	devRouter := crypto.PubkeyToAddress(genesis.DevRouterKey().PublicKey)
	j, r := jobRecord(t, url, "1")
	if r.code != 0 || j.State != "submitted" || j.Submitter != acct || j.Escrow.ToInt().Cmp(escrowWei) != 0 ||
		uint64(j.GPUs) != 2 || j.GPUModel != "NVIDIA H200" || uint64(j.TimeoutSeconds) != 600 ||
		j.Image != common.HexToHash(strings.Repeat("ab", 32)) || j.Router != nil || j.Node != nil ||
		(j.OfferedRouter != nil && *j.OfferedRouter != devRouter) {
		t.Fatalf("status: exit %d %+v\n%s", r.code, j, r.stderr)
	}
	if r := runCLI(t, "job", "status", "1", "--rpc", url); r.code != 0 || !strings.Contains(r.stdout, "job 1: submitted, submitter "+acct.Hex()+", escrow 2.5 EMC, 2 GPU(s)") {
		t.Fatalf("status text: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// After the draw (block submit+OfferDelay+1) the job is offered to the
	// dev router, the only active one, and stays submitted (no node fits),
	// its assign deadline AssignBlocks after the draw (then it would
	// expire, refunded).
	submitBlock := uint64(j.SubmitBlock)
	drawBlock := submitBlock + jobs.DefaultOfferDelayBlocks + 1
	// The dev node seals while a job holds escrow; account 2 also sends
	// itself nothing until the draw block is sealed.
	for range 2 * drawBlock {
		head, err := ec.BlockNumber(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if head >= drawBlock {
			break
		}
		sendSelf(t, ec, keys[2])
	}
	j, r = jobRecord(t, url, "1")
	if r.code != 0 || j.State != "submitted" || j.OfferedRouter == nil || *j.OfferedRouter != devRouter ||
		uint64(j.OfferEndBlock) != drawBlock+jobs.DefaultOfferWindowBlocks || j.Router != nil ||
		uint64(j.Deadline) != drawBlock+jobs.DefaultAssignBlocks {
		t.Fatalf("after the draw: exit %d %+v (submitted in %d)\n%s", r.code, j, submitBlock, r.stderr)
	}
	// wait on a job with no result times out with exit 1.
	if r := runCLI(t, "job", "wait", "1", "--rpc", url, "--timeout", "1s"); r.code != 1 || !strings.Contains(r.stderr, "job 1 still submitted") {
		t.Fatalf("wait on a submitted job: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// 3. Cancel refunds the escrow exactly: the balance moves by escrow − fee.
	r = runCLI(t, "job", "cancel", "1", "--rpc", url, "--dev-account", "3", "--json")
	v = decodeTxJSON(t, r)
	if r.code != 0 || v.Status != "success" || v.Result["state"] != "cancelled" || v.Result["refundWei"] != escrowWei.String() {
		t.Fatalf("cancel: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	before, after = balanceAround(t, ec, acct, *v.BlockNumber)
	if want := new(big.Int).Sub(new(big.Int).Add(before, escrowWei), feeOf(t, ec, *v.TxHash)); after.Cmp(want) != 0 {
		t.Fatalf("balance after cancel %s, want %s (before %s)", after, want, before)
	}
	// Cancel again: refused with the module's reason, exit 1, nothing sent.
	r = runCLI(t, "job", "cancel", "1", "--rpc", url, "--dev-account", "3", "--json")
	v = decodeTxJSON(t, r)
	if r.code != 1 || v.Status != "rejected" || v.TxHash != nil || !strings.Contains(v.RevertReason, "job 1 is cancelled, cancel needs submitted") ||
		!strings.Contains(r.stderr, "transaction reverted") {
		t.Fatalf("second cancel: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	// Another account may not cancel (a fresh job of account 3's).
	r = runCLI(t, "job", "submit", "--rpc", url, "--dev-account", "3", "--image", digest, "--escrow", "1", "--max-price", "7", "--json")
	if v = decodeTxJSON(t, r); r.code != 0 || v.Result["id"] != float64(2) || v.Result["maxPriceWeiPerGpuSecond"] != "7" {
		t.Fatalf("second submit: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	if r := runCLI(t, "job", "cancel", "2", "--rpc", url, "--dev-account", "2"); r.code != 1 || !strings.Contains(r.stdout, "only the submitter may cancel") {
		t.Fatalf("cancel by another account: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// 4. wait on an ended job returns at once with its record.
	start := time.Now()
	r = runCLI(t, "job", "wait", "1", "--rpc", url, "--timeout", "30s", "--json")
	var w jsonrpc.Job
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &w) != nil || w.State != "cancelled" || w.Refund.ToInt().Cmp(escrowWei) != 0 || uint64(w.EndBlock) == 0 {
		t.Fatalf("wait on a cancelled job: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("wait on an ended job took %s", d)
	}

	// 5. list: the owner's jobs, a state filter, every job, an owner with none.
	list := func(args ...string) jsonrpc.Jobs {
		t.Helper()
		r := runCLI(t, append([]string{"job", "list", "--rpc", url, "--json"}, args...)...)
		var out jsonrpc.Jobs
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
			t.Fatalf("list %v: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
		}
		return out
	}
	ids := func(l jsonrpc.Jobs) (s []string) {
		for _, j := range l.Jobs {
			s = append(s, j.ID.String()+":"+j.State)
		}
		return s
	}
	if l := list("--owner", acct.Hex()); uint64(l.Total) != 2 || strings.Join(ids(l), ",") != "0x1:cancelled,0x2:submitted" {
		t.Fatalf("list --owner: %+v", ids(l))
	}
	if l := list("--dev-account", "3", "--state", "submitted"); strings.Join(ids(l), ",") != "0x2:submitted" {
		t.Fatalf("list --state submitted: %+v", ids(l))
	}
	if l := list("--offset", "1", "--limit", "1"); uint64(l.Total) != 2 || uint64(l.NextOffset) != 2 || strings.Join(ids(l), ",") != "0x2:submitted" {
		t.Fatalf("list page: %+v %+v", l, ids(l))
	}
	if l := list("--owner", crypto.PubkeyToAddress(keys[2].PublicKey).Hex()); uint64(l.Total) != 0 || len(l.Jobs) != 0 {
		t.Fatalf("list of an account with none: %+v", l)
	}
	if r := runCLI(t, "job", "list", "--rpc", url); r.code != 0 || !strings.Contains(r.stdout, "2 shown, next offset 2 of 2") {
		t.Fatalf("list text: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// 6. A spec file gives the same job shape.
	specFile := filepath.Join(t.TempDir(), "spec.json")
	spec := `{"image":"0x` + strings.Repeat("cd", 32) + `","args":["run"],"gpus":1,"timeoutSeconds":60}`
	if err := os.WriteFile(specFile, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "job", "submit", "--rpc", url, "--dev-account", "3", "--spec", specFile, "--escrow", "0.5", "--json")
	if v = decodeTxJSON(t, r); r.code != 0 || v.Result["id"] != float64(3) {
		t.Fatalf("submit --spec: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	if j, r := jobRecord(t, url, "3"); r.code != 0 || uint64(j.TimeoutSeconds) != 60 || j.Image != common.HexToHash(strings.Repeat("cd", 32)) {
		t.Fatalf("job 3: %+v %s", j, r.stderr)
	}

	// 7. Flag errors exit non-zero before anything is sent: the count stays 3.
	badSpec := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(badSpec, []byte(`{"image":"0x01","gpus":1,"timeoutSeconds":60,"extra":1}`), 0o600)
	for _, args := range [][]string{
		{"--image", "sha256:1234", "--escrow", "1"},                             // short digest
		{"--image", "sha256:" + strings.Repeat("zz", 32), "--escrow", "1"},      // not hex
		{"--image", "sha256:" + strings.Repeat("00", 32), "--escrow", "1"},      // zero digest
		{"--image", digest, "--escrow", "0"},                                    // zero escrow
		{"--image", digest, "--escrow", "-1"},                                   // negative escrow
		{"--image", digest},                                                     // no escrow
		{"--image", digest, "--escrow", "1", "--gpus", "0", "--gpu-model", "X"}, // CPU-only with a GPU model
		{"--image", digest, "--escrow", "1", "--credits", "2"},                  // both escrows
		{"--image", digest, "--credits", "0"},                                   // zero Credits
		{"--image", digest, "--credits", "x"},                                   // not a number
		{"--image", digest, "--escrow", "1", "--env", "NOEQ"},                   // bad env
		{"--image", digest, "--escrow", "1", "--max-price", "0"},                // zero price
		{"--image", digest, "--escrow", "1", "--run-timeout", "1.5s"},           // not whole seconds
		{"--escrow", "1"}, // no image
		{"--image", digest, "--spec", specFile, "--escrow", "1"}, // both
		{"--spec", specFile, "--escrow", "1", "--gpus", "2"},     // spec and a spec flag
		{"--spec", badSpec, "--escrow", "1"},                     // unknown field
		{"--image", digest, "--escrow", "0.000000000000000001"},  // escrow below 1 wei per GPU-second
	} {
		args = append([]string{"job", "submit", "--rpc", url, "--dev-account", "3"}, args...)
		if r := runCLI(t, args...); r.code == 0 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"job", "status", "0", "--rpc", url},
		{"job", "status", "x", "--rpc", url},
		{"job", "status", "9", "--rpc", url}, // no such job
		{"job", "wait", "9", "--rpc", url, "--timeout", "5s"},
		{"job", "cancel", "1", "--rpc", url}, // no key
		{"job", "list", "--rpc", url, "--owner", "0x12"},
		{"job", "list", "--rpc", url, "--limit", "101"},
		{"job", "list", "--rpc", url, "--state", "nope"},
	} {
		if r := runCLI(t, args...); r.code == 0 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if l := list(); uint64(l.Total) != 3 {
		t.Fatalf("after the flag errors %d jobs, want 3", l.Total)
	}

	// 8. A CPU-only job escrowed in Credits: without Credits it is
	// refused; bought, they are locked, shown by status, and a cancel
	// returns them all.
	r = runCLI(t, "job", "submit", "--rpc", url, "--dev-account", "3", "--image", digest, "--gpus", "0", "--credits", "5", "--json")
	if v = decodeTxJSON(t, r); r.code != 1 || !strings.Contains(v.RevertReason, "insufficient credits") {
		t.Fatalf("submit --credits without Credits: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	if r := runCLI(t, "credits", "buy", "--rpc", url, "--dev-account", "3", "--credits", "5", "--json"); r.code != 0 {
		t.Fatalf("credits buy: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "job", "submit", "--rpc", url, "--dev-account", "3", "--image", digest, "--gpus", "0", "--credits", "5", "--json")
	if v = decodeTxJSON(t, r); r.code != 0 || v.Result["id"] != float64(4) || v.Result["escrowKind"] != "credits" || v.Result["escrowCredits"] != "5" {
		t.Fatalf("submit --credits: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	if j, r := jobRecord(t, url, "4"); r.code != 0 || j.EscrowKind != "credits" || j.EscrowCredits.ToInt().Int64() != 5 || uint64(j.GPUs) != 0 || j.Escrow.ToInt().Sign() != 0 {
		t.Fatalf("job 4: %+v %s", j, r.stderr)
	}
	if r := runCLI(t, "job", "status", "4", "--rpc", url); r.code != 0 || !strings.Contains(r.stdout, "escrow 5 Credits") {
		t.Fatalf("status of a Credits job: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "job", "cancel", "4", "--rpc", url, "--dev-account", "3", "--json")
	if v = decodeTxJSON(t, r); r.code != 0 || v.Status != "success" {
		t.Fatalf("cancel of a Credits job: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	if j, r := jobRecord(t, url, "4"); r.code != 0 || j.State != "cancelled" || j.RefundCredits.ToInt().Int64() != 5 {
		t.Fatalf("job 4 after cancel: %+v %s", j, r.stderr)
	}

	// 9. Input files ride in the calldata of submitJobInputs; the spec
	// names their bundle's sha256. Bad inputs are refused before sending.
	inDir := t.TempDir()
	a, b := filepath.Join(inDir, "b.txt"), filepath.Join(inDir, "a.csv")
	_ = os.WriteFile(a, []byte("bee"), 0o600)
	_ = os.WriteFile(b, []byte("1,2\n"), 0o600)
	r = runCLI(t, "job", "submit", "--rpc", url, "--dev-account", "3", "--image", digest, "--escrow", "0.5",
		"--input", a, "--input", b, "--json")
	if v = decodeTxJSON(t, r); r.code != 0 || v.Status != "success" || v.Result["id"] != float64(5) {
		t.Fatalf("submit --input: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	tx, _, err := ec.TransactionByHash(context.Background(), common.HexToHash(*v.TxHash))
	if err != nil {
		t.Fatal(err)
	}
	ja, err := jobsABI()
	if err != nil {
		t.Fatal(err)
	}
	args, err := ja.Methods["submitJobInputs"].Inputs.Unpack(tx.Data()[4:])
	if err != nil {
		t.Fatalf("submit --input sent %x: %v", tx.Data()[:4], err)
	}
	spec5, err := jobs.DecodeSpec(args[0].([]byte))
	if err != nil {
		t.Fatal(err)
	}
	files, err := jobs.DecodeInputsFor(&spec5, args[2].([]byte))
	if err != nil || len(files) != 2 || files[0].Name != "a.csv" || string(files[1].Data) != "bee" {
		t.Fatalf("bundle sent %+v %v", files, err)
	}
	// A nearly full bundle of random (non-zero, dearest) bytes goes
	// through the pool and into a block.
	full := make([]byte, jobs.MaxInputsBytes-64)
	for i := range full {
		full[i] = byte(i*7+1) | 1
	}
	fullFile := filepath.Join(t.TempDir(), "full.bin")
	_ = os.WriteFile(fullFile, full, 0o600)
	r = runCLI(t, "job", "submit", "--rpc", url, "--dev-account", "3", "--image", digest, "--escrow", "0.5",
		"--input", fullFile, "--json")
	if v = decodeTxJSON(t, r); r.code != 0 || v.Status != "success" || v.Result["id"] != float64(6) {
		t.Fatalf("submit --input with a full bundle: exit %d %+v\n%s", r.code, v, r.stderr)
	}
	t.Logf("a %d-byte input file: gas used %v", len(full), v.GasUsed)
	big := filepath.Join(inDir, "big.bin")
	_ = os.WriteFile(big, make([]byte, jobs.MaxInputsBytes), 0o600)
	other := filepath.Join(t.TempDir(), "b.txt")
	_ = os.WriteFile(other, []byte("x"), 0o600)
	for _, args := range [][]string{
		{"--input", a, "--input", other}, // same name twice
		{"--input", big},                 // oversize
		{"--input", inDir},               // a directory
		{"--input", filepath.Join(inDir, "missing")},
	} {
		args = append([]string{"job", "submit", "--rpc", url, "--dev-account", "3", "--image", digest, "--escrow", "1"}, args...)
		if r := runCLI(t, args...); r.code == 0 || !strings.Contains(r.stderr, "--input") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if l := list(); uint64(l.Total) != 6 {
		t.Fatalf("after the input errors %d jobs, want 6", l.Total)
	}
}

// sendSelf sends a 0-value transfer from key to itself and waits for it to
// be mined.
func sendSelf(t *testing.T, ec *ethclient.Client, key *ecdsa.PrivateKey) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := ec.PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	chainID, err := ec.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tip, err := ec.SuggestGasTipCap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx := types.MustSignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2))),
		Gas: 21_000, To: &from, Value: new(big.Int),
	})
	if err := ec.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := ec.TransactionReceipt(ctx, tx.Hash()); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("self-transfer %s not mined", tx.Hash().Hex())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
