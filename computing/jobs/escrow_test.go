package jobs_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// runToResult assigns job id to node, accepts and reports usage millis
// with exit 0, then runs blocks past the dispute window (the hook settles).
// It returns the job and the fees the node paid.
func (f *fixture) runToResult(id uint64, node common.Address, millis uint64) (jobs.Job, *uint256.Int) {
	f.t.Helper()
	f.mustSend(f.drawn(id), nil, "assign", bigID(id), node)
	fees := nativetest.Fee(f.mustSend(node, nil, "accept", bigID(id)).gasUsed)
	fees.Add(fees, nativetest.Fee(f.mustSend(node, nil, "submitResult", bigID(id), [32]byte{1}, millis, int32(0)).gasUsed))
	f.to(f.job(id).Deadline + 1)
	j := f.job(id)
	if j.State != jobs.StateSettled {
		f.t.Fatalf("job %d %s after the dispute window", id, j.State)
	}
	return j, fees
}

// TestCreditsEscrow: a job escrowed in Credits locks them (held by the
// credits module as the jobs module's balance), settles through Spend (80 %
// of the Credits' wei to the node, the rest burned), returns the rest of
// the Credits, and leaves the submitter's EMC alone but for fees.
func TestCreditsEscrow(t *testing.T) {
	f := newFixture(t)
	f.buyCredits(sub, 1_000)
	price := f.credits.CreditPriceWei()
	// n1's H200 at 1e9 wei per GPU-second: 1e5 GPU-ms cost 1e11 wei, one
	// Credit (1e16 wei) rounded up.
	id := f.submitCredits(goodSpec(), priceH200, 500)
	j := f.job(id)
	if !j.InCredits() || j.EscrowKind() != jobs.EscrowKindCredits || !j.EscrowWei.IsZero() || j.EscrowCredits.Uint64() != 500 {
		t.Fatalf("job after submit %+v", j)
	}
	if got := credits.CreditsOf(f.State, sub).Uint64(); got != 500 {
		t.Fatalf("submitter holds %d Credits after locking 500", got)
	}
	out := f.view("getJob", bigID(id))
	if out[26].(uint8) != jobs.EscrowKindCredits || out[27].(*big.Int).Uint64() != 500 {
		t.Fatalf("getJob escrow kind %v credits %v", out[26], out[27])
	}
	n1Before := f.State.GetBalance(n1).Clone()
	reserveBefore := credits.Reserve(f.State).Clone()
	j, fees := f.runToResult(id, n1, 100_000)
	wantWei := price // one Credit: 1e11 wei of usage rounded up
	provider := new(uint256.Int).Div(new(uint256.Int).Mul(wantWei, uint256.NewInt(80)), uint256.NewInt(100))
	switch {
	case j.CostCredits.Uint64() != 1 || j.RefundCredits.Uint64() != 499 || !j.CostWei.Eq(wantWei):
		t.Fatalf("cost %s Credits (%s wei), refund %s", j.CostCredits, j.CostWei, j.RefundCredits)
	case !j.BurnedWei.Eq(new(uint256.Int).Sub(wantWei, provider)) || !j.RefundWei.IsZero():
		t.Fatalf("burn %s refund wei %s", j.BurnedWei, j.RefundWei)
	case credits.CreditsOf(f.State, sub).Uint64() != 999:
		t.Fatalf("submitter holds %s Credits after settlement", credits.CreditsOf(f.State, sub))
	case !new(uint256.Int).Add(f.State.GetBalance(n1), fees).Eq(new(uint256.Int).Add(n1Before, provider)):
		t.Fatalf("n1 %s → %s with %s fees, want the provider share %s", n1Before, f.State.GetBalance(n1), fees, provider)
	case !new(uint256.Int).Sub(reserveBefore, credits.Reserve(f.State)).Eq(wantWei):
		t.Fatalf("reserve fell by %s, want %s", new(uint256.Int).Sub(reserveBefore, credits.Reserve(f.State)), wantWei)
	case !credits.CreditsOf(f.State, jobsAddr).IsZero() || !jobs.CreditsEscrowTotal(f.State).IsZero():
		t.Fatal("Credits left in escrow")
	}
}

