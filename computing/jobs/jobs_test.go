package jobs_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// TestLifecycle walks one job through every state to settlement by a
// settle call, checking the record, the events and every balance to the
// wei.
func TestLifecycle(t *testing.T) {
	f := newFixture(t)
	escrow := emc(1)
	subBefore := f.State.GetBalance(sub).Clone()
	submitBlock := f.Number
	spec := goodSpec()
	raw := encode(t, spec)
	r := f.mustSend(sub, escrow, "submitJob", raw, big.NewInt(2*priceH200))
	subPaid := new(uint256.Int).Add(escrow, nativetest.Fee(r.gasUsed))
	if got := f.State.GetBalance(sub); !got.Eq(new(uint256.Int).Sub(subBefore, subPaid)) {
		t.Fatalf("submitter balance %s after submit", got)
	}
	if len(r.logs) != 1 || r.logs[0].Topics[0] != f.abi.Events["JobSubmitted"].ID || r.logs[0].Topics[1] != native.Slot(1) {
		t.Fatalf("submit logs %+v", r.logs)
	}
	vals, err := f.abi.Events["JobSubmitted"].Inputs.NonIndexed().Unpack(r.logs[0].Data)
	if err != nil || string(vals[1].([]byte)) != string(raw) || vals[3].(*big.Int).Cmp(escrow.ToBig()) != 0 {
		t.Fatalf("JobSubmitted data %v %v", vals, err)
	}
	j := f.job(1)
	if j.State != jobs.StateSubmitted || j.Submitter != sub || j.Offered || j.GPUs != 1 || j.Image != imageA ||
		j.SubmitBlock != submitBlock || !j.EscrowWei.Eq(escrow) {
		t.Fatalf("job after submit %+v", j)
	}
	if h, _ := spec.Hash(); j.SpecHash != h {
		t.Fatalf("spec hash %s, want %s", j.SpecHash, h)
	}

	// Nobody may assign before the draw.
	f.mustRevert(r1, nil, jobs.ErrNotOffered, "assign", bigID(1), n1)
	f.next()
	if f.job(1).Offered {
		t.Fatal("drawn before its seed block was the parent")
	}
	f.next() // block s+2: the seed block
	if f.job(1).Offered {
		t.Fatal("drawn in its seed block")
	}
	f.next() // block s+3: drawn from the hash of block s+2
	j = f.job(1)
	if !j.Offered || (j.OfferedRouter != r1 && j.OfferedRouter != r2) || j.OfferEndBlock != f.Number+3 {
		t.Fatalf("draw: %+v at block %d", j, f.Number)
	}
	offered := j.OfferedRouter

	// Inside the window only the drawn router; never a non-router.
	f.mustRevert(other(offered), nil, jobs.ErrOfferWindow, "assign", bigID(1), n1)
	f.mustRevert(carol, nil, jobs.ErrNotRouter, "assign", bigID(1), n1)
	r = f.mustSend(offered, nil, "assign", bigID(1), n1)
	j = f.job(1)
	if j.State != jobs.StateAssigned || j.Router != offered || j.Node != n1 || j.PriceWei.Uint64() != priceH200 ||
		j.Attempts != 1 || j.Deadline != f.Number+4 {
		t.Fatalf("after assign %+v", j)
	}
	if len(r.logs) != 1 || r.logs[0].Topics[0] != f.abi.Events["JobAssigned"].ID || r.logs[0].Topics[3] != common.BytesToHash(n1[:]) {
		t.Fatalf("assign logs %+v", r.logs)
	}
	f.mustRevert(offered, nil, jobs.ErrWrongState, "assign", bigID(1), n2) // assigned already
	f.mustRevert(sub, nil, jobs.ErrWrongState, "cancel", bigID(1))         // cancel after assignment

	f.next()
	f.mustRevert(n2, nil, jobs.ErrNotNode, "accept", bigID(1))
	f.mustRevert(n1, nil, jobs.ErrWrongState, "submitResult", bigID(1), [32]byte{1}, uint64(1), int32(0)) // before accept
	r = f.mustSend(n1, nil, "accept", bigID(1))
	j = f.job(1)
	if j.State != jobs.StateRunning || j.Deadline != f.Time+100+30 {
		t.Fatalf("after accept %+v (time %d)", j, f.Time)
	}
	if len(r.logs) != 1 || r.logs[0].Topics[0] != f.abi.Events["JobAccepted"].ID {
		t.Fatalf("accept logs %+v", r.logs)
	}
	f.mustRevert(n1, nil, jobs.ErrWrongState, "accept", bigID(1))

	f.next()
	f.mustRevert(n2, nil, jobs.ErrNotNode, "submitResult", bigID(1), [32]byte{1}, uint64(1), int32(0))
	f.mustRevert(n1, nil, jobs.ErrUsage, "submitResult", bigID(1), [32]byte{1}, uint64(100_001), int32(0))
	f.mustRevert(n1, nil, jobs.ErrNoRecord, "submitResult", bigID(1), [32]byte{}, uint64(1), int32(0))
	const gpuMillis = 50_001 // 50.001 GPU-s: cost 50,001,000,000 wei exactly
	r = f.mustSend(n1, nil, "submitResult", bigID(1), [32]byte{0x5e}, uint64(gpuMillis), int32(0))
	resultBlock := f.Number
	j = f.job(1)
	if j.State != jobs.StateCompleted || j.GPUMillis != gpuMillis || j.ResultHash != (common.Hash{0x5e}) || j.Deadline != resultBlock+5 {
		t.Fatalf("after result %+v", j)
	}
	if len(r.logs) != 1 || r.logs[0].Topics[0] != f.abi.Events["JobResult"].ID {
		t.Fatalf("result logs %+v", r.logs)
	}
	f.mustRevert(n1, nil, jobs.ErrWrongState, "submitResult", bigID(1), [32]byte{0x5f}, uint64(1), int32(0)) // a second result
	f.mustRevert(carol, nil, jobs.ErrDisputeWindow, "settle", bigID(1))

	f.to(resultBlock + 5)
	n1Before := f.State.GetBalance(n1).Clone()
	subBefore = f.State.GetBalance(sub).Clone()
	burnedBefore := native.Burned(f.State, native.BurnRent).Clone()
	r = f.mustSend(carol, nil, "settle", bigID(1)) // anyone may settle
	cost := uint256.NewInt(50_001_000_000)
	provider, burn := uint256.NewInt(40_000_800_000), uint256.NewInt(10_000_200_000)
	refund := new(uint256.Int).Sub(escrow, cost)
	if got := new(uint256.Int).Sub(f.State.GetBalance(n1), n1Before); !got.Eq(provider) {
		t.Errorf("provider got %s, want %s", got, provider)
	}
	if got := new(uint256.Int).Sub(f.State.GetBalance(sub), subBefore); !got.Eq(refund) {
		t.Errorf("refund %s, want %s", got, refund)
	}
	if got := new(uint256.Int).Sub(native.Burned(f.State, native.BurnRent), burnedBefore); !got.Eq(burn) {
		t.Errorf("burned %s, want %s", got, burn)
	}
	j = f.job(1)
	if j.State != jobs.StateSettled || !j.CostWei.Eq(cost) || !j.BurnedWei.Eq(burn) || !j.RefundWei.Eq(refund) || j.EndBlock != f.Number {
		t.Fatalf("after settle %+v", j)
	}
	if len(r.logs) != 1 || r.logs[0].Topics[0] != f.abi.Events["JobSettled"].ID {
		t.Fatalf("settle logs %+v", r.logs)
	}
	f.mustRevert(carol, nil, jobs.ErrWrongState, "settle", bigID(1)) // settle twice
	if st := jobs.StatsOf(f.State, n1); st != (jobs.Stats{Succeeded: 1}) {
		t.Fatalf("stats %+v", st)
	}
	f.next() // the due entry at the settlement block's end finds it settled
	if out := f.view("providerStats", n1); out[0].(uint64) != 1 || out[1].(uint64) != 0 || out[2].(uint64) != 0 {
		t.Fatalf("providerStats %v", out)
	}

	// The views agree with the accessor.
	out := f.view("getJob", bigID(1))
	if out[0] != true || out[1].(common.Address) != sub || out[2].(uint8) != uint8(jobs.StateSettled) ||
		out[15].(common.Address) != n1 || out[20].(uint64) != gpuMillis || out[22].(*big.Int).Cmp(cost.ToBig()) != 0 ||
		out[24].(*big.Int).Cmp(refund.ToBig()) != 0 {
		t.Fatalf("getJob %v", out)
	}
	if out := f.view("getJob", bigID(2)); out[0] != false {
		t.Fatalf("getJob(2) %v", out)
	}
	if out := f.view("jobsOf", sub, big.NewInt(0), big.NewInt(10)); len(out[0].([]*big.Int)) != 1 || out[1].(*big.Int).Uint64() != 1 {
		t.Fatalf("jobsOf %v", out)
	}
	if out := f.view("jobCount"); out[0].(*big.Int).Uint64() != 1 {
		t.Fatalf("jobCount %v", out)
	}
}

