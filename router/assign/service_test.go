package assign

// The service tests drive Step head by head with fakes, each labelled as
// such: a fake chain View (jobs and registry records in maps, Fit a
// stand-in for the module's), a fake live table, and a fake wallet whose
// pending transactions the test resolves. They check what is sent: the
// assign call data, once per (job, attempt), nothing while pending,
// nothing for a job no node fits, a job offered to another router, or a
// node the chain's Fit refuses; a failed attempt waits RetryBlocks.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/router/scheduler"
	"github.com/emc-network/emcd/state/native"
)

var routerMe = common.HexToAddress("0x7e")

// fakeView is a FAKE chain view: records in maps.
type fakeView struct {
	jobs  []jobs.Job // id i+1
	nodes map[common.Address]registry.Node
	unfit map[common.Address]bool
}

// list is the FAKE index: ids of the jobs in state st, newest first (the
// chain's lists are unordered; the service must sort).
func (v *fakeView) list(st jobs.State, offset, limit uint64) ([]uint64, uint64) {
	var ids []uint64
	for i := len(v.jobs) - 1; i >= 0; i-- {
		if v.jobs[i].State == st {
			ids = append(ids, uint64(i+1))
		}
	}
	total := uint64(len(ids))
	if offset >= total {
		return []uint64{}, total
	}
	return ids[offset:min(total, offset+limit)], total
}
func (v *fakeView) OpenJobs(offset, limit uint64) ([]uint64, uint64) {
	return v.list(jobs.StateSubmitted, offset, limit)
}
func (v *fakeView) AssignedJobs(offset, limit uint64) ([]uint64, uint64) {
	return v.list(jobs.StateAssigned, offset, limit)
}
func (v *fakeView) JobOf(id uint64) (jobs.Job, bool, error) {
	if id == 0 || id > uint64(len(v.jobs)) {
		return jobs.Job{}, false, nil
	}
	return v.jobs[id-1], true, nil
}
func (v *fakeView) NodeOf(o common.Address) (registry.Node, bool, error) {
	n, ok := v.nodes[o]
	return n, ok, nil
}
func (v *fakeView) StatsOf(common.Address) jobs.Stats   { return jobs.Stats{} }
func (v *fakeView) StakeOf(common.Address) *uint256.Int { return nil }
func (v *fakeView) Fit(j *jobs.Job, n common.Address) (*uint256.Int, error) {
	if v.unfit[n] {
		return nil, jobs.ErrNodeUnfit
	}
	return uint256.NewInt(9), nil
}

// fakeLive is a FAKE live table.
type fakeLive []heartbeat.Node

func (l fakeLive) Snapshot() []heartbeat.Node { return l }

// fakePending is a FAKE wallet handle the test resolves.
type fakePending struct {
	done chan struct{}
	rc   *types.Receipt
	err  error
}

func (p *fakePending) Done() <-chan struct{} { return p.done }
func (p *fakePending) Wait(context.Context) (*types.Receipt, error) {
	<-p.done
	return p.rc, p.err
}
func (p *fakePending) resolve(err error) {
	p.rc, p.err = &types.Receipt{BlockNumber: big.NewInt(1)}, err
	close(p.done)
}

type sent struct {
	id   uint64
	node common.Address
	p    *fakePending
}

