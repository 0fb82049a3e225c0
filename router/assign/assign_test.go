package assign

import (
	"reflect"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/p2p"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/router/scheduler"
)

var (
	ownerA = common.HexToAddress("0xa1")
	ownerB = common.HexToAddress("0xb2")
	img    = common.HexToHash("0x1111")
)

func liveNode(peer string, owner common.Address, free uint32, util []uint32, seenMs int64, rtt time.Duration) heartbeat.Node {
	return heartbeat.Node{
		Peer:       p2p.PeerID("id-" + peer),
		Latest:     heartbeat.Heartbeat{Peer: []byte(peer), Owner: owner, FreeGPUs: free, GPUUtil: util, QueueLen: 1},
		LastSeenMs: seenMs,
		RTT:        rtt,
	}
}

func record(peer string, gpus uint32, price uint64) Record {
	return Record{
		Node: registry.Node{
			PeerID: []byte(peer), GPUCount: gpus, GPUModel: "H100", MemoryMiB: 81920,
			Prices: []registry.Price{{Model: "H100", WeiPerGPUSecond: uint256.NewInt(price)}},
			Images: []common.Hash{img},
		},
		Stats:    jobs.Stats{Succeeded: 5, Failed: 1, TimedOut: 2},
		StakeWei: uint256.NewInt(1000),
	}
}

// TestJoin is a table of live tables and chain records and the nodes the
// scheduler gets.
func TestJoin(t *testing.T) {
	const now = 10_000
	tests := []struct {
		name    string
		live    []heartbeat.Node
		records map[common.Address]Record
		want    []scheduler.Node
	}{
		{
			name:    "joined",
			live:    []heartbeat.Node{liveNode("pa", ownerA, 3, []uint32{10, 30, heartbeat.UtilUnknown}, now-1500, 7*time.Millisecond)},
			records: map[common.Address]Record{ownerA: record("pa", 4, 9)},
			want: []scheduler.Node{{
				ID: "id-pa", Owner: ownerA, GPUModel: "H100", MemPerGPUMiB: 81920, TotalGPUs: 4, FreeGPUs: 3,
				PriceWei: uint256.NewInt(9), Images: []string{img.Hex()}, QueueLen: 1, UtilPct: 20,
				RTT: 7 * time.Millisecond, Succeeded: 5, Failed: 1, TimedOut: 2, StakeWei: uint256.NewInt(1000),
				LastSeen: 1500 * time.Millisecond,
			}},
		},
		{
			name:    "unregistered owner left out",
			live:    []heartbeat.Node{liveNode("pa", ownerA, 3, nil, now, 0)},
			records: map[common.Address]Record{ownerB: record("pa", 4, 9)},
			want:    []scheduler.Node{},
		},
		{
			name:    "peer differs from the registered one",
			live:    []heartbeat.Node{liveNode("px", ownerA, 3, nil, now, 0)},
			records: map[common.Address]Record{ownerA: record("pa", 4, 9)},
			want:    []scheduler.Node{},
		},
		{
			name:    "free GPUs clamped to the registered count, future heartbeat age 0",
			live:    []heartbeat.Node{liveNode("pa", ownerA, 9, nil, now+50, 0)},
			records: map[common.Address]Record{ownerA: record("pa", 2, 9)},
			want: []scheduler.Node{{
				ID: "id-pa", Owner: ownerA, GPUModel: "H100", MemPerGPUMiB: 81920, TotalGPUs: 2, FreeGPUs: 2,
				PriceWei: uint256.NewInt(9), Images: []string{img.Hex()}, QueueLen: 1,
				Succeeded: 5, Failed: 1, TimedOut: 2, StakeWei: uint256.NewInt(1000),
			}},
		},
		{
			name: "no price for its model: no GPU offer; sorted by ID",
			live: []heartbeat.Node{liveNode("pb", ownerB, 1, nil, now, 0), liveNode("pa", ownerA, 1, nil, now, 0)},
			records: map[common.Address]Record{
				ownerA: record("pa", 1, 9),
				ownerB: func() Record { r := record("pb", 1, 9); r.Node.Prices = nil; r.StakeWei = nil; return r }(),
			},
			want: []scheduler.Node{
				{ID: "id-pa", Owner: ownerA, GPUModel: "H100", MemPerGPUMiB: 81920, TotalGPUs: 1, FreeGPUs: 1,
					PriceWei: uint256.NewInt(9), Images: []string{img.Hex()}, QueueLen: 1,
					Succeeded: 5, Failed: 1, TimedOut: 2, StakeWei: uint256.NewInt(1000)},
				{ID: "id-pb", Owner: ownerB, GPUModel: "H100", MemPerGPUMiB: 81920, TotalGPUs: 1, FreeGPUs: 1,
					Images: []string{img.Hex()}, QueueLen: 1, Succeeded: 5, Failed: 1, TimedOut: 2},
			},
		},
		{
			name:    "duplicate live entry for one peer taken once",
			live:    []heartbeat.Node{liveNode("pa", ownerA, 1, nil, now, 0), liveNode("pa", ownerA, 1, nil, now, 0)},
			records: map[common.Address]Record{ownerA: record("pa", 1, 9)},
			want: []scheduler.Node{{ID: "id-pa", Owner: ownerA, GPUModel: "H100", MemPerGPUMiB: 81920, TotalGPUs: 1, FreeGPUs: 1,
				PriceWei: uint256.NewInt(9), Images: []string{img.Hex()}, QueueLen: 1,
				Succeeded: 5, Failed: 1, TimedOut: 2, StakeWei: uint256.NewInt(1000)}},
		},
		{
			name:    "too many GPUs for the scheduler left out",
			live:    []heartbeat.Node{liveNode("pa", ownerA, 1, nil, now, 0)},
			records: map[common.Address]Record{ownerA: record("pa", scheduler.MaxGPUsPerNode+1, 9)},
			want:    []scheduler.Node{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Join(tt.live, tt.records, now)
			if !equalNodes(got, tt.want) {
				t.Fatalf("Join:\n got %+v\nwant %+v", got, tt.want)
			}
			if _, err := scheduler.NewTable(got, scheduler.DefaultParams()); err != nil {
				t.Fatalf("joined nodes refused by the scheduler: %v", err)
			}
		})
	}
}

