package scheduler

// Table tests: one row per hard constraint and its reason, one per score
// term (the term's value by hand, and that the better node wins with the
// default weights), and the batch rules. property_test.go checks the same
// rules on random inputs against a brute-force reference.

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

var (
	alice = common.HexToAddress("0xa11ce")
	bob   = common.HexToAddress("0xb0b")
	img   = "sha256:" + strings.Repeat("ab", 32)
	seed1 = [32]byte{1}
)

func emc(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1e18))
}

// baseNode fits baseJob.
func baseNode(id string) Node {
	return Node{
		ID: id, Owner: bob, GPUModel: "H100", MemPerGPUMiB: 81920,
		TotalGPUs: 8, FreeGPUs: 8, PriceWei: uint256.NewInt(100), CPUPriceWei: uint256.NewInt(10),
		Images: []string{img}, RTT: 20 * time.Millisecond, Succeeded: 10,
		StakeWei: emc(1000), LastSeen: time.Second,
	}
}

func baseJob(id string) Job {
	return Job{ID: id, Submitter: alice, GPUs: 2, GPUModel: "H100", MinMemMiB: 40960,
		ImageDigest: img, MaxPriceWei: uint256.NewInt(200)}
}

func scheduleOne(t *testing.T, nodes []Node, j Job, p Params) Assignment {
	t.Helper()
	as, err := Schedule([]Job{j}, nodes, seed1, p)
	if err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	tab, err := NewTable(nodes, p)
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	if got := tab.Pick(j, seed1); got != as[0] {
		t.Fatalf("Pick %+v != Schedule %+v", got, as[0])
	}
	return as[0]
}

