package docker_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestPrometheusFiles: the scrape config and the rule files pass promtool
// check config and check rules, the alerts fire (and stay quiet) as their
// promtool unit tests expect, and the scrape targets are the devnet's
// addresses (docker/devnet/env.sh).
func TestPrometheusFiles(t *testing.T) {
	tool := promtool(t)
	run(t, time.Minute, nil, tool, "check", "config", "docker/prometheus/prometheus.yml")
	rules, err := filepath.Glob(filepath.Join(repoRoot(t), "docker/prometheus/rules/*.yml"))
	if err != nil || len(rules) < 2 {
		t.Fatalf("rule files: %v %v", rules, err)
	}
	run(t, time.Minute, nil, tool, append([]string{"check", "rules"}, rules...)...)
	out := run(t, 2*time.Minute, nil, tool, "test", "rules", "docker/prometheus/tests/alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
	// Every alert the rules define has a unit test.
	alerts := regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(readFile(t, "docker/prometheus/rules/alerts.yml"), -1)
	tests := readFile(t, "docker/prometheus/tests/alerts_test.yml")
	for _, a := range alerts {
		if !strings.Contains(tests, "alertname: "+a[1]+"\n") {
			t.Errorf("alert %s has no test in docker/prometheus/tests/alerts_test.yml", a[1])
		}
	}
	for _, want := range []string{"EmcdNodeDown", "EmcdNoNewBlocks", "EmcdRoundChangesRising", "EmcdPeersLow", "EmcdDiskLow"} {
		if !regexp.MustCompile(`(?m)^\s*- alert: ` + want + `$`).MatchString(readFile(t, "docker/prometheus/rules/alerts.yml")) {
			t.Errorf("alert %s missing", want)
		}
	}

	// The targets are the devnet's nodes: DEVNET_IP_BASE+k, metrics port
	// DEVNET_PORT+3.
	env := readFile(t, "docker/devnet/env.sh")
	ipBase := regexp.MustCompile(`DEVNET_IP_BASE=\$\{DEVNET_IP_BASE:-(\d+\.\d+\.\d+)\.(\d+)\}`).FindStringSubmatch(env)
	port := regexp.MustCompile(`DEVNET_PORT=\$\{DEVNET_PORT:-(\d+)\}`).FindStringSubmatch(env)
	if ipBase == nil || port == nil {
		t.Fatal("docker/devnet/env.sh: DEVNET_IP_BASE or DEVNET_PORT default not found")
	}
	var last, p int
	mustAtoi(t, ipBase[2], &last)
	mustAtoi(t, port[1], &p)
	cfg := readFile(t, "docker/prometheus/prometheus.yml")
	for k, name := range []string{"validator-1", "validator-2", "validator-3", "validator-4", "router-1", "compute-1", "compute-2"} {
		target := ipBase[1] + "." + itoa(last+k) + ":" + itoa(p+3)
		if !regexp.MustCompile(`targets: \["` + regexp.QuoteMeta(target) + `"\]\s*\n\s*labels: \{node: ` + name + `,`).MatchString(cfg) {
			t.Errorf("prometheus.yml: no target %s labelled node %s", target, name)
		}
	}
}

// TestGrafanaDashboard: docker/grafana/emcd.json is a dashboard whose every
// query names only metrics a node exposes (a dev node's scrape; the IBFT
// engine's metrics, which TestDevnet finds on the devnet's validators) or
// recording rules of docker/prometheus/rules.
func TestGrafanaDashboard(t *testing.T) {
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readFile(t, "docker/grafana/emcd.json")), &dash); err != nil {
		t.Fatalf("docker/grafana/emcd.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Fatal("dashboard has no title or uid")
	}
	used := map[string][]string{} // metric -> panels
	queries := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := promqlMetricNames(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				used[n] = append(used[n], p.Title)
			}
			queries++
		}
	}
	if queries < 20 {
		t.Fatalf("only %d queries in the dashboard", queries)
	}

	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*- record: (\S+)$`).FindAllStringSubmatch(readFile(t, "docker/prometheus/rules/recording.yml"), -1) {
		known[m[1]] = true
	}
	if len(known) == 0 {
		t.Fatal("no recording rules found")
	}
	for _, m := range consensusMetrics {
		known[m] = true
	}
	if testing.Short() {
		t.Skip("checking the names against a running node starts an emcd process: skipped under -short")
	}
	for n := range metricNames(devNodeMetrics(t)) {
		known[n] = true
	}
	var missing []string
	for n, panels := range used {
		if !known[n] {
			missing = append(missing, n+" (panels: "+strings.Join(panels, ", ")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard queries metrics no node exposes and no recording rule defines:\n%s", strings.Join(missing, "\n"))
	}
}

var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlNumbers   = regexp.MustCompile(`\b\d+((ms|[smhdwy])+|(\.\d+)?([eE][+-]?\d+)?)\b`) // durations (offset 5m) and numbers
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	promqlKeywords  = map[string]bool{"and": true, "or": true, "unless": true, "offset": true, "bool": true, "inf": true, "nan": true, "by": true, "without": true}
	grafanaVariable = regexp.MustCompile(`\$\{?[a-zA-Z_]+\}?`)
)

// promqlMetricNames returns the metric names a PromQL expression selects:
// identifiers that are not functions, aggregations or keywords, outside
// label matchers, ranges, grouping clauses and strings.
func promqlMetricNames(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRanges.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	e = grafanaVariable.ReplaceAllString(e, " ")
	e = promqlNumbers.ReplaceAllString(e, " ")
	var names []string
	for _, tok := range promqlIdent.FindAllString(e, -1) {
		if strings.HasSuffix(tok, "(") {
			continue // a function or an aggregation
		}
		tok = strings.TrimSpace(tok)
		if !promqlKeywords[strings.ToLower(tok)] {
			names = append(names, tok)
		}
	}
	return names
}

func TestPromQLMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`histogram_quantile(0.95, sum by (node, le) (rate(emcd_x_seconds_bucket{node=~"$node"}[$__rate_interval])))`: "emcd_x_seconds_bucket",
		`emcd_a{node=~"$node"} / emcd_b{node=~"$node"}`:                                                              "emcd_a emcd_b",
		`max(emcd_paid_wei) / 1e18`:                                "emcd_paid_wei",
		`60 * rate(emcd_jobs_created_total{role="validator"}[5m])`: "emcd_jobs_created_total",
		`node:emcd_rate:rate5m > 0.05 and on (node) up == 1`:       "node:emcd_rate:rate5m up",
		`sum without (instance) (x) unless y offset 5m`:            "x y",
	} {
		if got := strings.Join(promqlMetricNames(expr), " "); got != want {
			t.Errorf("promqlMetricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustAtoi(t *testing.T, s string, v *int) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