func equalNodes(a, b []scheduler.Node) bool {
	// uint256 values are arrays: DeepEqual compares them through the pointers.
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

// TestAssignable is one row per rule of the offer window and deadline.
func TestAssignable(t *testing.T) {
	me, other := common.HexToAddress("0x01"), common.HexToAddress("0x02")
	base := jobs.Job{State: jobs.StateSubmitted, Offered: true, OfferedRouter: me, OfferEndBlock: 20, Deadline: 50}
	tests := []struct {
		name string
		mod  func(j *jobs.Job)
		head uint64
		want bool
	}{
		{"offered to me in window", func(*jobs.Job) {}, 10, true},
		{"offered to another in window", func(j *jobs.Job) { j.OfferedRouter = other }, 10, false},
		{"window's last block is the next one", func(j *jobs.Job) { j.OfferedRouter = other }, 19, false},
		{"open to all after the window", func(j *jobs.Job) { j.OfferedRouter = other }, 20, true},
		{"no router was active: open at once", func(j *jobs.Job) { j.OfferedRouter, j.OfferEndBlock = common.Address{}, 0 }, 5, true},
		{"not drawn yet", func(j *jobs.Job) { j.Offered = false }, 10, false},
		{"already assigned", func(j *jobs.Job) { j.State = jobs.StateAssigned }, 10, false},
		{"deadline block still counts", func(*jobs.Job) {}, 49, true},
		{"past the deadline", func(*jobs.Job) {}, 50, false},
	}
	for _, tt := range tests {
		j := base
		tt.mod(&j)
		if got := Assignable(&j, me, tt.head); got != tt.want {
			t.Errorf("%s: Assignable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestJoinSchedule runs the scheduler on joined nodes: the job goes to the
// node that fits, and a job no node fits gets a reason.
func TestJoinSchedule(t *testing.T) {
	nodes := Join(
		[]heartbeat.Node{liveNode("pa", ownerA, 2, nil, 0, 0)},
		map[common.Address]Record{ownerA: record("pa", 2, 9)}, 0)
	fits := jobs.Job{ID: 1, Submitter: ownerB, GPUs: 2, GPUModel: "H100", Image: img, MaxPriceWei: uint256.NewInt(10)}
	tooBig := fits
	tooBig.ID, tooBig.GPUs = 2, 8
	as, err := scheduler.Schedule([]scheduler.Job{ToJob(&fits), ToJob(&tooBig)}, nodes, [32]byte{7}, scheduler.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if as[0].Reason != scheduler.Placed || as[0].NodeID != "id-pa" {
		t.Errorf("job 1: %+v, want placed on id-pa", as[0])
	}
	if as[1].Reason == scheduler.Placed {
		t.Errorf("job 2 (8 GPUs) placed: %+v", as[1])
	}
}

func TestReserve(t *testing.T) {
	nodes := []scheduler.Node{{Owner: ownerA, FreeGPUs: 4}, {Owner: ownerB, FreeGPUs: 1}, {Owner: routerMe, FreeGPUs: 3}}
	Reserve(nodes, map[common.Address]uint64{ownerA: 3, ownerB: 5})
	for i, want := range []uint32{1, 0, 3} {
		if nodes[i].FreeGPUs != want {
			t.Errorf("node %d: %d free, want %d", i, nodes[i].FreeGPUs, want)
		}
	}
}

// TestJoinScheduleCPUOnly: a job with no GPUs reaches the scheduler as
// CPU-only and goes to the node with a CPU-only price within its cap, never
// to a GPU node without one.
func TestJoinScheduleCPUOnly(t *testing.T) {
	cpu := Record{Node: registry.Node{PeerID: []byte("pc"), CPUPriceWei: uint256.NewInt(5), Images: []common.Hash{img}}}
	nodes := Join(
		[]heartbeat.Node{liveNode("pa", ownerA, 2, nil, 0, 0), liveNode("pc", ownerB, 0, nil, 0, 0)},
		map[common.Address]Record{ownerA: record("pa", 2, 9), ownerB: cpu}, 0)
	j := jobs.Job{ID: 1, Submitter: ownerA, GPUs: 0, Image: img, MaxPriceWei: uint256.NewInt(5)}
	sj := ToJob(&j)
	if !sj.CPUOnly || sj.GPUs != 0 {
		t.Fatalf("ToJob of a 0-GPU job: %+v", sj)
	}
	low := j
	low.ID, low.MaxPriceWei = 2, uint256.NewInt(4)
	as, err := scheduler.Schedule([]scheduler.Job{sj, ToJob(&low)}, nodes, [32]byte{7}, scheduler.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if as[0].Reason != scheduler.Placed || as[0].NodeID != "id-pc" {
		t.Errorf("CPU job: %+v, want placed on id-pc", as[0])
	}
	if as[1].Reason == scheduler.Placed {
		t.Errorf("CPU job under the CPU price placed: %+v", as[1])
	}
}
