package executor

// The executor tests run a real workload: testdata/jobtool, built static in
// TestMain and run directly (Process) or from a FROM scratch image built
// through the Engine API (Docker). The image is built once per package run
// and removed at the end. Docker tests skip, saying why, only when no
// Docker engine answers; with -short they skip too (make race).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/emc-network/emcd/internal/scratchimage"
)

var (
	jobtoolPath string // static test binary on the host
	testImage   string // image holding it as /jobtool, "" when Docker is unavailable
	dockerSkip  string // why Docker tests skip
	dockerCli   *client.Client
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "emcd-jobtool-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	jobtoolPath = filepath.Join(dir, "jobtool")
	cmd := exec.Command("go", "build", "-trimpath", "-o", jobtoolPath, "./testdata/jobtool")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build jobtool: %v\n%s", err, out)
		return 1
	}
	if cleanup := setupDocker(); cleanup != nil {
		defer cleanup()
	}
	return m.Run()
}

func setupDocker() func() {
	for _, a := range os.Args {
		if a == "-test.short=true" || a == "-test.short" {
			dockerSkip = "-short: Docker tests skipped"
			return nil
		}
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		dockerSkip = "no Docker client: " + err.Error()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		dockerSkip = "no Docker engine answers: " + err.Error()
		cli.Close()
		return nil
	}
	tag := fmt.Sprintf("emcd-executor-test:%d", time.Now().UnixNano())
	if err := buildImage(cli, tag); err != nil {
		fmt.Fprintln(os.Stderr, "build test image:", err)
		dockerSkip = "could not build the test image: " + err.Error()
		cli.Close()
		return nil
	}
	testImage, dockerCli = tag, cli
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			fmt.Fprintln(os.Stderr, "remove test image:", err)
		}
		cli.Close()
	}
}

// buildImage builds FROM scratch + jobtool with the classic builder from an
// in-memory tar context (no registry involved).
func buildImage(cli *client.Client, tag string) error {
	bin, err := os.ReadFile(jobtoolPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return scratchimage.Build(ctx, cli, tag, "jobtool", bin)
}
