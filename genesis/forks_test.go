package genesis

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common/math"

	emcparams "github.com/emc-network/emcd/params"
)

const forkBase = `{"chainId": 7, "validators": ["0x0000000000000000000000000000000000000001"], "alloc": {}`

// TestForkSchedule: a known fork loads with its block (decimal or hex),
// an unknown one is refused naming it, and the dev genesis schedules
// every known fork at 0.
func TestForkSchedule(t *testing.T) {
	g, err := FromJSON([]byte(forkBase + `, "forks": {"verifyPrune": "0x64"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := g.ForkBlock(emcparams.ForkVerifyPrune); !ok || b != 100 {
		t.Fatalf("fork block %d %v, want 100", b, ok)
	}
	if _, ok := g.ForkBlock("nonsense"); ok {
		t.Fatal("an unscheduled fork has a block")
	}
	_, err = FromJSON([]byte(forkBase + `, "forks": {"verifyPrune": 0, "warpDrive": 5}}`))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"warpDrive"`) || !strings.Contains(err.Error(), "upgrade emcd") {
		t.Fatalf("unknown fork: %v", err)
	}
	if _, err := FromJSON([]byte(forkBase + `, "forks": {"verifyPrune": -1}}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative fork block: %v", err)
	}
	// No schedule: the field is left out of the file, as before forks
	// existed (so older data dirs' stored genesis compares equal).
	g, err = FromJSON([]byte(forkBase + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if js, _ := g.JSON(); strings.Contains(string(js), "forks") {
		t.Fatalf("an empty schedule is written: %s", js)
	}
	d := Dev()
	for _, f := range emcparams.Forks {
		if b, ok := d.ForkBlock(f.Name); !ok || b != 0 {
			t.Fatalf("dev genesis schedules %s at %d %v, want 0", f.Name, b, ok)
		}
	}
}

// TestCheckForkChange: a fork may be added, moved or removed only while
// both its old and new activation blocks are after the head.
func TestCheckForkChange(t *testing.T) {
	type sched = map[string]math.HexOrDecimal64
	const head = 100
	cases := []struct {
		name     string
		old, new sched
		changed  []string
		ok       bool
	}{
		{"same", sched{"a": 5}, sched{"a": 5}, nil, true},
		{"none to none", nil, sched{}, nil, true},
		{"add after head", nil, sched{"a": 101}, []string{"a"}, true},
		{"add at head", nil, sched{"a": 100}, []string{"a"}, false},
		{"add in the past", nil, sched{"a": 0}, []string{"a"}, false},
		{"move future to future", sched{"a": 200}, sched{"a": 150}, []string{"a"}, true},
		{"move future to past", sched{"a": 200}, sched{"a": 50}, []string{"a"}, false},
		{"move active fork", sched{"a": 50}, sched{"a": 200}, []string{"a"}, false},
		{"remove future fork", sched{"a": 200}, nil, []string{"a"}, true},
		{"remove active fork", sched{"a": 100}, nil, []string{"a"}, false},
		{"one bad among good", sched{"a": 200, "b": 10}, sched{"a": 300, "c": 400}, []string{"a", "b", "c"}, false},
	}
	for _, c := range cases {
		changed, err := CheckForkChange(c.old, c.new, head)
		if !slices.Equal(changed, c.changed) {
			t.Errorf("%s: changed %v, want %v", c.name, changed, c.changed)
		}
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrForkChange)) {
			t.Errorf("%s: err %v, want ok %v", c.name, err, c.ok)
		}
	}
}

// TestSameExceptForks: only the schedule may differ.
func TestSameExceptForks(t *testing.T) {
	a := Dev()
	b := Dev()
	b.Forks = nil
	if same, err := a.SameExceptForks(b); err != nil || !same {
		t.Fatalf("schedules differ only: %v %v", same, err)
	}
	if a.Forks == nil {
		t.Fatal("SameExceptForks cleared the receiver's schedule")
	}
	b.ChainID++
	if same, _ := a.SameExceptForks(b); same {
		t.Fatal("a different chain id compares the same")
	}
}