// TestSettleByHook: nobody calls settle; the module settles at the end of
// the block the dispute window closes in. A failed job (non-zero exit) is
// paid for its usage and counted as failed.
func TestSettleByHook(t *testing.T) {
	f := newFixture(t)
	id := f.submit(goodSpec(), priceH200, emc(1))
	f.to(f.Number + 3) // past the draw
	r := f.job(id).OfferedRouter
	f.to(f.job(id).OfferEndBlock + 1) // after the window any router may assign
	f.mustSend(other(r), nil, "assign", bigID(id), n1)
	f.mustSend(n1, nil, "accept", bigID(id))
	f.mustSend(n1, nil, "submitResult", bigID(id), [32]byte{1}, uint64(2_000), int32(-9))
	j := f.job(id)
	if j.State != jobs.StateFailed || j.ExitCode() != -9 {
		t.Fatalf("after a failing result %+v", j)
	}
	f.to(j.Deadline)
	if f.job(id).State != jobs.StateFailed {
		t.Fatal("settled before the settlement block's end")
	}
	n1Before := f.State.GetBalance(n1).Clone()
	f.next()
	j = f.job(id)
	if j.State != jobs.StateSettled || j.CostWei.Uint64() != 2*priceH200 || j.EndBlock != f.Number-1 {
		t.Fatalf("after the hook %+v", j)
	}
	if got := new(uint256.Int).Sub(f.State.GetBalance(n1), n1Before); got.Uint64() != 2*priceH200*8/10 {
		t.Fatalf("provider got %s", got)
	}
	if st := jobs.StatsOf(f.State, n1); st != (jobs.Stats{Failed: 1}) {
		t.Fatalf("stats %+v", st)
	}
	f.mustRevert(carol, nil, jobs.ErrWrongState, "settle", bigID(id))
}

