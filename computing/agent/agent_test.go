package agent

// The driver (Service) with FAKES around it: a chain view holding job
// records, an executor that seals a fixed record, an image set, and a
// wallet whose Send the test scripts. It checks what the core tests
// cannot: the journal is saved before a transaction is sent, a wallet
// refusal (short of gas) is logged and retried while the agent keeps
// going, and a job that cannot run is reported as failed with no usage.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/emc-network/emcd/computing/job"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/results"
	"github.com/emc-network/emcd/node/wallet"
)

type fakeView map[uint64]jobs.Job

func (v fakeView) JobCount() uint64 { return uint64(len(v)) }
func (v fakeView) JobOf(id uint64) (jobs.Job, bool, error) {
	j, ok := v[id]
	return j, ok, nil
}

// A fakeView has no re-executions (node/agent_test.go drives those on
// the real module).
func (v fakeView) ReexecsOf(common.Address, uint64, uint64) ([]uint64, uint64) { return nil, 0 }
func (v fakeView) ReexecOf(uint64) (jobs.Reexec, bool, error)                  { return jobs.Reexec{}, false, nil }

type fakeImages map[common.Hash]bool

func (f fakeImages) Has(_ context.Context, d common.Hash) (bool, error) { return f[d], nil }

type donePending struct {
	rc  *types.Receipt
	err error
	ch  chan struct{}
}

func (p *donePending) Done() <-chan struct{}                        { return p.ch }
func (p *donePending) Wait(context.Context) (*types.Receipt, error) { return p.rc, p.err }

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type driverFixture struct {
	t       *testing.T
	view    fakeView
	spec    jobs.Spec
	svc     *Service
	journal *Journal
	sent    []wallet.Request
	// sendErr, when set, is what Send returns.
	sendErr error
	runErr  error
	logs    *syncBuf
	// journaled is the journal's phase of job 1 when each tx was sent.
	journaled []Phase
}