// TestCreditsCost pins the conversion: the EMC cost rounded up to whole
// Credits, never above the escrow.
func TestCreditsCost(t *testing.T) {
	p := uint256.NewInt(1_000)
	for _, c := range []struct{ millis, price, escrow, want uint64 }{
		{0, 5, 10, 0},
		{1_000, 1_000, 10, 1},    // exactly one Credit
		{1_001, 1_000, 10, 2},    // 1,001 wei: rounded up
		{999, 1, 10, 0},          // 0.999 wei: the wei cost rounds down first
		{100_000, 1_000, 10, 10}, // 100 Credits of usage, capped by the escrow
		{10_500, 1_000, 11, 11},  // 10.5 → 11
		{^uint64(0), 1 << 60, 7, 7},
	} {
		got := jobs.CreditsCost(c.millis, uint256.NewInt(c.price), uint256.NewInt(c.escrow), p)
		if got.Uint64() != c.want {
			t.Errorf("CreditsCost(%d ms, %d wei/s, %d Credits) = %s, want %d", c.millis, c.price, c.escrow, got, c.want)
		}
	}
	max := new(uint256.Int).SetAllOne()
	if got := jobs.CreditsCost(^uint64(0), max, uint256.NewInt(3), max); got.Uint64() != 1 {
		t.Errorf("overflowing worth: %s", got)
	}
}

// TestCreditsRefusals: too few Credits, zero Credits, EMC sent along,
// cancel by another account, double cancel, cancel after assignment; a
// cancel and an expiry return every Credit.
func TestCreditsRefusals(t *testing.T) {
	f := newFixture(t)
	f.buyCredits(sub, 10)
	raw := encode(t, goodSpec())
	f.mustRevert(sub, nil, credits.ErrInsufficientCredits, "submitJobCredits", raw, big.NewInt(priceH200), big.NewInt(11))
	f.mustRevert(carol, nil, credits.ErrInsufficientCredits, "submitJobCredits", raw, big.NewInt(priceH200), big.NewInt(1))
	f.mustRevert(sub, nil, jobs.ErrNoEscrow, "submitJobCredits", raw, big.NewInt(priceH200), big.NewInt(0))
	f.mustRevert(sub, nil, jobs.ErrBadPrice, "submitJobCredits", raw, big.NewInt(0), big.NewInt(1))
	if r := f.send(sub, emc(1), "submitJobCredits", raw, big.NewInt(priceH200), big.NewInt(1)); r.err == nil {
		t.Fatal("submitJobCredits with value accepted")
	}

	a := f.submitCredits(goodSpec(), priceH200, 4)
	f.mustRevert(carol, nil, jobs.ErrNotSubmitter, "cancel", bigID(a))
	f.mustSend(sub, nil, "cancel", bigID(a))
	f.mustRevert(sub, nil, jobs.ErrWrongState, "cancel", bigID(a))
	if j := f.job(a); j.State != jobs.StateCancelled || j.RefundCredits.Uint64() != 4 || credits.CreditsOf(f.State, sub).Uint64() != 10 {
		t.Fatalf("after cancel %+v, submitter %s Credits", j, credits.CreditsOf(f.State, sub))
	}

	b := f.submitCredits(goodSpec(), priceH200, 6)
	f.mustSend(f.drawn(b), nil, "assign", bigID(b), n1)
	f.mustRevert(sub, nil, jobs.ErrWrongState, "cancel", bigID(b))

	c := f.submitCredits(goodSpec(), priceH200, 4)
	if got := credits.CreditsOf(f.State, sub).Uint64(); got != 0 {
		t.Fatalf("submitter holds %d Credits with 10 locked", got)
	}
	f.drawn(c)
	f.to(f.job(c).Deadline + 1) // nobody assigns c; b misses its accept deadlines
	if j := f.job(c); j.State != jobs.StateExpired || j.RefundCredits.Uint64() != 4 {
		t.Fatalf("unassigned Credits job %+v", j)
	}
}

// TestNoCreditsModule: a jobs module built without the credits module
// refuses Credits escrow and still takes EMC.
func TestNoCreditsModule(t *testing.T) {
	f := newFixtureOpts(t, testParams, false)
	f.buyCredits(sub, 10)
	f.mustRevert(sub, nil, jobs.ErrNoCredits, "submitJobCredits", encode(t, goodSpec()), big.NewInt(priceH200), big.NewInt(1))
	f.submit(goodSpec(), priceH200, emc(1))
}