// TestCostCappedByEscrow: usage × price above the escrow costs the escrow.
func TestCostCappedByEscrow(t *testing.T) {
	f := newFixture(t)
	escrow := uint256.NewInt(30 * priceH200) // 30 GPU-s worth
	id := f.submit(goodSpec(), priceH200, escrow)
	f.to(f.Number + 3)
	f.mustSend(f.job(id).OfferedRouter, nil, "assign", bigID(id), n1)
	f.mustSend(n1, nil, "accept", bigID(id))
	f.mustSend(n1, nil, "submitResult", bigID(id), [32]byte{1}, uint64(100_000), int32(0))
	f.to(f.job(id).Deadline + 1)
	j := f.job(id)
	if j.State != jobs.StateSettled || !j.CostWei.Eq(escrow) || !j.RefundWei.IsZero() || j.BurnedWei.Uint64() != 6*priceH200 {
		t.Fatalf("capped settlement %+v", j)
	}
}

// TestSubmitAndCancel covers submitJob's refusals and cancel.
func TestSubmitAndCancel(t *testing.T) {
	f := newFixture(t)
	raw := encode(t, goodSpec())
	f.mustRevert(sub, nil, jobs.ErrNoEscrow, "submitJob", raw, big.NewInt(priceH200))
	f.mustRevert(sub, emc(1), jobs.ErrBadPrice, "submitJob", raw, big.NewInt(0))
	f.mustRevert(sub, emc(1), jobs.ErrBadSpec, "submitJob", []byte{0xc0}, big.NewInt(priceH200))
	f.mustRevert(sub, emc(1), jobs.ErrBadSpec, "submitJob", append(raw, 0), big.NewInt(priceH200))
	f.mustRevert(sub, emc(1), jobs.ErrBadSpec, "submitJob", make([]byte, jobs.MaxSpecBytes+1), big.NewInt(priceH200))
	f.mustRevert(sub, nil, jobs.ErrNoJob, "cancel", bigID(1))

	id := f.submit(goodSpec(), priceH200, emc(2))
	f.mustRevert(carol, nil, jobs.ErrNotSubmitter, "cancel", bigID(id))
	before := f.State.GetBalance(sub).Clone()
	r := f.mustSend(sub, nil, "cancel", bigID(id)) // before the draw
	if got := f.State.GetBalance(sub); !got.Eq(new(uint256.Int).Sub(new(uint256.Int).Add(before, emc(2)), nativetest.Fee(r.gasUsed))) {
		t.Fatalf("refund: balance %s", got)
	}
	if len(r.logs) != 1 || r.logs[0].Topics[0] != f.abi.Events["JobCancelled"].ID {
		t.Fatalf("cancel logs %+v", r.logs)
	}
	f.mustRevert(sub, nil, jobs.ErrWrongState, "cancel", bigID(id))
	f.to(f.Number + 4)
	if j := f.job(id); j.State != jobs.StateCancelled || j.Offered {
		t.Fatalf("cancelled job drawn: %+v", j)
	}
	f.mustRevert(r1, nil, jobs.ErrWrongState, "assign", bigID(id), n1)

	// After the draw, before assignment, cancel still works.
	id = f.submit(goodSpec(), priceH200, emc(1))
	f.to(f.Number + 3)
	f.mustSend(sub, nil, "cancel", bigID(id))
}

