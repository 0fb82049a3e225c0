package docker_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the repository root (this package lives in docker/).
func repoRoot(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// needDocker skips the test when no Docker engine answers.
func needDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine answers (docker version: %v: %s)", err, bytes.TrimSpace(out))
	}
}

// promtool returns the path of promtool, or skips the test.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus; .ci/run does)")
	}
	return p
}

// run runs a command in the repository root with a time bound and returns
// its combined output; it fails the test on error.
func run(t *testing.T, d time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// emcdBinary builds cmd/emcd once per test process (TestMain removes it).
func emcdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "emcd-docker-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "emcd")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/emcd")
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

var (
	rpcLine     = regexp.MustCompile(`JSON-RPC listening.*http=(http://[0-9.:]+)`)
	metricsLine = regexp.MustCompile(`metrics listening.*addr=(http://[0-9.:]+/metrics)`)
)

// devNode is a running `emcd --dev` process with metrics on.
type devNode struct {
	rpcURL, metricsURL string
	logs               *bytes.Buffer
	mu                 *sync.Mutex
}

func (n *devNode) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.String()
}

// startDevNode starts `emcd --dev --dev.period 500ms` (every role: validator, router, compute
// with a simulated GPU) on loopback ports with metrics on; t.Cleanup kills
// it.
func startDevNode(t *testing.T) *devNode {
	t.Helper()
	cmd := exec.Command(emcdBinary(t), "--dev", "--datadir", t.TempDir(),
		"--rpc.addr", "127.0.0.1:0", "--grpc.addr", "127.0.0.1:0", "--metrics.addr", "127.0.0.1:0", "--log.level", "info",
		"--dev.period", "500ms") // blocks keep coming: block intervals to observe
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	})
	n := &devNode{logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var rpcURL, metricsURL string
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.logs.WriteString(line + "\n")
			n.mu.Unlock()
			if m := rpcLine.FindStringSubmatch(line); m != nil && rpcURL == "" {
				rpcURL = m[1]
			}
			if m := metricsLine.FindStringSubmatch(line); m != nil && metricsURL == "" {
				metricsURL = m[1]
			}
			if rpcURL != "" && metricsURL != "" && n.rpcURL == "" {
				n.rpcURL, n.metricsURL = rpcURL, metricsURL
				close(found)
			}
		}
	}()
	select {
	case <-found:
	case <-exited:
		t.Fatalf("emcd exited early:\n%s", n.output())
	case <-time.After(2 * time.Minute):
		t.Fatalf("emcd did not start JSON-RPC and metrics in time:\n%s", n.output())
	}
	return n
}

// scrape fetches a /metrics page.
func scrape(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d, %v", url, resp.StatusCode, err)
	}
	return string(body)
}

func lookPromtool() (string, error) { return exec.LookPath("promtool") }
