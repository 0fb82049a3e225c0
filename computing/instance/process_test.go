package instance_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/instance"
	"github.com/emc-network/emcd/internal/procattr"
)

// parentAppEnv names the app a re-run of this test binary starts with the
// Process runner, as a node would, before it prints the app's address and
// waits to be killed.
const parentAppEnv = "EMCD_TEST_PARENT_APP"

// parentDirEnv is its runner's dir, under the test's temp dir.
const parentDirEnv = "EMCD_TEST_PARENT_DIR"

func runParent(app string) int {
	r, err := (&instance.Process{Dir: os.Getenv(parentDirEnv)}).Start(context.Background(), &instance.Spec{ID: 1, Command: app}, &gpu.Allocation{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(r.Addr())
	select {}
}

// TestProcessAppDiesWithNode: a node killed by SIGKILL cannot stop its
// apps; the kernel must (Linux's parent-death signal), or they run on with
// nobody to stop them.
func TestProcessAppDiesWithNode(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	node := exec.Command(os.Args[0], "-test.run=^$")
	node.Env = append(os.Environ(), parentAppEnv+"="+appPath, parentDirEnv+"="+t.TempDir())
	node.Stderr = os.Stderr
	out, err := node.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	node.SysProcAttr = procattr.Group() // it goes if this test binary dies first
	if err := procattr.Start(node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Process.Kill(); _ = node.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the stand-in node printed no address: %v", err)
	}
	addr := strings.TrimSpace(line)
	// Should the app survive, stop it anyway.
	t.Cleanup(func() { _, _ = http.Post("http://"+addr+"/exit", "text/plain", nil) })
	answers := func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !answers() {
		if time.Now().After(deadline) {
			t.Fatalf("the app at %s never answered", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := node.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = node.Wait()
	for deadline = time.Now().Add(10 * time.Second); answers(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the app at %s still answers 10 s after its node was killed", addr)
		}
	}
}
