package docker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkLivePrometheus runs the Prometheus server (when installed) with
// docker/prometheus/prometheus.yml pointed at a running devnet (its
// addresses rewritten from 172.28.77. to prefix) and checks that every
// node is up, every rule evaluates without error, and every query of the
// Grafana dashboard returns data.
func checkLivePrometheus(t *testing.T, prefix string) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Log("prometheus server not installed: dashboard queries not run against the devnet")
		return
	}
	dir := t.TempDir()
	cfg := strings.ReplaceAll(readFile(t, "docker/prometheus/prometheus.yml"), "172.28.77.", prefix)
	cfg = strings.ReplaceAll(cfg, "  - rules/", "  - "+filepath.Join(repoRoot(t), "docker/prometheus/rules")+"/")
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		logf.Close()
	})
	failf := func(format string, args ...any) {
		t.Helper()
		b, _ := os.ReadFile(logPath)
		t.Fatalf(format+"\nprometheus log (tail):\n%s", append(args, tail(string(b), 3000))...)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	// query returns the number of series expr yields; an error for a query
	// Prometheus refuses, and -1 while it does not answer yet (starting).
	query := func(expr string) (int, error) {
		resp, err := client.Get("http://" + addr + "/api/v1/query?" + url.Values{"query": {expr}}.Encode())
		if err != nil {
			return -1, nil
		}
		defer resp.Body.Close()
		var r struct {
			Status, Error string
			Data          struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return -1, nil // not ready: 503 "Service Unavailable"
		}
		if r.Status != "success" {
			return 0, fmt.Errorf("%s: %s", r.Status, r.Error)
		}
		return len(r.Data.Result), nil
	}

	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readFile(t, "docker/grafana/emcd.json")), &dash); err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("$node", ".*", "$__rate_interval", "1m")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var empty []string
	for {
		select {
		case <-exited:
			failf("prometheus exited")
		default:
		}
		empty = nil
		if n, err := query(`up{job="emcd"} == 1`); err != nil || n != 7 {
			empty = append(empty, fmt.Sprintf("up: %d of 7 nodes (%v)", n, err))
		}
		for _, p := range dash.Panels {
			for _, tg := range p.Targets {
				n, err := query(r.Replace(tg.Expr))
				if err != nil {
					t.Fatalf("panel %q: query %q: %v", p.Title, tg.Expr, err)
				}
				if n <= 0 {
					empty = append(empty, fmt.Sprintf("%s: %s", p.Title, tg.Expr))
				}
			}
		}
		if len(empty) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			sort.Strings(empty)
			failf("dashboard queries without data on the devnet after 3 minutes:\n%s", strings.Join(empty, "\n"))
		case <-time.After(5 * time.Second):
		}
	}

	// Every recording and alerting rule evaluates without error.
	resp, err := client.Get("http://" + addr + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rules); err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, g := range rules.Data.Groups {
		for _, rl := range g.Rules {
			count++
			if rl.Health == "err" {
				t.Errorf("rule %s: %s", rl.Name, rl.LastError)
			}
		}
	}
	if count == 0 {
		t.Error("prometheus loaded no rules")
	}
	t.Logf("prometheus on the devnet: 7 nodes up, every dashboard query returns data, %d rules evaluated", count)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
