package assign

import (
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/score"
	"github.com/emc-network/emcd/router/heartbeat"
	"github.com/emc-network/emcd/router/scheduler"
)

// TestJoinScore: a record's score makes a scored scheduler node (capped
// at the scheduler's maximum); no score, an unscored one.
func TestJoinScore(t *testing.T) {
	live := []heartbeat.Node{liveNode("pa", ownerA, 1, nil, 1000, 0), liveNode("pb", ownerB, 1, nil, 1000, 0)}
	sa, sb := uint64(123_456), uint64(score.Max+5)
	ra, rb := record("pa", 1, 9), record("pb", 1, 9)
	ra.Score, rb.Score = &sa, &sb
	got := Join(live, map[common.Address]Record{ownerA: ra, ownerB: rb}, 1000)
	if len(got) != 2 || !got[0].Scored || got[0].Score != sa || !got[1].Scored || got[1].Score != score.Max {
		t.Fatalf("joined %+v", got)
	}
	if _, err := scheduler.NewTable(got, scheduler.DefaultParams()); err != nil {
		t.Fatal(err)
	}
	got = Join(live[:1], map[common.Address]Record{ownerA: record("pa", 1, 9)}, 1000)
	if len(got) != 1 || got[0].Scored {
		t.Fatalf("unscored record joined as %+v", got)
	}
}

// scoredView is the FAKE view with chain scores by owner.
type scoredView struct {
	*fakeView
	scores map[common.Address]uint64
}

func (v scoredView) ScoreOf(o common.Address) uint64 {
	if s, ok := v.scores[o]; ok {
		return s
	}
	return score.Neutral
}

// TestServiceAvoidsLowScore: with a view that scores nodes, a job goes to
// the node above the scheduler's minimum even when the low-score node is
// cheaper, closer and emptier; with only the low-score node live, nothing
// is sent; once its score recovers, it gets the job.
func TestServiceAvoidsLowScore(t *testing.T) {
	ownerC := common.HexToAddress("0xc3")
	h := newHarness(t)
	low := record("pc", 8, 1) // cheaper than pa's 9
	h.view.nodes[ownerC] = low.Node
	sv := scoredView{h.view, map[common.Address]uint64{ownerA: 800_000, ownerC: scheduler.DefaultMinScore - 1}}
	h.svc.cfg.View = func(*types.Header) (View, error) { return sv, nil }
	both := fakeLive{liveNode("pa", ownerA, 1, []uint32{90}, 1000, time.Second), liveNode("pc", ownerC, 8, nil, 1000, time.Millisecond)}
	h.svc.cfg.Live = both
	h.addJob(1, routerMe)
	h.step(5)
	h.wantSent(1)
	if h.sent[0].node != ownerA {
		t.Fatalf("assigned to %v, want %v (the low-score node is cheaper but below the minimum)", h.sent[0].node, ownerA)
	}
	h.sent[0].p.resolve(nil)
	h.view.jobs[0].State = jobs.StateSettled // leaves the lists

	h.svc.cfg.Live = fakeLive{both[1]}
	h.addJob(1, routerMe)
	for n := uint64(6); n < 9; n++ {
		h.step(n)
	}
	h.wantSent(1)

	sv.scores[ownerC] = scheduler.DefaultMinScore
	h.step(9)
	h.wantSent(2)
	if h.sent[1].node != ownerC || h.sent[1].id != 2 {
		t.Fatalf("sent assign(%d, %v), want assign(2, %v)", h.sent[1].id, h.sent[1].node, ownerC)
	}
}