// TestCPUOnlyJob: a spec with no GPUs fits only a node with a CPU-only
// price, is priced per second by it, and its usage is capped at timeout ×
// 1000 ms.
func TestCPUOnlyJob(t *testing.T) {
	f := newFixture(t)
	s := goodSpec()
	s.GPUs, s.GPUModel, s.MinMemoryMiB, s.TimeoutSeconds = 0, "", 0, 50
	id := f.submit(s, priceCPU, emc(1))
	r := f.drawn(id)
	f.mustRevert(r, nil, jobs.ErrNodeUnfit, "assign", bigID(id), n1) // no CPU price
	// A cap below n3's price refuses n3.
	low := f.submit(s, priceCPU-1, emc(1))
	f.mustRevert(f.drawn(low), nil, jobs.ErrNodeUnfit, "assign", bigID(low), n3)

	f.mustSend(r, nil, "assign", bigID(id), n3)
	f.mustSend(n3, nil, "accept", bigID(id))
	f.mustRevert(n3, nil, jobs.ErrUsage, "submitResult", bigID(id), [32]byte{1}, uint64(50_001), int32(0))
	f.mustSend(n3, nil, "submitResult", bigID(id), [32]byte{1}, uint64(50_000), int32(0))
	f.to(f.job(id).Deadline + 1)
	j := f.job(id)
	if want := uint64(50 * priceCPU); j.State != jobs.StateSettled || !j.PriceWei.Eq(uint256.NewInt(priceCPU)) || j.CostWei.Uint64() != want {
		t.Fatalf("CPU job %+v, want cost %d", j, want)
	}

	// A GPU model or memory on a CPU-only spec is refused.
	bad := s
	bad.GPUModel = "NVIDIA H200"
	if _, err := bad.Encode(); err == nil {
		t.Fatal("CPU-only spec with a GPU model encoded")
	}
}