func newDriverFixture(t *testing.T) *driverFixture {
	f := &driverFixture{t: t, view: fakeView{}, logs: &syncBuf{}}
	f.spec = jobs.Spec{Image: common.Hash{0x1a}, GPUs: 1, TimeoutSeconds: 60, Args: []string{"x"}}
	h, err := f.spec.Hash()
	if err != nil {
		t.Fatal(err)
	}
	f.view[1] = jobs.Job{ID: 1, State: jobs.StateAssigned, Node: owner, Attempts: 1, Deadline: 20, GPUs: 1,
		TimeoutSeconds: 60, Image: f.spec.Image, SpecHash: h}
	dir := t.TempDir()
	store, err := results.Open(filepath.Join(dir, "store"), results.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.journal = NewJournal(filepath.Join(dir, "journal.json"))
	f.svc, err = New(Config{
		Owner: owner, ChainID: 9, GPUs: 1,
		View: func(*types.Header) (View, error) { return f.view, nil },
		Spec: func(context.Context, *jobs.Job) (jobs.Spec, error) { return f.spec, nil },
		Send: func(_ context.Context, req wallet.Request) (Pending, error) {
			es, err := f.journal.Load()
			if err != nil || len(es) != 1 {
				t.Fatalf("journal at send: %+v %v", es, err)
			}
			f.journaled = append(f.journaled, es[0].Phase)
			if f.sendErr != nil {
				return nil, f.sendErr
			}
			f.sent = append(f.sent, req)
			return &donePending{rc: &types.Receipt{Status: 1, TxHash: common.Hash{byte(len(f.sent))}}, ch: closedCh()}, nil
		},
		Run: func(_ context.Context, s *job.Spec) (*job.Result, error) {
			if f.runErr != nil {
				return nil, f.runErr
			}
			r := &job.Result{JobID: s.ID, Executor: "process", Status: job.StatusSucceeded, GPUUUIDs: []string{"sim-0"}, WallMillis: 1500}
			r.GPUMillis = 1500
			return r, r.Seal()
		},
		Executor: ExecutorDocker,
		Images:   fakeImages{f.spec.Image: true},
		Store:    store,
		Journal:  f.journal,
		Log:      slog.New(slog.NewTextHandler(f.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.svc.Close)
	return f
}

func closedCh() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

func (f *driverFixture) head(n uint64) {
	f.t.Helper()
	f.svc.Step(context.Background(), &types.Header{Number: new(big.Int).SetUint64(n), Time: n})
	for f.svc.Running() > 0 {
		f.svc.RunDone(context.Background(), <-f.svc.Outcomes())
	}
}

func (f *driverFixture) method(i int) string {
	f.t.Helper()
	abi := f.svc.abi
	m, err := abi.MethodById(f.sent[i].Data[:4])
	if err != nil {
		f.t.Fatal(err)
	}
	return m.Name
}

func TestServiceHappyPathJournalsBeforeSending(t *testing.T) {
	f := newDriverFixture(t)
	f.head(1)
	if len(f.sent) != 1 || f.method(0) != "accept" {
		t.Fatalf("sent %d, want accept", len(f.sent))
	}
	j := f.view[1]
	j.State, j.Deadline = jobs.StateRunning, 1+60+60
	f.view[1] = j
	f.head(2) // accept collected, run, result sent
	if len(f.sent) != 2 || f.method(1) != "submitResult" {
		t.Fatalf("sent %d, want submitResult second; log:\n%s", len(f.sent), f.logs)
	}
	args, err := f.svc.abi.Methods["submitResult"].Inputs.Unpack(f.sent[1].Data[4:])
	if err != nil {
		t.Fatal(err)
	}
	if gpuMs := args[2].(uint64); gpuMs != 1500 || args[3].(int32) != 0 {
		t.Fatalf("submitResult usage %d exit %d, want 1500 and 0", gpuMs, args[3])
	}
	if want := []Phase{PhaseAccepting, PhaseReporting}; fmt.Sprint(f.journaled) != fmt.Sprint(want) {
		t.Fatalf("journal phases at each send %v, want %v", f.journaled, want)
	}
	j.State, j.ResultHash = jobs.StateCompleted, common.Hash(args[1].([32]byte))
	f.view[1] = j
	f.head(3)
	if es, _ := f.journal.Load(); len(es) != 0 {
		t.Fatalf("journal after the result: %+v", es)
	}
}

func TestServiceShortOfGas(t *testing.T) {
	f := newDriverFixture(t)
	f.sendErr = fmt.Errorf("txpool: %w: balance 0", core.ErrInsufficientFunds)
	f.head(1)
	if !strings.Contains(f.logs.String(), "node short of gas") {
		t.Fatalf("no short-of-gas line:\n%s", f.logs)
	}
	f.sendErr = nil
	for n := uint64(2); n < 2+RetryBlocks; n++ {
		f.head(n)
	}
	if len(f.sent) != 1 || f.method(0) != "accept" {
		t.Fatalf("accept not retried once funded: %d sent; log:\n%s", len(f.sent), f.logs)
	}
}

func TestServiceRunErrorReportsFailure(t *testing.T) {
	f := newDriverFixture(t)
	f.runErr = errors.New("image vanished")
	f.head(1)
	j := f.view[1]
	j.State, j.Deadline = jobs.StateRunning, 1+60+60
	f.view[1] = j
	f.head(2)
	if len(f.sent) != 2 || f.method(1) != "submitResult" {
		t.Fatalf("sent %d, want a failure result; log:\n%s", len(f.sent), f.logs)
	}
	args, _ := f.svc.abi.Methods["submitResult"].Inputs.Unpack(f.sent[1].Data[4:])
	if args[2].(uint64) != 0 || args[3].(int32) != -1 {
		t.Fatalf("failure result usage %d exit %d, want 0 and -1", args[2], args[3])
	}
}

// A journal that cannot be written holds every send back; once it can be
// written again the accept goes out.
func TestServiceJournalFailureHoldsSends(t *testing.T) {
	f := newDriverFixture(t)
	good := f.journal
	f.svc.cfg.Journal = NewJournal(t.TempDir()) // a directory: the rename onto it fails
	f.head(1)
	if len(f.sent) != 0 || !strings.Contains(f.logs.String(), "journal not saved") {
		t.Fatalf("sent %d with no journal; log:\n%s", len(f.sent), f.logs)
	}
	f.svc.cfg.Journal = good
	for n := uint64(2); n < 2+RetryBlocks && len(f.sent) == 0; n++ {
		f.head(n)
	}
	if len(f.sent) != 1 || f.method(0) != "accept" {
		t.Fatalf("accept not sent once the journal works: %d sent; log:\n%s", len(f.sent), f.logs)
	}
}

// A deterministic job's result goes out as submitResultDigest with the
// record's output digest and the module's declared gas; with the test-only
// fault injection the outputs are replaced (stored, sealed again) and the
// digest differs.
func TestServiceDeterministicDigest(t *testing.T) {
	var digests [2][32]byte
	for i, fault := range []string{"", FaultWrongOutput} {
		f := newDriverFixture(t)
		store, err := results.Open(filepath.Join(t.TempDir(), "blobs"), results.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.svc.cfg.Fault, f.svc.cfg.Blobs, f.svc.cfg.Store = fault, store, store
		j := f.view[1]
		j.Deterministic = true
		f.view[1] = j
		f.head(1)
		j.State, j.Deadline = jobs.StateRunning, 1+60+60
		f.view[1] = j
		f.head(2)
		if len(f.sent) != 2 || f.method(1) != "submitResultDigest" {
			t.Fatalf("fault %q: sent %d, want submitResultDigest second; log:\n%s", fault, len(f.sent), f.logs)
		}
		if f.sent[1].Gas != gasFor("submitResultDigest", f.sent[1].Data) || f.sent[1].Gas <= jobs.ResultDigestGas {
			t.Fatalf("gas %d, want the module's %d and the calldata", f.sent[1].Gas, jobs.ResultDigestGas)
		}
		args, err := f.svc.abi.Methods["submitResultDigest"].Inputs.Unpack(f.sent[1].Data[4:])
		if err != nil {
			t.Fatal(err)
		}
		rec, err := store.Verify(common.Hash(args[1].([32]byte)).Hex()[2:])
		if err != nil {
			t.Fatalf("fault %q: the reported record is not the stored one: %v", fault, err)
		}
		want, err := rec.OutputDigest()
		if err != nil || want != args[4].([32]byte) {
			t.Fatalf("fault %q: digest %x, the record's %x (%v)", fault, args[4], want, err)
		}
		if (fault != "") != (len(rec.Outputs) == 1 && rec.Outputs[0].Path == "fault.txt") {
			t.Fatalf("fault %q: outputs %+v", fault, rec.Outputs)
		}
		digests[i] = want
	}
	if digests[0] == digests[1] {
		t.Fatal("the fault injection left the digest unchanged")
	}
}

func TestNewRejectsUnknownFault(t *testing.T) {
	f := newDriverFixture(t)
	cfg := f.svc.cfg
	cfg.Fault = "flaky"
	if _, err := New(cfg); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("fault %q: %v, want ErrBadConfig", cfg.Fault, err)
	}
}
