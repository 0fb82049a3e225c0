package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/emc-network/emcd/state"
)

// The compute agent's fault injection is a hidden, test-only flag: not in
// the help, documented as test only, and a value it does not know stops
// the node before it starts.
func TestComputeFaultFlag(t *testing.T) {
	fl := newRootCmd().Flags().Lookup("compute.fault")
	if fl == nil || !fl.Hidden || fl.DefValue != "" || !strings.Contains(fl.Usage, "TEST ONLY") {
		t.Fatalf("--compute.fault: %+v", fl)
	}
	r := runCLI(t, "--help")
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, "compute.fault") {
		t.Fatalf("--help shows the hidden flag (exit %d)", r.code)
	}
	r = runCLI(t, "--compute.fault", "bogus", "--datadir", t.TempDir(), "--role", "compute")
	if r.code == 0 || !strings.Contains(r.stderr, `--compute.fault "bogus"`) {
		t.Fatalf("bad fault: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// The relay's per-key rate and burst: invalid values stop the node before
// it starts, with a message naming the flag.
func TestRelayLimitFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--relay.rate", "0"}, {"--relay.rate", "-5"}, {"--relay.rate", "NaN"}, {"--relay.rate", "+Inf"},
		{"--relay.burst", "0"}, {"--relay.burst", "-1"},
	} {
		r := runCLI(t, append(args, "--datadir", t.TempDir(), "--role", "router")...)
		if r.code == 0 || !strings.Contains(r.stderr, args[0]+" ") {
			t.Fatalf("%v: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
		}
	}
	if err := checkRelayLimits(0.5, 1); err != nil {
		t.Fatalf("a valid rate and burst refused: %v", err)
	}
	for _, name := range []string{"relay.rate", "relay.burst"} {
		if fl := newRootCmd().Flags().Lookup(name); fl == nil || fl.Hidden {
			t.Fatalf("--%s: %+v", name, fl)
		}
	}
}

// --state.layers: fewer than one layer stops the node before it starts,
// with a message naming the flag; the default is state.DefaultDiffLayers.
func TestStateLayersFlag(t *testing.T) {
	for _, v := range []string{"0", "-3"} {
		r := runCLI(t, "--state.layers", v, "--datadir", t.TempDir(), "--role", "validator")
		if r.code == 0 || !strings.Contains(r.stderr, "--state.layers "+v) {
			t.Fatalf("--state.layers %s: exit %d\n%s\n%s", v, r.code, r.stdout, r.stderr)
		}
	}
	fl := newRootCmd().PersistentFlags().Lookup("state.layers")
	if fl == nil {
		fl = newRootCmd().Flags().Lookup("state.layers")
	}
	if fl == nil || fl.DefValue != strconv.Itoa(state.DefaultDiffLayers) {
		t.Fatalf("--state.layers: %+v", fl)
	}
}
