package docker_test

import (
	"bytes"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// allowedCamelLabels are the GPU labels kept as dcgm-exporter spells them.
var allowedCamelLabels = map[string]bool{"UUID": true, "modelName": true}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s`)
	labelName  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	camelLint  = regexp.MustCompile(`^(emcd_gpu_[a-z0-9_]+) label names should be written in 'snake_case' not 'camelCase'$`)
)

// metricNames returns the metric family names of an exposition page (the
// names of its # TYPE lines) and every sample name (histograms: _bucket,
// _sum, _count).
func metricNames(page string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(page, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
			continue
		}
		if m := sampleLine.FindStringSubmatch(line); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// lintMetrics runs `promtool check metrics` on a scraped page and fails
// the test on every problem it reports, except the dcgm-exporter GPU
// labels; it also checks that UUID and modelName are the only labels that
// are not snake_case (promtool names the metric, not the label).
func lintMetrics(t *testing.T, tool, where, page string) {
	t.Helper()
	if !strings.Contains(page, "# HELP ") {
		t.Fatalf("%s: the page has no metrics:\n%.2000s", where, page)
	}
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = strings.NewReader(page)
	out, _ := cmd.CombinedOutput() // exit 1 on any lint finding; the lines say which
	var problems []string
	for _, line := range strings.Split(string(bytes.TrimSpace(out)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || camelLint.MatchString(line) {
			continue
		}
		problems = append(problems, line)
	}
	for _, line := range strings.Split(page, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
			if l[1] != strings.ToLower(l[1]) && !allowedCamelLabels[l[1]] {
				problems = append(problems, m[1]+": label "+l[1]+" is not snake_case")
			}
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Errorf("%s: promtool check metrics found %d problems:\n%s", where, len(problems), strings.Join(problems, "\n"))
	}
}
