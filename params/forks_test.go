package params

import "testing"

// TestForkStates: every known fork is listed, in order; an unscheduled
// one is neither scheduled nor active; a scheduled one is active from its
// block on.
func TestForkStates(t *testing.T) {
	name := Forks[0].Name
	if s := ForkStates(nil, 1<<40); len(s) != len(Forks) || s[0].Name != name || s[0].Scheduled || s[0].Active {
		t.Fatalf("unscheduled: %+v", s)
	}
	sched := map[string]uint64{name: 10, "unknown": 0}
	if s := ForkStates(sched, 9); len(s) != len(Forks) || !s[0].Scheduled || s[0].Block != 10 || s[0].Active {
		t.Fatalf("before its block: %+v", s)
	}
	if s := ForkStates(sched, 10); !s[0].Active {
		t.Fatalf("at its block: %+v", s)
	}
	if !KnownFork(name) || KnownFork("unknown") {
		t.Fatal("KnownFork")
	}
}
