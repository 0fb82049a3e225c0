package score

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/emc-network/emcd/computing/verify"
)

var outcomes = []uint8{verify.StatusVerified, verify.StatusFailed, verify.StatusMissed}

// randInputs draws inputs over small and huge counts (past MaxCount).
func randInputs(r *rand.Rand) Inputs {
	c := func() uint64 {
		switch r.Intn(4) {
		case 0:
			return 0
		case 1:
			return uint64(r.Intn(10))
		case 2:
			return uint64(r.Int63n(1 << 20))
		}
		return r.Uint64() >> uint(r.Intn(24))
	}
	in := Inputs{Passed: c(), Failed: c(), Missed: c(), Succeeded: c(), JobFailed: c(), TimedOut: c(), Unresolved: c()}
	if r.Intn(3) == 0 {
		in.Slashes, in.Jails = uint64(r.Intn(3)), uint64(r.Intn(2))
	}
	for range r.Intn(verify.HistoryLen + 3) {
		in.History = append(in.History, outcomes[r.Intn(len(outcomes))])
	}
	return in
}

func TestNewNodeNeutral(t *testing.T) {
	if got := Of(Inputs{}); got != Neutral {
		t.Fatalf("new node %d, want %d", got, Neutral)
	}
	if got := Of(Inputs{History: []uint8{}}); got != Neutral {
		t.Fatalf("empty history %d", got)
	}
	// Void or unknown outcomes count for nothing.
	if got := Of(Inputs{History: []uint8{verify.StatusVoid, 200}}); got != Neutral {
		t.Fatalf("void history %d", got)
	}
}

func TestBoundsAndExamples(t *testing.T) {
	worst := Inputs{Failed: math.MaxUint64, Missed: math.MaxUint64, JobFailed: math.MaxUint64, TimedOut: math.MaxUint64,
		Unresolved: math.MaxUint64, History: slices.Repeat([]uint8{verify.StatusFailed}, verify.HistoryLen)}
	best := Inputs{Passed: math.MaxUint64, Succeeded: math.MaxUint64, History: slices.Repeat([]uint8{verify.StatusVerified}, verify.HistoryLen)}
	if w, b := Of(worst), Of(best); w > 10_000 || b < Max-10_000 || b > Max {
		t.Fatalf("worst %d, best %d", w, b)
	}
	// A node that passed 10 challenges and 10 jobs, the last 10 verified.
	good := Inputs{Passed: 10, Succeeded: 10, History: slices.Repeat([]uint8{verify.StatusVerified}, 10)}
	// The same node whose last 3 challenges failed.
	bad := good
	bad.Failed = 3
	bad.History = append([]uint8{verify.StatusFailed, verify.StatusFailed, verify.StatusFailed}, good.History[:7]...)
	g, b := Of(good), Of(bad)
	t.Logf("good %d, recently failing %d", g, b)
	if g < 900_000 || b >= Neutral {
		t.Fatalf("good %d (want ≥ 900000), recently failing %d (want below neutral)", g, b)
	}
	first := Of(Inputs{Failed: 1, History: []uint8{verify.StatusFailed}})
	recovered := Of(Inputs{Failed: 1, Passed: 1, History: []uint8{verify.StatusVerified, verify.StatusFailed}})
	if first != 144_230 || recovered != 305_128 { // the figures in the package doc
		t.Fatalf("first challenge failed: %d; then one pass: %d", first, recovered)
	}
	if s := Of(Inputs{Slashes: 1}); s != Neutral/2 {
		t.Fatalf("one slash: %d", s)
	}
	// Unresolved disagreements and no-shows count against a node, mildly:
	// one weighs as a failed job (the figures in the package doc), far
	// less than a failed challenge or a slash.
	u, to, fj := Of(Inputs{Unresolved: 1}), Of(Inputs{TimedOut: 1}), Of(Inputs{JobFailed: 1})
	if u != 450_000 || to != u || fj != u || u <= first {
		t.Fatalf("one unresolved %d, one timed out %d, one failed job %d (a failed challenge %d)", u, to, fj, first)
	}
	// A worker with 20 succeeded jobs and 2 unresolved stays well above
	// the scheduler's default minimum (250,000); a node with 20
	// unresolved disagreements and nothing else sinks near it (the
	// lifetime term alone moves: no challenge history).
	if w, c := Of(Inputs{Succeeded: 20, Unresolved: 2}), Of(Inputs{Unresolved: 20}); w != 673_076 || c != 291_666 {
		t.Fatalf("worker with 2 unresolved %d, node with 20 unresolved %d", w, c)
	}
}

// TestProperties: bounded; one more bad event never raises, one more good
// event never lowers; a verified outcome of the history turned into a
// failure or a miss never raises; the order of calls never matters.
func TestProperties(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for i := range 20_000 {
		in := randInputs(r)
		s := Of(in)
		if s > Max {
			t.Fatalf("case %d: %d above Max for %+v", i, s, in)
		}
		if again := Of(in); again != s {
			t.Fatalf("case %d: not deterministic", i)
		}
		more := func(name string, f func(*Inputs), lower bool) {
			t.Helper()
			m := in
			m.History = slices.Clone(in.History)
			f(&m)
			got := Of(m)
			if lower && got > s {
				t.Fatalf("case %d: one more %s raised %d to %d: %+v", i, name, s, got, in)
			}
			if !lower && got < s {
				t.Fatalf("case %d: one more %s lowered %d to %d: %+v", i, name, s, got, in)
			}
		}
		inc := func(p *uint64) {
			if *p < math.MaxUint64 {
				*p++
			}
		}
		more("failed challenge", func(m *Inputs) { inc(&m.Failed) }, true)
		more("missed challenge", func(m *Inputs) { inc(&m.Missed) }, true)
		more("failed job", func(m *Inputs) { inc(&m.JobFailed) }, true)
		more("timed-out job", func(m *Inputs) { inc(&m.TimedOut) }, true)
		more("unresolved disagreement", func(m *Inputs) { inc(&m.Unresolved) }, true)
		more("slash", func(m *Inputs) { inc(&m.Slashes) }, true)
		more("jail", func(m *Inputs) { inc(&m.Jails) }, true)
		more("passed challenge", func(m *Inputs) { inc(&m.Passed) }, false)
		more("succeeded job", func(m *Inputs) { inc(&m.Succeeded) }, false)
		if j := slices.Index(in.History, verify.StatusVerified); j >= 0 {
			for _, o := range []uint8{verify.StatusFailed, verify.StatusMissed} {
				more("history fault", func(m *Inputs) { m.History[j] = o }, true)
			}
		}
		if j := slices.IndexFunc(in.History, func(o uint8) bool { return o != verify.StatusVerified }); j >= 0 {
			more("history pass", func(m *Inputs) { m.History[j] = verify.StatusVerified }, false)
		}
	}
}

func BenchmarkOf(b *testing.B) {
	in := Inputs{Passed: 100, Failed: 2, Succeeded: 1000, TimedOut: 3, History: slices.Repeat([]uint8{verify.StatusVerified}, verify.HistoryLen)}
	for b.Loop() {
		Of(in)
	}
}
