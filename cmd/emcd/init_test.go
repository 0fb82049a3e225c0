package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common/math"

	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/params"
)

// TestInitForkSchedule: `emcd init` on a data dir that holds a chain
// takes a genesis whose fork schedule changes only after the head (and
// records it in DATADIR/genesis.json), and refuses, with the reason and a
// non-zero exit, one that changes a reached fork or names an unknown one.
func TestInitForkSchedule(t *testing.T) {
	dir := t.TempDir()
	dd := filepath.Join(dir, "data")
	file := func(name string, forks map[string]math.HexOrDecimal64) string {
		t.Helper()
		g := genesis.Dev()
		g.Forks = forks
		data, err := g.JSON()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stored := func() *genesis.Genesis {
		t.Helper()
		g, err := genesis.FromFile(filepath.Join(dd, "genesis.json"))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	at := func(b uint64) map[string]math.HexOrDecimal64 {
		return map[string]math.HexOrDecimal64{params.ForkVerifyPrune: math.HexOrDecimal64(b)}
	}
	for _, step := range []struct {
		name, file string
		fail       string // "" for success
		want       uint64 // the stored schedule's block afterwards
	}{
		{"new data dir", file("g50", at(50)), "", 50},
		{"the same again", file("g50", at(50)), "", 50},
		{"moved ahead", file("g100", at(100)), "", 100},
		{"moved onto the genesis block", file("g0", at(0)), `fork "verifyPrune" moves from block 100 to block 0`, 100},
		{"a fork this emcd does not know", file("gx", map[string]math.HexOrDecimal64{"warpDrive": 10}), `fork "warpDrive" is not known to emcd`, 100},
	} {
		r := runCLI(t, "init", "--genesis", step.file, "--datadir", dd)
		switch {
		case step.fail == "" && (r.code != 0 || !strings.Contains(r.stdout, "initialised")):
			t.Fatalf("%s: exit %d\n%s\n%s", step.name, r.code, r.stdout, r.stderr)
		case step.fail != "" && (r.code == 0 || !strings.Contains(r.stderr, step.fail)):
			t.Fatalf("%s: exit %d, want a failure saying %q\n%s", step.name, r.code, step.fail, r.stderr)
		}
		if b, ok := stored().ForkBlock(params.ForkVerifyPrune); !ok || b != step.want {
			t.Fatalf("%s: DATADIR/genesis.json schedules the fork at %d %v, want %d", step.name, b, ok, step.want)
		}
	}
	// genesis inspect shows the schedule in force.
	r := runCLI(t, "genesis", "inspect", "--datadir", dd)
	if want := "forks:         verifyPrune at block 100\n"; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("genesis inspect: exit %d, want %q in\n%s%s", r.code, want, r.stdout, r.stderr)
	}
}
