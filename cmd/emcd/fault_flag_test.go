package main

import (
	"strings"
	"testing"
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