// TestAssignFit: the node must be registered, fit the spec and the cap.
func TestAssignFit(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		spec func(*jobs.Spec)
		cap  uint64
		node common.Address
	}{
		{"not a node", nil, priceH200, carol},
		{"too few GPUs", func(s *jobs.Spec) { s.GPUs = 3 }, priceH200, n1},
		{"wrong model", nil, priceH200, n2},
		{"too little memory", func(s *jobs.Spec) { s.GPUModel, s.MinMemoryMiB = "", 90_000 }, priceH200, n2},
		{"image not held", func(s *jobs.Spec) { s.Image = common.Hash{0xcc} }, priceH200, n1},
		{"image not held by n2", func(s *jobs.Spec) { s.GPUModel, s.Image = "", imageB }, priceH200, n2},
		{"price above cap", nil, priceH200 - 1, n1},
	}
	for _, c := range cases {
		s := goodSpec()
		if c.spec != nil {
			c.spec(&s)
		}
		id := f.submit(s, c.cap, emc(1))
		r := f.drawn(id)
		t.Run(c.name, func(t *testing.T) {
			f.t = t
			f.mustRevert(r, nil, jobs.ErrNodeUnfit, "assign", bigID(id), c.node)
		})
	}
	f.t = t
	// Fits: any model with enough memory; n2's lower price under a low cap.
	s := goodSpec()
	s.GPUModel, s.MinMemoryMiB = "", 80_000
	id := f.submit(s, priceA100, emc(1))
	f.mustSend(f.drawn(id), nil, "assign", bigID(id), n2)
	if j := f.job(id); j.PriceWei.Uint64() != priceA100 {
		t.Fatalf("price %s", j.PriceWei)
	}
}

