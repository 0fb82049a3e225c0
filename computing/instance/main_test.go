package instance_test

// The tests run a real app: testdata/app, built static in TestMain and run
// directly (Process) or from a FROM scratch image built through the Engine
// API (Docker). Docker tests skip, saying why, when no Docker engine
// answers, and under -short.

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
	appPath    string // static test app on the host
	testImage  string // image holding it as /app, "" without Docker
	dockerSkip string
	dockerCli  *client.Client
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if cmd := os.Getenv(parentAppEnv); cmd != "" {
		return runParent(cmd) // TestProcessAppDiesWithNode's stand-in node
	}
	dir, err := os.MkdirTemp("", "emcd-app-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	appPath = filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-trimpath", "-o", appPath, "./testdata/app")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build app: %v\n%s", err, out)
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
	tag := fmt.Sprintf("emcd-instance-test:%d", time.Now().UnixNano())
	if err := buildImage(cli, tag); err != nil {
		dockerSkip = "could not build the test image: " + err.Error()
		cli.Close()
		return nil
	}
	testImage, dockerCli = tag, cli
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		cli.Close()
	}
}

func buildImage(cli *client.Client, tag string) error {
	bin, err := os.ReadFile(appPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return scratchimage.Build(ctx, cli, tag, "app", bin)
}
