package assign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/score"
	"github.com/emc-network/emcd/node/wallet"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/router/scheduler"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

// Limits of one Step.
const (
	// MaxScan bounds the ids read per head from each of the jobs module's
	// open and assigned lists (and so the job records read). Past it,
	// the rest wait for listed jobs to leave.
	MaxScan = 4096
	// MaxInFlight bounds the assign transactions pending at once.
	MaxInFlight = 64
	// RetryBlocks is how long an attempt whose transaction failed waits
	// before it is sent again.
	RetryBlocks = 5
)

// ErrBadConfig is returned by New for a Config it cannot run with.
var ErrBadConfig = errors.New("assign: bad config")

// View is the chain as the service reads it at one head. StateView
// implements it over a state; tests may use a fake.
type View interface {
	// OpenJobs and AssignedJobs page the jobs module's on-chain indexes
	// (jobs.OpenJobs, jobs.AssignedJobs): ids and the list's length.
	OpenJobs(offset, limit uint64) ([]uint64, uint64)
	AssignedJobs(offset, limit uint64) ([]uint64, uint64)
	JobOf(id uint64) (jobs.Job, bool, error)
	NodeOf(owner common.Address) (registry.Node, bool, error)
	StatsOf(owner common.Address) jobs.Stats
	// StakeOf is owner's stake in the head's epoch (nil: none).
	StakeOf(owner common.Address) *uint256.Int
	// Fit is the jobs module's own check (jobs.Module.Fit) for an
	// assignment in the block after the view's head.
	Fit(j *jobs.Job, node common.Address) (*uint256.Int, error)
}

// Scores is a View that also knows each owner's chain score
// (computing/score); StateView implements it. With a View that does not,
// nodes go to the scheduler unscored.
type Scores interface {
	ScoreOf(owner common.Address) uint64
}

// Live is the router's live table; *heartbeat.Tracker satisfies it.
type Live interface {
	Snapshot() []heartbeat.Node
}

// Pending follows one sent transaction; *wallet.Handle satisfies it.
type Pending interface {
	Done() <-chan struct{}
	Wait(ctx context.Context) (*types.Receipt, error)
}

// Config is what New needs.
type Config struct {
	// Router is the router's owner account: the wallet's address.
	Router common.Address
	// View returns the chain at head.
	View func(head *types.Header) (View, error)
	// Send submits a transaction through the node wallet.
	Send func(ctx context.Context, req wallet.Request) (Pending, error)
	Live Live
	// NowMs is the caller's clock in unix ms, used only for heartbeat ages.
	NowMs   func() int64
	Params  scheduler.Params
	Metrics *Metrics // nil: NopMetrics
	Log     *slog.Logger
}

type attemptKey struct {
	id      uint64
	attempt uint8
}

type flight struct {
	p    Pending
	node common.Address
	gpus uint32
}