func TestHardConstraints(t *testing.T) {
	tests := []struct {
		name  string
		node  func(*Node)
		job   func(*Job)
		par   func(*Params)
		want  Reason
		nodes int // 0: one node; -1: none
	}{
		{name: "fits", want: Placed},
		{name: "empty table", nodes: -1, want: NoModel},
		{name: "other model", job: func(j *Job) { j.GPUModel = "A100" }, want: NoModel},
		{name: "any model", job: func(j *Job) { j.GPUModel = "" }, want: Placed},
		{name: "memory short", job: func(j *Job) { j.MinMemMiB = 81921 }, want: NoModel},
		{name: "memory exact", job: func(j *Job) { j.MinMemMiB = 81920 }, want: Placed},
		{name: "no GPU price", node: func(n *Node) { n.PriceWei = nil }, want: NoModel},
		{name: "no GPUs", node: func(n *Node) { n.TotalGPUs, n.FreeGPUs = 0, 0 }, want: NoModel},
		{name: "cpu job, no cpu offer", node: func(n *Node) { n.CPUPriceWei = nil }, job: cpuJob, want: NoModel},
		{name: "cpu job", job: cpuJob, want: Placed},
		{name: "cpu job on busy GPUs", node: func(n *Node) { n.FreeGPUs = 0 }, job: cpuJob, want: Placed},
		{name: "stale", node: func(n *Node) { n.LastSeen = 31 * time.Second }, want: NotLive},
		{name: "just live", node: func(n *Node) { n.LastSeen = 30 * time.Second }, want: Placed},
		{name: "stale cpu", node: func(n *Node) { n.LastSeen = time.Hour }, job: cpuJob, want: NotLive},
		{name: "image missing", node: func(n *Node) { n.Images = []string{"sha256:other"} }, want: NoImage},
		{name: "no images", node: func(n *Node) { n.Images = nil }, want: NoImage},
		{name: "image pullable", node: func(n *Node) { n.Images = nil }, job: func(j *Job) { j.ImagePullable = true }, want: Placed},
		{name: "no image asked", node: func(n *Node) { n.Images = nil }, job: func(j *Job) { j.ImageDigest = "" }, want: Placed},
		{name: "over cap", job: func(j *Job) { j.MaxPriceWei = uint256.NewInt(99) }, want: OverPriceCap},
		{name: "at cap", job: func(j *Job) { j.MaxPriceWei = uint256.NewInt(100) }, want: Placed},
		{name: "zero cap, free node", node: func(n *Node) { n.PriceWei = new(uint256.Int) }, job: func(j *Job) { j.MaxPriceWei = new(uint256.Int) }, want: Placed},
		{name: "huge cap", job: func(j *Job) { j.MaxPriceWei = new(uint256.Int).Lsh(uint256.NewInt(1), 200) }, want: Placed},
		{name: "huge price", node: func(n *Node) { n.PriceWei = new(uint256.Int).Lsh(uint256.NewInt(1), 100) }, want: OverPriceCap},
		{name: "huge price, huger cap", node: func(n *Node) { n.PriceWei = new(uint256.Int).Lsh(uint256.NewInt(1), 100) },
			job: func(j *Job) { j.MaxPriceWei = new(uint256.Int).Lsh(uint256.NewInt(1), 101) }, want: Placed},
		{name: "cpu over cap", job: func(j *Job) { cpuJob(j); j.MaxPriceWei = uint256.NewInt(9) }, want: OverPriceCap},
		{name: "self-dealing", node: func(n *Node) { n.Owner = alice }, want: SelfDealing},
		{name: "self-dealing allowed", node: func(n *Node) { n.Owner = alice }, par: func(p *Params) { p.AllowSelfDealing = true }, want: Placed},
		{name: "free GPUs short", node: func(n *Node) { n.FreeGPUs = 1 }, want: NoCapacity},
		{name: "free GPUs exact", node: func(n *Node) { n.FreeGPUs = 2 }, want: Placed},
		{name: "queue full", node: func(n *Node) { n.QueueLen = 8 }, want: NoCapacity},
		{name: "queue unlimited", node: func(n *Node) { n.QueueLen = 1 << 31 }, par: func(p *Params) { p.MaxQueue = 0 }, want: Placed},
		{name: "no cap", job: func(j *Job) { j.MaxPriceWei = nil }, want: InvalidJob},
		{name: "no GPUs asked", job: func(j *Job) { j.GPUs = 0 }, want: InvalidJob},
		{name: "cpu with GPUs", job: func(j *Job) { j.CPUOnly = true }, want: InvalidJob},
		{name: "too many GPUs", job: func(j *Job) { j.GPUs = MaxGPUsPerJob + 1 }, want: InvalidJob},
		{name: "empty ID", job: func(j *Job) { j.ID = "" }, want: InvalidJob},
		{name: "long ID", job: func(j *Job) { j.ID = strings.Repeat("x", MaxIDBytes+1) }, want: InvalidJob},
		{name: "long model", job: func(j *Job) { j.GPUModel = strings.Repeat("x", MaxModelBytes+1) }, want: InvalidJob},
		{name: "long image", job: func(j *Job) { j.ImageDigest = strings.Repeat("x", MaxImageBytes+1) }, want: InvalidJob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, j, p := baseNode("n1"), baseJob("j1"), DefaultParams()
			if tt.node != nil {
				tt.node(&n)
			}
			if tt.job != nil {
				tt.job(&j)
			}
			if tt.par != nil {
				tt.par(&p)
			}
			nodes := []Node{n}
			if tt.nodes < 0 {
				nodes = nil
			}
			a := scheduleOne(t, nodes, j, p)
			if a.Reason != tt.want {
				t.Fatalf("reason %q, want %q (%+v)", a.Reason, tt.want, a)
			}
			if (a.NodeID != "") != (tt.want == Placed) || (a.Detail != "") != (tt.want == InvalidJob) {
				t.Fatalf("inconsistent assignment %+v", a)
			}
		})
	}
}

func cpuJob(j *Job) {
	j.CPUOnly, j.GPUs, j.GPUModel, j.MinMemMiB = true, 0, "", 0
}

