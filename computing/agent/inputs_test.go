package agent

// A job with inputs through the driver and the real process executor: the
// bundle comes from the submit transaction (InputsFromTxs), the job reads
// its file from $EMC_INPUT_DIR and writes an output derived from it.

import (
	"context"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/computing/executor"
	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/results"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/state/native"
)

// upcase reads in.txt and writes it upper-cased to out.txt, and the input
// file's mode to mode.
const upcase = `#!/bin/sh
set -e
tr a-z A-Z < "$EMC_INPUT_DIR/in.txt" > "$EMC_OUTPUT_DIR/out.txt"
stat -c %a "$EMC_INPUT_DIR/in.txt" > "$EMC_OUTPUT_DIR/mode"
`

type inputsFixture struct {
	*driverFixture
	store  *results.Store
	bundle []byte
	// txData is the calldata of the submit transaction.
	txData []byte
}

func jobsABIOf(t *testing.T) *abi.ABI {
	a, err := abi.JSON(strings.NewReader((&jobs.Module{}).ABI()))
	if err != nil {
		t.Fatal(err)
	}
	return &a
}

func newInputsFixture(t *testing.T, withInputs bool) *inputsFixture {
	dir := t.TempDir()
	f := &inputsFixture{driverFixture: &driverFixture{t: t, view: fakeView{}, logs: &syncBuf{}}}
	programs := NewPrograms(filepath.Join(dir, "programs"))
	src := filepath.Join(dir, "upcase.sh")
	if err := os.WriteFile(src, []byte(upcase), 0o755); err != nil {
		t.Fatal(err)
	}
	digest, err := programs.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	f.bundle, err = jobs.Inputs{{Name: "in.txt", Data: []byte("hello inputs\n")}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f.spec = jobs.Spec{Image: digest, GPUs: 0, TimeoutSeconds: 60, OutputCapBytes: 1 << 20, InputsSHA256: jobs.InputsHash(f.bundle)}
	rawSpec, err := f.spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	a := jobsABIOf(t)
	f.txData, err = a.Pack("submitJobInputs", rawSpec, big.NewInt(1), f.bundle)
	if err != nil {
		t.Fatal(err)
	}
	f.view[1] = jobs.Job{ID: 1, State: jobs.StateAssigned, Node: owner, Attempts: 1, Deadline: 20,
		TimeoutSeconds: 60, Image: digest, SpecHash: crypto.Keccak256Hash(rawSpec)}
	f.store, err = results.Open(filepath.Join(dir, "store"), results.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.journal = NewJournal(filepath.Join(dir, "journal.json"))
	cfg := Config{
		Owner: owner, ChainID: 9, GPUs: 1,
		View: func(*types.Header) (View, error) { return f.view, nil },
		Spec: func(context.Context, *jobs.Job) (jobs.Spec, error) { return f.spec, nil },
		Send: func(_ context.Context, req wallet.Request) (Pending, error) {
			f.sent = append(f.sent, req)
			return &donePending{rc: &types.Receipt{Status: 1, TxHash: common.Hash{byte(len(f.sent))}}, ch: closedCh()}, nil
		},
		Run:      executor.NewProcess(executor.Config{ScratchDir: filepath.Join(dir, "jobs"), Store: f.store}).Run,
		Executor: ExecutorProcess,
		Programs: programs,
		Images:   programImages{programs},
		Store:    f.store,
		Journal:  f.journal,
		Log:      slog.New(slog.NewTextHandler(f.logs, nil)),
	}
	if withInputs {
		// The submission block: the submit transaction and its log.
		cfg.Inputs = func(_ context.Context, j *jobs.Job) ([]byte, error) {
			to := native.JobsAddress
			tx := types.NewTx(&types.LegacyTx{To: &to, Data: f.txData, Gas: 1})
			ev := a.Events["JobSubmitted"].ID
			lg := &types.Log{Address: native.JobsAddress, TxHash: tx.Hash(),
				Topics: []common.Hash{ev, common.BigToHash(new(big.Int).SetUint64(j.ID)), {}}}
			other := types.NewTx(&types.LegacyTx{To: &to, Data: []byte{1}, Nonce: 1})
			return InputsFromTxs(a, []*types.Log{lg}, types.Transactions{other, tx}, j.ID, j.SpecHash)
		}
		cfg.Blobs = f.store
	}
	f.svc, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.svc.Close)
	return f
}

type programImages struct{ p *Programs }

func (i programImages) Has(_ context.Context, d common.Hash) (bool, error) { return i.p.Has(d), nil }

// run takes job 1 through accept and run and returns the reported exit
// and the stored record.
func (f *inputsFixture) run() (int32, *job.Result) {
	f.t.Helper()
	f.head(1)
	if len(f.sent) != 1 || f.method(0) != "accept" {
		f.t.Fatalf("sent %d, want accept; log:\n%s", len(f.sent), f.logs)
	}
	j := f.view[1]
	j.State, j.Deadline = jobs.StateRunning, 1+60+60
	f.view[1] = j
	f.head(2)
	if len(f.sent) != 2 || f.method(1) != "submitResult" {
		f.t.Fatalf("sent %d, want submitResult; log:\n%s", len(f.sent), f.logs)
	}
	args, err := f.svc.abi.Methods["submitResult"].Inputs.Unpack(f.sent[1].Data[4:])
	if err != nil {
		f.t.Fatal(err)
	}
	rec := common.Hash(args[1].([32]byte))
	r, err := f.store.LoadResult(strings.TrimPrefix(rec.Hex(), "0x"))
	if err != nil {
		f.t.Fatal(err)
	}
	return args[3].(int32), r
}

func (f *inputsFixture) output(r *job.Result, name string) string {
	f.t.Helper()
	for _, o := range r.Outputs {
		if o.Path == name {
			rc, _, err := f.store.OpenBlob(o.SHA256)
			if err != nil {
				f.t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				f.t.Fatal(err)
			}
			return string(b)
		}
	}
	f.t.Fatalf("no output %s in %+v (stderr %q)", name, r.Outputs, r.StderrTail)
	return ""
}

// TestServiceJobReadsItsInputs: the job reads /job/in's file (here
// $EMC_INPUT_DIR, process executor), read-only, and writes an output
// derived from it.
func TestServiceJobReadsItsInputs(t *testing.T) {
	f := newInputsFixture(t, true)
	exit, r := f.run()
	if exit != 0 || r.Status != job.StatusSucceeded {
		t.Fatalf("exit %d status %s stderr %q; log:\n%s", exit, r.Status, r.StderrTail, f.logs)
	}
	if got := f.output(r, "out.txt"); got != "HELLO INPUTS\n" {
		t.Fatalf("out.txt %q", got)
	}
	if got := f.output(r, "mode"); got != "444\n" {
		t.Fatalf("input file mode %q, want read-only 444", got)
	}
}

// TestServiceBadInputsFailCleanly: a bundle that does not match the spec,
// a submit transaction without inputs, or a node that cannot read inputs
// each end the job with a failure result (exit -1, no usage), not a hang.
func TestServiceBadInputsFailCleanly(t *testing.T) {
	for name, mod := range map[string]func(f *inputsFixture){
		"tampered bundle": func(f *inputsFixture) {
			bad, _ := jobs.Inputs{{Name: "in.txt", Data: []byte("other")}}.Encode()
			rawSpec, _ := f.spec.Encode()
			f.txData, _ = f.svc.abi.Pack("submitJobInputs", rawSpec, big.NewInt(1), bad)
		},
		"old method": func(f *inputsFixture) {
			rawSpec, _ := f.spec.Encode()
			f.txData, _ = f.svc.abi.Pack("submitJob", rawSpec, big.NewInt(1))
		},
		"other spec": func(f *inputsFixture) {
			s := f.spec
			s.TimeoutSeconds++
			rawSpec, _ := s.Encode()
			f.txData, _ = f.svc.abi.Pack("submitJobInputs", rawSpec, big.NewInt(1), f.bundle)
		},
		"garbage calldata": func(f *inputsFixture) { f.txData = append(f.txData[:4:4], 0xff) },
		"no inputs reader": nil,
	} {
		t.Run(name, func(t *testing.T) {
			f := newInputsFixture(t, mod != nil)
			if mod != nil {
				mod(f)
			}
			exit, r := f.run()
			if exit != -1 || r.Status != job.StatusFailed || !strings.Contains(r.StderrTail, "inputs") {
				t.Fatalf("exit %d status %s stderr %q", exit, r.Status, r.StderrTail)
			}
		})
	}
}

// FuzzInputsFromTxs: any calldata in the submit transaction gives a bundle
// or an error, never a panic; a bundle comes only from an *Inputs method
// whose spec has the record's hash.
func FuzzInputsFromTxs(f *testing.F) {
	a, err := abi.JSON(strings.NewReader((&jobs.Module{}).ABI()))
	if err != nil {
		f.Fatal(err)
	}
	spec := []byte{0xc1, 0x80}
	for _, seed := range [][]any{
		{"submitJobInputs", spec, big.NewInt(1), []byte{0xc0}},
		{"submitJobCreditsInputs", spec, big.NewInt(1), big.NewInt(2), []byte{1, 2}},
		{"submitJob", spec, big.NewInt(1)},
	} {
		data, err := a.Pack(seed[0].(string), seed[1:]...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	to := native.JobsAddress
	specHash := crypto.Keccak256Hash(spec)
	f.Fuzz(func(t *testing.T, data []byte) {
		tx := types.NewTx(&types.LegacyTx{To: &to, Data: data})
		lg := &types.Log{Address: native.JobsAddress, TxHash: tx.Hash(),
			Topics: []common.Hash{a.Events["JobSubmitted"].ID, common.BigToHash(big.NewInt(1)), {}}}
		in, err := InputsFromTxs(&a, []*types.Log{lg}, types.Transactions{tx}, 1, specHash)
		if err != nil {
			return
		}
		m, err := a.MethodById(data[:4])
		if err != nil || !strings.HasSuffix(m.Name, "Inputs") || in == nil {
			t.Fatalf("bundle %x from %x", in, data)
		}
	})
}