// TestDeadlines: a missed accept and a missed result each send the job
// back to any router and count a time-out; the third miss expires the job
// with a full refund. A late result is refused.
func TestDeadlines(t *testing.T) {
	f := newFixture(t)
	escrow := emc(3)

	// The accept deadline block itself is in time.
	id := f.submit(goodSpec(), priceH200, escrow)
	router := f.drawn(id)
	f.mustSend(router, nil, "assign", bigID(id), n1)
	f.to(f.job(id).Deadline)
	f.mustSend(n1, nil, "accept", bigID(id))
	f.mustSend(n1, nil, "submitResult", bigID(id), [32]byte{1}, uint64(1), int32(0))

	// Attempt 1 of a second job: n1 never accepts.
	id = f.submit(goodSpec(), priceH200, escrow)
	router = f.drawn(id)
	f.mustSend(router, nil, "assign", bigID(id), n1)
	f.to(f.job(id).Deadline)
	f.next()
	j := f.job(id)
	if j.State != jobs.StateSubmitted || j.Attempts != 1 || jobs.StatsOf(f.State, n1).TimedOut != 1 || j.Deadline != f.Number-1+20 {
		t.Fatalf("after a missed accept %+v, stats %+v", j, jobs.StatsOf(f.State, n1))
	}
	f.mustRevert(n1, nil, jobs.ErrWrongState, "accept", bigID(id)) // late accept
	if f.Number <= j.OfferEndBlock {
		f.to(j.OfferEndBlock + 1)
	}

	// Attempt 2: accepted, the result never comes (block time passes the
	// deadline, then the scheduled check times it out).
	f.mustSend(other(router), nil, "assign", bigID(id), n1)
	f.mustSend(n1, nil, "accept", bigID(id))
	resultDeadline := f.job(id).Deadline
	for f.Time < resultDeadline {
		f.next()
	}
	if st := f.job(id).State; st != jobs.StateRunning {
		t.Fatalf("timed out at block %d before its block's end: %s", f.Number, st)
	}
	f.mustRevert(n1, nil, jobs.ErrDeadline, "submitResult", bigID(id), [32]byte{1}, uint64(1), int32(0)) // late result
	f.next()
	if j := f.job(id); j.State != jobs.StateSubmitted || j.Attempts != 2 || jobs.StatsOf(f.State, n1).TimedOut != 2 {
		t.Fatalf("after a missed result %+v", j)
	}

	// Attempt 3: missed accept, the job expires.
	f.mustSend(router, nil, "assign", bigID(id), n1)
	f.to(f.job(id).Deadline + 1)
	j = f.job(id)
	if j.State != jobs.StateExpired || j.Attempts != 3 || !j.RefundWei.Eq(escrow) {
		t.Fatalf("after the third miss %+v", j)
	}
	f.mustRevert(router, nil, jobs.ErrWrongState, "assign", bigID(id), n1)
	f.mustRevert(sub, nil, jobs.ErrWrongState, "cancel", bigID(id))
	if st := jobs.StatsOf(f.State, n1); st.TimedOut != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestResultDeadlineInBlockTime: when block time runs ahead of the target
// period, a result after the deadline is refused even before the module's
// scheduled check runs.
func TestResultDeadlineInBlockTime(t *testing.T) {
	f := newFixture(t)
	id := f.submit(goodSpec(), priceH200, emc(1))
	f.mustSend(f.drawn(id), nil, "assign", bigID(id), n1)
	f.mustSend(n1, nil, "accept", bigID(id))
	f.next()
	f.Time = f.job(id).Deadline // a slow block: the deadline has come
	f.mustRevert(n1, nil, jobs.ErrDeadline, "submitResult", bigID(id), [32]byte{1}, uint64(1), int32(0))
	f.Time--
	f.mustSend(n1, nil, "submitResult", bigID(id), [32]byte{1}, uint64(1), int32(0))
}

// TestNoRouterOpensAtOnce: a job drawn when no router is active is open to
// any router that becomes active later, with no window.
func TestNoRouterOpensAtOnce(t *testing.T) {
	f := newFixture(t)
	for _, r := range []common.Address{r1, r2} {
		f.mustCall(native.RegistryAddress, f.regABI, r, nil, "deregisterRouter")
	}
	id := f.submit(goodSpec(), priceH200, emc(1))
	if r := f.drawn(id); r != (common.Address{}) || f.job(id).OfferEndBlock != 0 {
		t.Fatalf("drawn %s with no routers", r)
	}
	f.mustRevert(r2, nil, jobs.ErrNotRouter, "assign", bigID(id), n1)
	id2, sig := proof(t, 11, r2)
	f.mustCall(native.RegistryAddress, f.regABI, r2, nil, "registerRouter", id2, sig)
	f.mustSend(r2, nil, "assign", bigID(id), n1)
}

// TestUnassignedExpires: a job no router assigns by its assign deadline
// expires at that block's end with its escrow refunded in full.
func TestUnassignedExpires(t *testing.T) {
	f := newFixture(t)
	before := f.State.GetBalance(sub).Clone()
	s := goodSpec()
	s.GPUs = 8 // no node has 8 GPUs
	data := encode(t, s)
	r := f.mustSend(sub, emc(5), "submitJob", data, big.NewInt(priceH200))
	f.drawn(1)
	j := f.job(1)
	if j.Deadline != f.Number+20 || j.DueBlock != j.Deadline {
		t.Fatalf("drawn job's assign deadline %d (due %d), block %d", j.Deadline, j.DueBlock, f.Number)
	}
	f.mustRevert(j.OfferedRouter, nil, jobs.ErrNodeUnfit, "assign", bigID(1), n1)
	f.to(j.Deadline)
	if f.job(1).State != jobs.StateSubmitted {
		t.Fatal("expired before its deadline block's end")
	}
	f.next()
	j = f.job(1)
	if j.State != jobs.StateExpired || !j.RefundWei.Eq(emc(5)) || j.Attempts != 0 {
		t.Fatalf("after the assign deadline %+v", j)
	}
	if got, want := f.State.GetBalance(sub), new(uint256.Int).Sub(before, nativetest.Fee(r.gasUsed)); !got.Eq(want) {
		t.Fatalf("submitter %s, want %s (escrow back, the fee spent)", got, want)
	}
	if st := jobs.StatsOf(f.State, n1); st != (jobs.Stats{}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestStaleDueEntries: a job accepted before its accept deadline leaves a
// stale entry at that block; it must neither time the job out nor
// schedule a second check.
func TestStaleDueEntries(t *testing.T) {
	f := newFixture(t)
	id := f.submit(goodSpec(), priceH200, emc(1))
	f.mustSend(f.drawn(id), nil, "assign", bigID(id), n1)
	acceptDeadline := f.job(id).Deadline
	f.mustSend(n1, nil, "accept", bigID(id))
	due := f.job(id).DueBlock
	f.to(acceptDeadline + 1)
	j := f.job(id)
	if j.State != jobs.StateRunning || j.DueBlock != due {
		t.Fatalf("stale entry acted: %+v (due %d before)", j, due)
	}
	if st := jobs.StatsOf(f.State, n1); st.TimedOut != 0 {
		t.Fatalf("stats %+v", st)
	}
	f.mustSend(n1, nil, "submitResult", bigID(id), [32]byte{1}, uint64(1_000), int32(0))
	f.to(due + 1) // the running check's entry is stale now too
	if j := f.job(id); j.State != jobs.StateSettled && j.State != jobs.StateCompleted {
		t.Fatalf("after the stale running entry: %+v", j)
	}
}

// TestGasCharged pins what each method charges: intrinsic gas, the
// method's declared gas, the per-word input gas and, for submitJob, 8 gas
// per spec byte for the log.
func TestGasCharged(t *testing.T) {
	f := newFixture(t)
	declared := func(data []byte, methodGas uint64) uint64 {
		return nativetest.IntrinsicGas(data) + methodGas + (uint64(len(data))+31)/32*native.GasPerInputWord
	}
	raw := encode(t, goodSpec())
	data, _ := f.abi.Pack("submitJob", raw, big.NewInt(priceH200))
	r := f.mustSend(sub, emc(1), "submitJob", raw, big.NewInt(priceH200))
	if want := declared(data, jobs.SubmitGas) + 8*uint64(len(raw)); r.gasUsed != want {
		t.Errorf("submitJob gas %d, want %d", r.gasUsed, want)
	}
	router := f.drawn(1)
	data, _ = f.abi.Pack("assign", bigID(1), n1)
	if r := f.mustSend(router, nil, "assign", bigID(1), n1); r.gasUsed != declared(data, jobs.AssignGas) {
		t.Errorf("assign gas %d, want %d", r.gasUsed, declared(data, jobs.AssignGas))
	}
	data, _ = f.abi.Pack("accept", bigID(1))
	if r := f.mustSend(n1, nil, "accept", bigID(1)); r.gasUsed != declared(data, jobs.AcceptGas) {
		t.Errorf("accept gas %d, want %d", r.gasUsed, declared(data, jobs.AcceptGas))
	}
	f.buyCredits(sub, 3)
	data, _ = f.abi.Pack("submitJobCredits", raw, big.NewInt(priceH200), big.NewInt(3))
	r = f.mustSend(sub, nil, "submitJobCredits", raw, big.NewInt(priceH200), big.NewInt(3))
	if want := declared(data, jobs.SubmitCreditsGas) + 8*uint64(len(raw)); r.gasUsed != want {
		t.Errorf("submitJobCredits gas %d, want %d", r.gasUsed, want)
	}
}

// TestSelfDealing: a submitter who owns the node (and could route to it)
// pays itself 80 % of the cost and loses the 20 % burn plus every fee:
// buying one's own compute never makes money here (trade rewards, which
// could change that, are not part of this module).
func TestSelfDealing(t *testing.T) {
	f := newFixture(t)
	// n1 submits a job and runs it itself.
	before := f.State.GetBalance(n1).Clone()
	fees := new(uint256.Int)
	data := encode(t, goodSpec())
	r := f.mustSend(n1, emc(1), "submitJob", data, big.NewInt(priceH200))
	fees.Add(fees, nativetest.Fee(r.gasUsed))
	router := f.drawn(1)
	f.mustSend(router, nil, "assign", bigID(1), n1)
	for _, step := range []struct {
		name string
		args []any
	}{{"accept", []any{bigID(1)}}, {"submitResult", []any{bigID(1), [32]byte{1}, uint64(100_000), int32(0)}}} {
		r := f.mustSend(n1, nil, step.name, step.args...)
		fees.Add(fees, nativetest.Fee(r.gasUsed))
	}
	f.to(f.job(1).Deadline + 1)
	j := f.job(1)
	loss := new(uint256.Int).Sub(before, f.State.GetBalance(n1))
	if want := new(uint256.Int).Add(fees, j.BurnedWei); j.State != jobs.StateSettled || !loss.Eq(want) || j.BurnedWei.IsZero() {
		t.Fatalf("self-dealing lost %s, want fees + burn %s (%+v)", loss, want, j)
	}
}
