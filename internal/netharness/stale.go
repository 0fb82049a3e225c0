package netharness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// namePrefix starts every name a Net creates: namespaces <id>n<i>, veths
// <id>v<i>, the bridge <id>b, where <id> = namePrefix + pid + a letter.
// Interface names must fit in 15 bytes: 3 + 7 (pid ≤ 4194304) + 1 + 1 + 2.
const namePrefix = "enh"

// nameRE matches any name of any Net and captures the creating pid.
var nameRE = regexp.MustCompile(`^` + namePrefix + `([0-9]+)[a-z]([nvb])[0-9]*$`)

// ownerPid returns the pid encoded in one of our names, or false when the
// name is not one of ours.
func ownerPid(name string) (int, bool) {
	pid, _, ok := parseName(name)
	return pid, ok
}

// parseName splits one of our names into the creating pid and its kind:
// 'n' namespace, 'v' veth, 'b' bridge.
func parseName(name string) (pid int, kind byte, ok bool) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return 0, 0, false
	}
	pid, err := strconv.Atoi(m[1])
	if err != nil || pid <= 0 {
		return 0, 0, false
	}
	return pid, m[2][0], true
}

// pidAlive reports whether a process with this pid exists. A recycled pid
// makes a stale Net look alive: its leftovers then wait for a later run.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// CleanStale removes the namespaces (killing what runs in them), links and
// FORWARD rules of earlier Nets whose process is gone: what a run killed
// by a test timeout or a signal leaves behind. Nets of live processes are
// left alone.
func CleanStale(ctx context.Context, log *slog.Logger) error {
	var errs []error
	dead := func(name string) bool {
		pid, ok := ownerPid(name)
		return ok && !pidAlive(pid)
	}
	rules, err := forwardRules(ctx)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if dead(r.bridge) {
			log.Warn("removing stale FORWARD rule", "rule", r.spec)
			if _, err := run(ctx, "iptables", append([]string{"-w", "-D"}, strings.Fields(r.spec)[1:]...)...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	nss, err := namespaces(ctx)
	if err != nil {
		return err
	}
	for _, ns := range nss {
		if dead(ns) {
			log.Warn("removing stale namespace", "ns", ns)
			killNamespace(ctx, ns)
			if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("netharness: list links: %w", err)
	}
	// Veths first: a bridge goes last so its ports never dangle.
	for _, pass := range []byte{'v', 'b'} {
		for _, ifc := range ifs {
			_, kind, _ := parseName(ifc.Name)
			if dead(ifc.Name) && kind == pass && linkExists(ifc.Name) {
				log.Warn("removing stale link", "link", ifc.Name)
				if _, err := run(ctx, "ip", "link", "del", ifc.Name); err != nil && linkExists(ifc.Name) {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists the namespaces, links and FORWARD rules whose names start
// with id (a Net's ID); empty after a clean Close.
func Leftovers(ctx context.Context, id string) ([]string, error) {
	var left []string
	nss, err := namespaces(ctx)
	if err != nil {
		return nil, err
	}
	for _, ns := range nss {
		if strings.HasPrefix(ns, id) {
			left = append(left, "netns "+ns)
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("netharness: list links: %w", err)
	}
	for _, ifc := range ifs {
		if strings.HasPrefix(ifc.Name, id) {
			left = append(left, "link "+ifc.Name)
		}
	}
	rules, err := forwardRules(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if strings.HasPrefix(r.bridge, id) {
			left = append(left, "iptables "+r.spec)
		}
	}
	return left, nil
}

// namespaces lists the names `ip netns list` shows.
func namespaces(ctx context.Context) ([]string, error) {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		// Lines read "NAME" or "NAME (id: N)".
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

func nsExists(ctx context.Context, name string) bool {
	nss, err := namespaces(ctx)
	if err != nil {
		return true // cannot tell: report the error that brought us here
	}
	for _, ns := range nss {
		if ns == name {
			return true
		}
	}
	return false
}

type forwardRule struct {
	spec   string // as iptables -S prints it: "-A FORWARD -i X -o X -j ACCEPT"
	bridge string // the -i interface
}

// forwardRules returns the host's FORWARD rules that name one of our
// bridges as input interface.
func forwardRules(ctx context.Context) ([]forwardRule, error) {
	out, err := run(ctx, "iptables", "-w", "-S", "FORWARD")
	if err != nil {
		return nil, err
	}
	var rules []forwardRule
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" {
			continue
		}
		for k := 0; k+1 < len(f); k++ {
			if f[k] == "-i" {
				if _, ok := ownerPid(f[k+1]); ok {
					rules = append(rules, forwardRule{spec: strings.Join(f, " "), bridge: f[k+1]})
				}
				break
			}
		}
	}
	return rules, nil
}

// killNamespace SIGKILLs every process inside namespace ns. Processes keep
// a namespace alive after `ip netns del`, with their sockets.
func killNamespace(ctx context.Context, ns string) {
	out, err := run(ctx, "ip", "netns", "pids", ns)
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != self {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Probe checks up front that this process can build a Net: root, the ip and
// iptables tools, a namespace with iptables and the statistic match inside,
// and a bridge. It returns nil or an error wrapping ErrUnsupported that says
// what is missing.
func Probe(ctx context.Context) error {
	unsupported := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
	}
	if os.Geteuid() != 0 {
		return unsupported("needs root (euid %d)", os.Geteuid())
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			return unsupported("%s not found: %v", tool, err)
		}
	}
	if _, err := run(ctx, "iptables", "-w", "-S", "FORWARD"); err != nil {
		return unsupported("iptables on the host: %v", err)
	}
	id := fmt.Sprintf("%s%dz", namePrefix, os.Getpid())
	ns, br := id+"n0", id+"b"
	if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
		return unsupported("cannot create a network namespace: %v", err)
	}
	defer func() { _, _ = run(context.Background(), "ip", "netns", "del", ns) }()
	if _, err := run(ctx, "ip", "netns", "exec", ns, "iptables", "-w", "-A", "INPUT",
		"-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "DROP"); err != nil {
		return unsupported("iptables statistic match inside a namespace: %v", err)
	}
	if _, err := run(ctx, "ip", "link", "add", br, "type", "bridge"); err != nil {
		return unsupported("cannot create a bridge: %v", err)
	}
	if _, err := run(ctx, "ip", "link", "del", br); err != nil {
		return err
	}
	return nil
}
