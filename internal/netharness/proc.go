package netharness

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emc-network/emcd/internal/procattr"
)

// killWait bounds how long Kill waits for a killed process to be reaped.
const killWait = 30 * time.Second

// Proc is a process started inside a namespace by Net.Start.
type Proc struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}

	mu      sync.Mutex
	waitErr error
}

// startProc runs `ip netns exec ns name args...`. ip enters the namespace
// and execs name, so the pid is name's own. The process leads its own
// group (Kill takes its children too) and gets SIGKILL if the harness's
// process dies first (procattr), so a crashed test leaves nothing running.
func startProc(ns, logPath, name string, args ...string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netharness: log file: %w", err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procattr.Group()
	if err := procattr.Start(cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("netharness: start %s in %s: %w", name, ns, err)
	}
	p := &Proc{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Alive reports whether the process has not exited.
func (p *Proc) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// ExitErr returns the process's exit error (nil for a clean exit) once it
// has exited, and nil while it runs.
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// Kill SIGKILLs the process group and waits (bounded) for the process to
// be reaped. It is idempotent.
func (p *Proc) Kill() {
	if !p.Alive() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(killWait):
	}
}

// Tail returns the last n lines of the process's log.
func (p *Proc) Tail(n int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 2*n {
			lines = append(lines[:0], lines[len(lines)-n:]...)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