// TestLiveness: a node whose last on-chain update is older than the
// liveness window is refused; a ping makes it live again; deregistering
// clears the ping.
func TestLiveness(t *testing.T) {
	f := newFixtureWith(t, `{"offerDelayBlocks":2,"offerWindowBlocks":3,"assignBlocks":40,"acceptBlocks":4,"resultGraceSeconds":30,"disputeBlocks":5,"livenessBlocks":10}`)
	registered := f.nodeRecord(n1).UpdatedBlock
	f.to(registered + 12)
	id := f.submit(goodSpec(), priceH200, emc(1))
	r := f.drawn(id)
	f.mustRevert(r, nil, jobs.ErrNodeStale, "assign", bigID(id), n1)
	if _, err := f.mod.Fit(f.State, ptr(f.job(id)), n1, f.Number); err == nil {
		t.Fatal("Fit accepted a stale node")
	}
	if r := f.call(regAddr, f.regABI, carol, nil, "ping"); r.err == nil || !strings.HasPrefix(r.reason(), registry.ErrNotRegistered.Error()) {
		t.Fatalf("ping by a non-node: %v %q", r.err, r.reason())
	}
	f.mustCall(regAddr, f.regABI, n1, nil, "ping")
	if got := registry.LastSeen(f.State, ptr(f.nodeRecord(n1))); got != f.Number {
		t.Fatalf("last seen %d after a ping in block %d", got, f.Number)
	}
	f.mustSend(r, nil, "assign", bigID(id), n1)
	// The window is inclusive: live through LastSeen + LivenessBlocks.
	seen := f.Number
	if _, err := f.mod.Fit(f.State, ptr(f.job(id)), n1, seen+10); err != nil {
		t.Fatalf("Fit at the window's last block: %v", err)
	}
	if _, err := f.mod.Fit(f.State, ptr(f.job(id)), n1, seen+11); !errors.Is(err, jobs.ErrNodeStale) {
		t.Fatalf("Fit past the window: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func (f *fixture) nodeRecord(owner common.Address) registry.Node {
	f.t.Helper()
	n, ok, err := registry.NodeOf(f.State, owner)
	if err != nil || !ok {
		f.t.Fatalf("node %s: %v %v", owner, ok, err)
	}
	return n
}

// TestOpenLists: the open and assigned lists follow each transition
// (submit, assign, accept, a missed deadline, cancel) through the views.
func TestOpenLists(t *testing.T) {
	f := newFixture(t)
	ids := func(name string) []uint64 {
		out := f.view(name, big.NewInt(0), big.NewInt(100))
		var got []uint64
		for _, x := range out[0].([]*big.Int) {
			got = append(got, x.Uint64())
		}
		if out[1].(*big.Int).Uint64() != uint64(len(got)) {
			t.Fatalf("%s total %v, ids %v", name, out[1], got)
		}
		return got
	}
	want := func(open, assigned []uint64) {
		t.Helper()
		o, a := ids("openJobs"), ids("assignedJobs")
		if !sameSet(o, open) || !sameSet(a, assigned) {
			t.Fatalf("open %v assigned %v, want %v %v", o, a, open, assigned)
		}
	}
	a := f.submit(goodSpec(), priceH200, emc(1))
	b := f.submit(goodSpec(), priceH200, emc(1))
	c := f.submit(goodSpec(), priceH200, emc(1))
	want([]uint64{a, b, c}, nil)
	f.mustSend(f.drawn(a), nil, "assign", bigID(a), n1)
	want([]uint64{b, c}, []uint64{a})
	f.mustSend(sub, nil, "cancel", bigID(c))
	want([]uint64{b}, []uint64{a})
	f.mustSend(n1, nil, "accept", bigID(a))
	want([]uint64{b}, nil)
	f.mustSend(f.drawn(b), nil, "assign", bigID(b), n1)
	want(nil, []uint64{b})
	f.to(f.job(b).Deadline + 1) // b misses its accept deadline: open again
	want([]uint64{b}, nil)
	if got, _ := jobs.OpenJobs(f.State, 0, 100); len(got) != 1 || got[0] != b {
		t.Fatalf("OpenJobs %v", got)
	}
}

func sameSet(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[uint64]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// FuzzJobsCalldata sends arbitrary calldata (submitJobCredits, the
// *Inputs methods, openJobs and assignedJobs among the seeds) from a submitter holding
// Credits and an open job, through the EVM: no panic, and every invariant
// the fixture checks (both escrows, the lists, the supply) still holds.
func FuzzJobsCalldata(f *testing.F) {
	a := jobsABIFor(f)
	spec, _ := (&jobs.Spec{Image: imageA, GPUs: 0, TimeoutSeconds: 10}).Encode()
	bundleIn, _ := jobs.Inputs{{Name: "a", Data: []byte("1")}}.Encode()
	specIn, _ := (&jobs.Spec{Image: imageA, GPUs: 0, TimeoutSeconds: 10, InputsSHA256: jobs.InputsHash(bundleIn)}).Encode()
	for _, seed := range [][]any{
		{"submitJobCredits", spec, big.NewInt(priceCPU), big.NewInt(3)},
		{"submitJobCredits", spec, big.NewInt(priceCPU), new(big.Int).Lsh(big.NewInt(1), 255)},
		{"openJobs", big.NewInt(0), big.NewInt(100)},
		{"assignedJobs", new(big.Int).Lsh(big.NewInt(1), 200), big.NewInt(1)},
		{"cancel", big.NewInt(1)},
		{"submitJobCreditsInputs", specIn, big.NewInt(priceCPU), big.NewInt(1), bundleIn},
		{"submitJobInputs", specIn, big.NewInt(priceCPU), bundleIn},
		{"submitJobInputs", spec, big.NewInt(priceCPU), bundleIn},
	} {
		data, err := a.Pack(seed[0].(string), seed[1:]...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fx := newFixture(t)
		fx.buyCredits(sub, 5)
		fx.submitCredits(goodSpec(), priceH200, 2)
		msg := fx.Msg(sub, &jobsAddr, nil, data)
		msg.GasLimit = 3_000_000
		res, _ := fx.Apply(msg)
		fx.blockGas += res.UsedGas
		fx.check()
		fx.next()
	})
}

func jobsABIFor(f *testing.F) abi.ABI {
	a, err := abi.JSON(strings.NewReader((&jobs.Module{}).ABI()))
	if err != nil {
		f.Fatal(err)
	}
	return a
}