// TestReasonIsFurthestCheck: with several unfit nodes the reason names the
// last obstacle any of them hit, whatever the node order.
func TestReasonIsFurthestCheck(t *testing.T) {
	over, busy, stale, other := baseNode("over"), baseNode("busy"), baseNode("stale"), baseNode("other")
	over.PriceWei = uint256.NewInt(1000)
	busy.FreeGPUs = 0
	stale.LastSeen = time.Hour
	other.GPUModel = "L4"
	for _, tc := range []struct {
		nodes []Node
		want  Reason
	}{
		{[]Node{over, busy, stale, other}, NoCapacity},
		{[]Node{busy, over}, NoCapacity},
		{[]Node{stale, over}, OverPriceCap},
		{[]Node{other, stale}, NotLive},
		{[]Node{other}, NoModel},
	} {
		a := scheduleOne(t, tc.nodes, baseJob("j"), DefaultParams())
		if a.Reason != tc.want {
			t.Errorf("%d nodes: reason %q, want %q", len(tc.nodes), a.Reason, tc.want)
		}
	}
}

func TestTermValues(t *testing.T) {
	p := DefaultParams()
	n := baseNode("n")
	check := func(name string, got, want uint64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	n.RTT = 50 * time.Millisecond
	check("rtt at RTTRef", rttTerm(&n, &p), 500_000)
	n.RTT = 150 * time.Millisecond
	check("rtt at 3·RTTRef", rttTerm(&n, &p), 250_000)
	n.RTT = 0
	check("rtt unmeasured", rttTerm(&n, &p), 500_000)
	n.RTT = 1<<63 - 1
	check("rtt forever", rttTerm(&n, &p), 0)

	n.Succeeded, n.Failed, n.TimedOut = 0, 0, 0
	check("reliability new", reliabilityTerm(&n, &p), 800_000)
	n.Succeeded, n.Failed, n.TimedOut = 6, 3, 1
	check("reliability 6/3/1", reliabilityTerm(&n, &p), 666_666) // 10/15, round down
	n.Succeeded, n.Failed, n.TimedOut = ^uint64(0), ^uint64(0), ^uint64(0)
	check("reliability saturated", reliabilityTerm(&n, &p), 333_333)

	n.StakeWei = nil
	check("stake none", stakeTerm(&n, &p), 0)
	n.StakeWei = emc(10_000)
	check("stake at ref", stakeTerm(&n, &p), 500_000)
	n.StakeWei = emc(30_000)
	check("stake 3·ref", stakeTerm(&n, &p), 750_000)
	n.StakeWei = new(uint256.Int).SetAllOne()
	check("stake max", stakeTerm(&n, &p), 999_999)

	cap := newOffer(uint256.NewInt(100))
	price := newOffer(uint256.NewInt(25))
	check("price 25/100", priceTerm(&price, &cap), 750_000)
	price = newOffer(uint256.NewInt(100))
	check("price at cap", priceTerm(&price, &cap), 0)
	zero := newOffer(new(uint256.Int))
	check("price zero cap", priceTerm(&zero, &zero), ppm)
	bigCap := newOffer(new(uint256.Int).Lsh(uint256.NewInt(3), 100))
	bigPrice := newOffer(new(uint256.Int).Lsh(uint256.NewInt(1), 100))
	check("price big", priceTerm(&bigPrice, &bigCap), 666_666)
	max64 := newOffer(uint256.NewInt(^uint64(0)))
	one := newOffer(uint256.NewInt(1))
	check("price max64", priceTerm(&one, &max64), 999_999)

	e := entry{total: 8, util: 20}
	j := Job{GPUs: 2}
	check("capacity 6/8 util 20 queue 1", capacityTerm(&e, 8, 1, &j), 383_333) // (2·750000+800000)/3/2
	check("capacity full", capacityTerm(&entry{total: 4}, 4, 0, &Job{}), ppm)
	check("capacity no GPUs (cpu)", capacityTerm(&entry{total: 0, util: 100}, 0, 0, &Job{CPUOnly: true}), 666_666)

	// The whole score of one placement, by hand: node n1 as baseNode,
	// RTT 20 ms, 10 successes, 1000 EMC stake, job of 2 GPUs at cap 200.
	a := scheduleOne(t, []Node{baseNode("n1")}, baseJob("j1"), p)
	rtt := uint64(714_285)                          // 1e6·50/(50+20)
	rel := uint64(933_333)                          // 1e6·(10+4)/(10+4+1)
	stake := uint64(90_909)                         // 1e6·1000/(1000+10000)
	capacity := uint64((2*750_000 + 1_000_000) / 3) // 833333
	want := 30*capacity + 20*rtt + 25*rel + 10*stake + 15*500_000 + 5*ppm
	check("score", a.Score, want)
}

// TestEachTermOrders: two nodes equal but for one attribute; the better one
// wins under the default weights, whichever order they come in.
func TestEachTermOrders(t *testing.T) {
	tests := []struct {
		name  string
		worse func(*Node)
		job   func(*Job)
	}{
		{"more free GPUs", func(n *Node) { n.FreeGPUs = 4 }, nil},
		{"lower utilisation", func(n *Node) { n.UtilPct = 90 }, nil},
		{"shorter queue", func(n *Node) { n.QueueLen = 3 }, nil},
		{"cpu: shorter queue", func(n *Node) { n.QueueLen = 1 }, cpuJob},
		{"shorter round trip", func(n *Node) { n.RTT = 200 * time.Millisecond }, nil},
		{"measured fast beats unmeasured", func(n *Node) { n.RTT = 0 }, nil},
		{"fewer failures", func(n *Node) { n.Failed = 5 }, nil},
		{"fewer timeouts", func(n *Node) { n.TimedOut = 5 }, nil},
		{"more stake", func(n *Node) { n.StakeWei = emc(10) }, nil},
		{"no stake", func(n *Node) { n.StakeWei = nil }, nil},
		{"cheaper", func(n *Node) { n.PriceWei = uint256.NewInt(150) }, nil},
		{"cpu: cheaper", func(n *Node) { n.CPUPriceWei = uint256.NewInt(150) }, cpuJob},
		{"holds the image", func(n *Node) { n.Images = nil }, func(j *Job) { j.ImagePullable = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good, bad := baseNode("good"), baseNode("bad")
			tt.worse(&bad)
			j := baseJob("j")
			if tt.job != nil {
				tt.job(&j)
			}
			j.MaxPriceWei = uint256.NewInt(200)
			for _, nodes := range [][]Node{{good, bad}, {bad, good}} {
				for s := range 20 { // no seed may flip a strict preference
					as, err := Schedule([]Job{j}, nodes, [32]byte{byte(s)}, DefaultParams())
					if err != nil || as[0].NodeID != "good" {
						t.Fatalf("seed %d: got %+v, %v; want good", s, as[0], err)
					}
				}
			}
		})
	}
	// The reliability prior: a new node beats a poor one, loses to a proven one.
	newbie, poor, proven := baseNode("newbie"), baseNode("poor"), baseNode("proven")
	newbie.Succeeded = 0
	poor.Succeeded, poor.Failed = 10, 10
	proven.Succeeded = 1000
	if a := scheduleOne(t, []Node{poor, newbie}, baseJob("j"), DefaultParams()); a.NodeID != "newbie" {
		t.Errorf("new vs poor: got %s", a.NodeID)
	}
	if a := scheduleOne(t, []Node{proven, newbie}, baseJob("j"), DefaultParams()); a.NodeID != "proven" {
		t.Errorf("new vs proven: got %s", a.NodeID)
	}
}

func TestBatchConsumesCapacity(t *testing.T) {
	n := baseNode("n1")
	n.FreeGPUs = 4
	j1, j2, j3 := baseJob("j1"), baseJob("j2"), baseJob("j3")
	j1.GPUs, j2.GPUs, j3.GPUs = 3, 2, 1
	as, err := Schedule([]Job{j1, j2, j3}, []Node{n}, seed1, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if as[0].NodeID != "n1" || as[1].Reason != NoCapacity || as[2].NodeID != "n1" {
		t.Fatalf("got %+v", as)
	}

	// The queue limit counts the batch's own assignments.
	p := DefaultParams()
	p.MaxQueue = 2
	n = baseNode("n1")
	n.QueueLen = 1
	jobs := []Job{baseJob("a"), baseJob("b")}
	jobs[0].GPUs, jobs[1].GPUs = 1, 1
	as, _ = Schedule(jobs, []Node{n}, seed1, p)
	if as[0].Reason != Placed || as[1].Reason != NoCapacity {
		t.Fatalf("queue limit: got %+v", as)
	}

	// Equal nodes: a batch spreads over them.
	nodes := []Node{baseNode("x"), baseNode("y"), baseNode("z")}
	jobs = []Job{baseJob("1"), baseJob("2"), baseJob("3")}
	as, _ = Schedule(jobs, nodes, seed1, DefaultParams())
	used := map[string]bool{}
	for _, a := range as {
		used[a.NodeID] = true
	}
	if len(used) != 3 {
		t.Fatalf("3 jobs on 3 equal nodes used %d nodes: %+v", len(used), as)
	}

	// A repeated job ID is refused, the first one placed.
	as, _ = Schedule([]Job{baseJob("same"), baseJob("same")}, nodes, seed1, DefaultParams())
	if as[0].Reason != Placed || as[1].Reason != InvalidJob {
		t.Fatalf("duplicate: got %+v", as)
	}
}

func TestInvalidInputs(t *testing.T) {
	bad := []func(*Node){
		func(n *Node) { n.ID = "" },
		func(n *Node) { n.ID = strings.Repeat("x", MaxIDBytes+1) },
		func(n *Node) { n.FreeGPUs = 9 },
		func(n *Node) { n.TotalGPUs, n.FreeGPUs = MaxGPUsPerNode+1, 0 },
		func(n *Node) { n.GPUModel = "" },
		func(n *Node) { n.MemPerGPUMiB = 0 },
		func(n *Node) { n.GPUModel = strings.Repeat("m", MaxModelBytes+1) },
		func(n *Node) { n.UtilPct = 101 },
		func(n *Node) { n.RTT = -1 },
		func(n *Node) { n.LastSeen = -1 },
		func(n *Node) { n.Images = []string{""} },
		func(n *Node) { n.Images = make([]string, MaxImagesPerNode+1) },
	}
	for i, f := range bad {
		n := baseNode("n")
		f(&n)
		if _, err := NewTable([]Node{n}, DefaultParams()); !errors.Is(err, ErrInvalidNode) {
			t.Errorf("bad node %d: err %v, want ErrInvalidNode", i, err)
		}
	}
	if _, err := NewTable([]Node{baseNode("a"), baseNode("a")}, DefaultParams()); !errors.Is(err, ErrInvalidNode) {
		t.Errorf("duplicate node: err %v", err)
	}
	if _, err := NewTable(make([]Node, MaxNodes+1), DefaultParams()); !errors.Is(err, ErrTooManyNodes) {
		t.Errorf("too many nodes: err %v", err)
	}
	tab, _ := NewTable(nil, DefaultParams())
	if _, err := tab.Schedule(make([]Job, MaxJobs+1), seed1); !errors.Is(err, ErrTooManyJobs) {
		t.Errorf("too many jobs: err %v", err)
	}
	badParams := []func(*Params){
		func(p *Params) { p.WPrice = MaxWeight + 1 },
		func(p *Params) { p.PriorSucceeded, p.PriorFailed = 0, 0 },
		func(p *Params) { p.PriorFailed = 1<<32 + 1 },
		func(p *Params) { p.RTTRef = 0 },
		func(p *Params) { p.RTTRef = time.Hour },
		func(p *Params) { p.StakeRefWei = nil },
		func(p *Params) { p.StakeRefWei = new(uint256.Int) },
		func(p *Params) { p.MaxLastSeen = 0 },
	}
	for i, f := range badParams {
		p := DefaultParams()
		f(&p)
		if _, err := NewTable(nil, p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("bad params %d: err %v, want ErrInvalidParams", i, err)
		}
	}
	if _, err := NewTable(nil, Params{}); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("zero params: err %v", err)
	}
}

func TestReasonString(t *testing.T) {
	for r := Placed; r < numReasons; r++ {
		if r.String() == "" || strings.HasPrefix(r.String(), "reason(") {
			t.Errorf("reason %d has no name", r)
		}
	}
	if Reason(200).String() != "reason(200)" {
		t.Errorf("unknown reason: %s", Reason(200))
	}
}
