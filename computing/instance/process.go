package instance

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/internal/procattr"
)

// Process runs an app as a child process, for development and tests only:
// like executor.Process it promises no isolation (the app has the node's
// network, user and files; memory, CPU and pids limits are not enforced).
// It gives the app a free port on 127.0.0.1 as $PORT (and $HOST), its own
// working dir, a clean environment and its own process group, which Stop
// kills whole.
type Process struct {
	// Dir holds one working dir per instance (removed on Stop).
	Dir string
	// LogTailBytes is how much of the end of stdout and of stderr is kept
	// (default 16 KiB).
	LogTailBytes int
	Log          *slog.Logger
}

var _ Runner = (*Process)(nil)

// Start implements Runner.
func (p *Process) Start(_ context.Context, spec *Spec, alloc *gpu.Allocation) (Running, error) {
	if spec.Command == "" {
		return nil, fmt.Errorf("instance: the process runner needs a command")
	}
	if (spec.MemoryBytes > 0 || spec.CPUMillicores > 0) && p.Log != nil {
		p.Log.Warn("process runner does not enforce memory or CPU limits", "instance", spec.ID)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("instance: %w", err)
	}
	dir, err := os.MkdirTemp(p.Dir, spec.jobName()+"-")
	if err != nil {
		return nil, fmt.Errorf("instance: %w", err)
	}
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + dir,
		"HOST=127.0.0.1",
		"PORT=" + strconv.Itoa(port),
		"EMC_INSTANCE_ID=" + strconv.FormatUint(spec.ID, 10),
		"EMC_GPU_UUIDS=" + strings.Join(alloc.UUIDs(), ","),
	}
	env = append(env, sortedEnv(spec.Env)...)
	n := p.LogTailBytes
	if n <= 0 {
		n = 16 << 10
	}
	cmd := exec.Command(spec.Command, spec.Args...)
	cmd.Dir, cmd.Env = dir, env
	out, errs := newTail(n), newTail(n)
	cmd.Stdout, cmd.Stderr = out, errs
	// Its own process group, so a kill reaches every child it forked; on
	// Linux it dies with the node.
	cmd.SysProcAttr = procattr.Group()
	cmd.WaitDelay = time.Second
	if err := procattr.Start(cmd); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("instance: start %s: %w", spec.Command, err)
	}
	r := &process{cmd: cmd, dir: dir, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited: make(chan struct{}), out: out, errs: errs}
	go func() {
		_ = cmd.Wait()
		close(r.exited)
	}()
	return r, nil
}

type process struct {
	cmd       *exec.Cmd
	dir, addr string
	exited    chan struct{}
	out, errs *tail
	once      sync.Once
}

func (r *process) Addr() string { return r.addr }

// Dial connects to the app's port on 127.0.0.1.
func (r *process) Dial(ctx context.Context) (net.Conn, error) {
	return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", r.addr)
}

func (r *process) Exited() <-chan struct{} { return r.exited }
func (r *process) Logs() (string, string)  { return r.out.String(), r.errs.String() }

// Stop sends SIGTERM to the group, SIGKILL if it has not exited when ctx
// ends or after 5 seconds, and removes the working dir.
func (r *process) Stop(ctx context.Context) error {
	r.once.Do(func() {
		pgid := -r.cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-r.exited:
		case <-t.C:
		case <-ctx.Done():
		}
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-r.exited
		os.RemoveAll(r.dir)
	})
	return nil
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process
// could take it before the app binds it; the app then fails its health
// check and the instance fails, it is never connected elsewhere.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("instance: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func sortedEnv(m map[string]string) []string {
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// tail keeps the last n bytes written to it.
type tail struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.n; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.buf), "\uFFFD")
}