type harness struct {
	t    *testing.T
	view *fakeView
	svc  *Service
	sent []sent
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, view: &fakeView{
		nodes: map[common.Address]registry.Node{ownerA: record("pa", 2, 9).Node},
		unfit: map[common.Address]bool{},
	}}
	parsed, err := abi.JSON(strings.NewReader((&jobs.Module{}).ABI()))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{
		Router: routerMe,
		View:   func(*types.Header) (View, error) { return h.view, nil },
		Send: func(_ context.Context, req wallet.Request) (Pending, error) {
			if *req.To != native.JobsAddress || req.Label != "assign" {
				t.Fatalf("request to %v label %q", req.To, req.Label)
			}
			// A fixed limit, never the wallet's estimate (which would run
			// against the head, before a predicted draw).
			if req.Gas < jobs.AssignGas+21_000 {
				t.Fatalf("assign gas limit %d, want at least the module's %d plus the intrinsic gas", req.Gas, jobs.AssignGas)
			}
			args, err := parsed.Methods["assign"].Inputs.Unpack(req.Data[4:])
			if err != nil {
				t.Fatalf("assign data: %v", err)
			}
			p := &fakePending{done: make(chan struct{})}
			h.sent = append(h.sent, sent{args[0].(*big.Int).Uint64(), args[1].(common.Address), p})
			return p, nil
		},
		Live:    fakeLive{liveNode("pa", ownerA, 2, nil, 1000, 0)},
		NowMs:   func() int64 { return 1000 },
		Params:  scheduler.DefaultParams(),
		Metrics: NopMetrics(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	return h
}

func (h *harness) addJob(gpus uint32, offeredTo common.Address) *jobs.Job {
	id := uint64(len(h.view.jobs) + 1)
	h.view.jobs = append(h.view.jobs, jobs.Job{
		ID: id, Submitter: ownerB, State: jobs.StateSubmitted, GPUs: gpus, GPUModel: "H100",
		Image: img, MaxPriceWei: uint256.NewInt(10), Offered: true, OfferedRouter: offeredTo,
		OfferEndBlock: 10, Deadline: 100,
	})
	return &h.view.jobs[id-1]
}

func (h *harness) step(number uint64) {
	h.svc.Step(context.Background(), &types.Header{Number: new(big.Int).SetUint64(number)})
}

func (h *harness) wantSent(n int) {
	h.t.Helper()
	if len(h.sent) != n {
		h.t.Fatalf("%d assign transactions sent, want %d", len(h.sent), n)
	}
}

func TestServiceAssignsOncePerAttempt(t *testing.T) {
	h := newHarness(t)
	j := h.addJob(2, routerMe)
	h.step(5)
	h.wantSent(1)
	if h.sent[0].id != 1 || h.sent[0].node != ownerA {
		t.Fatalf("sent assign(%d, %v), want assign(1, %v)", h.sent[0].id, h.sent[0].node, ownerA)
	}
	h.step(6) // pending: not again
	h.step(7)
	h.wantSent(1)
	h.sent[0].p.resolve(nil)
	j.State, j.Attempts, j.Node = jobs.StateAssigned, 1, ownerA
	h.step(8)
	h.wantSent(1)
	if h.svc.InFlight() != 0 {
		t.Fatalf("%d in flight after the receipt", h.svc.InFlight())
	}
	// The node missed its accept deadline: the job is reopened, attempt 2.
	j.State = jobs.StateSubmitted
	h.step(20)
	h.wantSent(2)
}

func TestServiceSkips(t *testing.T) {
	h := newHarness(t)
	h.addJob(8, routerMe)                    // fits no node: 8 GPUs
	h.addJob(1, common.HexToAddress("0x99")) // another router's window
	h.step(5)
	h.wantSent(0)
	h.step(9) // the window's last block (10) is the next: the other router's
	h.wantSent(0)
	h.step(10) // block 11 is open to all: job 2 goes; job 1 still fits nothing
	h.wantSent(1)
	if h.sent[0].id != 2 {
		t.Fatalf("sent job %d, want 2", h.sent[0].id)
	}
}

// A job no node fits says why at Info once, not on every head, and again
// when the reason changes; Debug has every head.
func TestServiceLogsUnplacedOncePerReason(t *testing.T) {
	h := newHarness(t)
	var buf bytes.Buffer
	h.svc.log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	j := h.addJob(8, routerMe) // fits no node: 8 GPUs
	for b := uint64(5); b < 9; b++ {
		h.step(b)
	}
	count := func(level string) int {
		n := 0
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "level="+level) && strings.Contains(l, "job not placed") {
				n++
			}
		}
		return n
	}
	if info, debug := count("INFO"), count("DEBUG"); info != 1 || debug != 3 {
		t.Fatalf("job not placed: %d at Info, %d at Debug over 4 heads, want 1 and 3; log:\n%s", info, debug, buf.String())
	}
	j.GPUs, j.GPUModel = 1, "no such model" // another reason
	h.step(9)
	if info := count("INFO"); info != 2 {
		t.Fatalf("a new reason: %d lines at Info, want 2; log:\n%s", info, buf.String())
	}
}

func TestServiceFitRefused(t *testing.T) {
	h := newHarness(t)
	h.view.unfit[ownerA] = true
	h.addJob(1, routerMe)
	h.step(5)
	h.wantSent(0)
	delete(h.view.unfit, ownerA)
	h.step(6)
	h.wantSent(1)
}

func TestServiceRetryAfterFailure(t *testing.T) {
	h := newHarness(t)
	h.addJob(1, routerMe)
	h.step(5)
	h.wantSent(1)
	h.sent[0].p.resolve(errors.New("reverted"))
	h.step(6) // failure seen: wait RetryBlocks
	h.step(6 + RetryBlocks - 1)
	h.wantSent(1)
	h.step(6 + RetryBlocks)
	h.wantSent(2)
	m := h.svc.m
	sentN, failedN, inFlightN := metricValue(t, m.Sent), metricValue(t, m.Failed), metricValue(t, m.InFlight)
	if sentN != 2 || failedN != 1 || inFlightN != 1 {
		t.Fatalf("metrics sent %v failed %v in flight %v, want 2 1 1", sentN, failedN, inFlightN)
	}
}

// The service reads the open list, not every job: an ended job is never
// read, and open jobs go oldest first whatever the list's order.
func TestServiceReadsOpenList(t *testing.T) {
	h := newHarness(t)
	a := h.addJob(1, routerMe)
	a.State = jobs.StateSettled
	h.addJob(1, routerMe)
	h.addJob(1, routerMe)
	h.step(5)
	h.wantSent(2)
	if h.sent[0].id != 2 || h.sent[1].id != 3 {
		t.Fatalf("sent jobs %d, %d; want 2, 3", h.sent[0].id, h.sent[1].id)
	}
}

// A node's GPUs promised to an assign in flight, or to a job assigned on
// chain and not accepted, are not offered again though the heartbeat still
// shows them free.
func TestServiceReservesPromisedGPUs(t *testing.T) {
	h := newHarness(t)
	h.addJob(2, routerMe)
	h.step(5)
	h.wantSent(1)
	h.addJob(2, routerMe) // the node's 2 GPUs are in flight to job 1
	h.step(6)
	h.wantSent(1)
	h.sent[0].p.resolve(nil)
	h.view.jobs[0].State, h.view.jobs[0].Node, h.view.jobs[0].Attempts = jobs.StateAssigned, ownerA, 1
	h.step(7) // assigned on chain, not accepted: still promised
	h.wantSent(1)
	h.view.jobs[0].State = jobs.StateSettled // done: the fake heartbeat's 2 free GPUs are true again
	h.step(8)
	h.wantSent(2)
}

func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
