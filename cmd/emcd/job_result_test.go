package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestJobResultRefusals: `emcd job result` on a dev node (which relays no
// results: it is no router and runs no network) refuses clearly, exit 1,
// before any download: a job that has no result, a key that is not the
// submitter's, a job that does not exist, no --out.
func TestJobResultRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	node := startDevNode(t, t.TempDir())
	url := node.url
	r := runCLI(t, "job", "submit", "--rpc", url, "--dev-account", "3", "--image", "sha256:"+strings.Repeat("ab", 32),
		"--gpus", "1", "--run-timeout", "1m", "--escrow", "1", "--json", "--", "true")
	if r.code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s\nnode:\n%s", r.code, r.stdout, r.stderr, node.output())
	}
	out := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"1", "--out", out, "--dev-account", "3"}, "the job has no result yet: job 1 is submitted"},
		{[]string{"1", "--out", out, "--dev-account", "4"}, "only the job's submitter may fetch its results: job 1 was submitted by"},
		{[]string{"99", "--out", out, "--dev-account", "3"}, "no job 99"},
		{[]string{"1", "--dev-account", "3"}, "--out DIR is required"},
		{[]string{"1", "--out", out}, "no signing key"},
	} {
		r := runCLI(t, append([]string{"job", "result", "--rpc", url}, c.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("job result %v: exit %d, stderr %q; want exit 1 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