// Service sends the router's assignments. Step and Run are for one
// goroutine.
type Service struct {
	cfg      Config
	abi      abi.ABI
	log      *slog.Logger
	m        *Metrics
	inflight map[attemptKey]flight
	// retryAt holds attempts whose transaction failed: not sent again
	// before that head number. Pruned to the assignable jobs each Step.
	retryAt map[attemptKey]uint64
	// unplaced holds the last reason each assignable attempt was not
	// placed, so a job that waits is logged at Info once per reason (and
	// at Debug on the heads between). Pruned like retryAt.
	unplaced map[attemptKey]string
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.View == nil || cfg.Send == nil || cfg.Live == nil || cfg.NowMs == nil {
		return nil, fmt.Errorf("%w: View, Send, Live and NowMs are required", ErrBadConfig)
	}
	if err := cfg.Params.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	parsed, err := abi.JSON(strings.NewReader((&jobs.Module{}).ABI()))
	if err != nil {
		return nil, fmt.Errorf("%w: jobs ABI: %w", ErrBadConfig, err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := cfg.Metrics
	if m == nil {
		m = NopMetrics()
	}
	return &Service{
		cfg: cfg, abi: parsed, log: log.With("component", "assigner"), m: m,
		inflight: map[attemptKey]flight{}, retryAt: map[attemptKey]uint64{}, unplaced: map[attemptKey]string{},
	}, nil
}

// Run steps on every new head until ctx ends.
func (s *Service) Run(ctx context.Context, feed state.HeadFeed, head *types.Header) error {
	heads := state.FollowHeads(feed)
	defer heads.Stop()
	if head != nil {
		s.Step(ctx, head)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-heads.Err():
			if err != nil {
				return fmt.Errorf("assign: head subscription: %w", err)
			}
			return nil
		case h := <-heads.C:
			s.Step(ctx, h)
		}
	}
}

// InFlight returns the number of assign transactions pending.
func (s *Service) InFlight() int { return len(s.inflight) }

// Step assigns what it can at head: it follows the transactions in
// flight, lists the jobs this router may assign, schedules them on the
// live nodes seeded by the head hash, and sends assign for each placement
// the chain's Fit accepts.
func (s *Service) Step(ctx context.Context, head *types.Header) {
	number := head.Number.Uint64()
	s.collect(ctx)
	defer func() { s.m.InFlight.Set(float64(len(s.inflight))) }()
	view, err := s.cfg.View(head)
	if err != nil {
		s.log.Error("no state for the head", "block", number, "err", err)
		return
	}
	open, reserved, err := s.open(view, number)
	if err != nil {
		s.log.Error("listing jobs", "block", number, "err", err)
		return
	}
	if len(open) == 0 {
		return
	}
	sjobs := make([]scheduler.Job, len(open))
	byID := make(map[string]*jobs.Job, len(open))
	for i := range open {
		sjobs[i] = ToJob(&open[i])
		byID[sjobs[i].ID] = &open[i]
	}
	nodes, err := s.nodes(view)
	if err != nil {
		s.log.Error("reading node records", "block", number, "err", err)
		return
	}
	for _, f := range s.inflight {
		reserved[f.node] += uint64(f.gpus)
	}
	Reserve(nodes, reserved)
	owners := make(map[string]common.Address, len(nodes))
	for _, n := range nodes {
		owners[n.ID] = n.Owner
	}
	as, err := scheduler.Schedule(sjobs, nodes, head.Hash(), s.cfg.Params)
	if err != nil {
		s.log.Error("scheduling", "block", number, "err", err)
		return
	}
	for _, a := range as {
		j := byID[a.JobID]
		k := attemptKey{j.ID, j.Attempts}
		if a.Reason != scheduler.Placed {
			s.m.Unplaced.Inc()
			why := a.Reason.String() + ": " + a.Detail
			level := slog.LevelDebug
			if s.unplaced[k] != why {
				// A job that waits says why once (per reason) where an
				// operator looks, not on every head.
				s.unplaced[k], level = why, slog.LevelInfo
			}
			s.log.Log(ctx, level, "job not placed", "job", j.ID, "attempt", j.Attempts, "block", number,
				"reason", a.Reason.String(), "detail", a.Detail, "live_nodes", len(nodes))
			continue
		}
		delete(s.unplaced, k)
		s.send(ctx, view, number, j, owners[a.NodeID], a.NodeID)
	}
}

// collect ends the flights whose outcome is known.
func (s *Service) collect(ctx context.Context) {
	for k, f := range s.inflight {
		select {
		case <-f.p.Done():
		default:
			continue
		}
		delete(s.inflight, k)
		rc, err := f.p.Wait(ctx)
		if err != nil {
			s.m.Failed.Inc()
			s.log.Warn("assign failed", "job", k.id, "attempt", k.attempt, "node", f.node, "err", err)
			s.retryAt[k] = 0 // set from the head number in open
			continue
		}
		s.m.Assigned.Inc()
		s.log.Info("job assigned", "job", k.id, "attempt", k.attempt, "node", f.node, "block", rc.BlockNumber, "tx", rc.TxHash)
	}
}

// listed reads up to MaxScan ids of one of the jobs module's lists.
func listed(page func(offset, limit uint64) ([]uint64, uint64)) []uint64 {
	var out []uint64
	for len(out) < MaxScan {
		ids, total := page(uint64(len(out)), jobs.MaxPage)
		out = append(out, ids...)
		if len(ids) == 0 || uint64(len(out)) >= total {
			break
		}
	}
	return out[:min(len(out), MaxScan)]
}

// open lists the jobs this router may assign in the block after number and
// has no transaction in flight for, oldest first, at most
// scheduler.MaxJobs, and the GPUs of assigned jobs not yet accepted, by
// node owner. It reads the jobs module's open and assigned lists, not
// every job.
func (s *Service) open(view View, number uint64) ([]jobs.Job, map[common.Address]uint64, error) {
	var out []jobs.Job
	reserved := make(map[common.Address]uint64)
	keep := make(map[attemptKey]bool)
	for _, id := range listed(view.AssignedJobs) {
		j, ok, err := view.JobOf(id)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, fmt.Errorf("assign: listed job %d missing", id)
		}
		if j.State == jobs.StateAssigned {
			reserved[j.Node] += uint64(j.GPUs)
		}
	}
	ids := listed(view.OpenJobs)
	slices.Sort(ids)
	for _, id := range ids {
		j, ok, err := view.JobOf(id)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, fmt.Errorf("assign: listed job %d missing", id)
		}
		if !Assignable(&j, s.cfg.Router, number) {
			continue
		}
		k := attemptKey{id, j.Attempts}
		keep[k] = true
		if _, busy := s.inflight[k]; busy {
			continue
		}
		if at, failed := s.retryAt[k]; failed {
			if at == 0 {
				s.retryAt[k] = number + RetryBlocks
				continue
			}
			if number < at {
				continue
			}
			delete(s.retryAt, k)
		}
		if len(out) < scheduler.MaxJobs {
			out = append(out, j)
		}
	}
	for k := range s.retryAt {
		if !keep[k] {
			delete(s.retryAt, k)
		}
	}
	for k := range s.unplaced {
		if !keep[k] {
			delete(s.unplaced, k)
		}
	}
	return out, reserved, nil
}

// nodes joins the live table with the chain's records of its owners.
func (s *Service) nodes(view View) ([]scheduler.Node, error) {
	live := s.cfg.Live.Snapshot()
	records := make(map[common.Address]Record, len(live))
	for i := range live {
		owner := live[i].Latest.Owner
		if _, done := records[owner]; done {
			continue
		}
		n, ok, err := view.NodeOf(owner)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		rec := Record{Node: n, Stats: view.StatsOf(owner), StakeWei: view.StakeOf(owner)}
		if sv, ok := view.(Scores); ok {
			sc := sv.ScoreOf(owner)
			rec.Score = &sc
		}
		records[owner] = rec
	}
	return Join(live, records, s.cfg.NowMs()), nil
}

// send checks the placement with the chain's Fit and sends assign.
func (s *Service) send(ctx context.Context, view View, number uint64, j *jobs.Job, owner common.Address, peer string) {
	log := s.log.With("job", j.ID, "attempt", j.Attempts, "node", owner, "peer", peer, "block", number)
	if len(s.inflight) >= MaxInFlight {
		log.Warn("assign not sent: too many in flight", "in_flight", len(s.inflight))
		return
	}
	if _, err := view.Fit(j, owner); err != nil {
		s.m.Unfit.Inc()
		log.Info("assign not sent: the chain would refuse the node", "err", err)
		return
	}
	data, err := s.abi.Pack("assign", new(big.Int).SetUint64(j.ID), owner)
	if err != nil {
		log.Error("assign not sent", "err", err)
		return
	}
	// The gas limit is the module's fixed charge, not an estimate: the
	// wallet would estimate against the head state, where a job whose draw
	// this router predicted (its seed block is the head) is not offered
	// yet, and the estimate would revert.
	to := native.JobsAddress
	gas := params.TxGas + params.TxDataNonZeroGasEIP2028*uint64(len(data)) + jobs.AssignGas
	p, err := s.cfg.Send(ctx, wallet.Request{To: &to, Data: data, Gas: gas, Label: "assign"})
	if err != nil {
		s.m.Failed.Inc()
		log.Warn("assign not sent", "err", err)
		s.retryAt[attemptKey{j.ID, j.Attempts}] = number + RetryBlocks
		return
	}
	s.inflight[attemptKey{j.ID, j.Attempts}] = flight{p: p, node: owner, gpus: j.GPUs}
	s.m.Sent.Inc()
	log.Info("assign sent")
}

// StateView is the View over a state at head number: jm is the chain's
// jobs module, epochLength the staking epoch (stake is the owner's
// effective stake in the head's epoch). Fit checks an assignment in block
// Number+1, where it would land.
type StateView struct {
	S           native.StateReader
	Jobs        *jobs.Module
	Number      uint64
	EpochLength uint64
}

var (
	_ View   = (*StateView)(nil)
	_ Scores = (*StateView)(nil)
)

func (v *StateView) OpenJobs(offset, limit uint64) ([]uint64, uint64) {
	return jobs.OpenJobs(v.S, offset, limit)
}
func (v *StateView) AssignedJobs(offset, limit uint64) ([]uint64, uint64) {
	return jobs.AssignedJobs(v.S, offset, limit)
}
func (v *StateView) JobOf(id uint64) (jobs.Job, bool, error) {
	return jobs.JobOf(v.S, id)
}
func (v *StateView) NodeOf(owner common.Address) (registry.Node, bool, error) {
	return registry.NodeOf(v.S, owner)
}
func (v *StateView) StatsOf(owner common.Address) jobs.Stats { return jobs.StatsOf(v.S, owner) }
func (v *StateView) StakeOf(owner common.Address) *uint256.Int {
	st, err := staking.EffectiveStake(v.S, owner, staking.Epoch(v.Number, v.EpochLength))
	if err != nil || st.IsZero() {
		return nil
	}
	return st
}

// ScoreOf is owner's score at the view's state (computing/score).
func (v *StateView) ScoreOf(owner common.Address) uint64 { return score.At(v.S, owner) }

func (v *StateView) Fit(j *jobs.Job, node common.Address) (*uint256.Int, error) {
	return v.Jobs.Fit(v.S, j, node, v.Number+1)
}
