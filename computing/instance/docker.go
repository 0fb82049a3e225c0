package instance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/emc-network/emcd/computing/executor"
	"github.com/emc-network/emcd/computing/gpu"
)

// Docker runs apps as containers through the Docker Engine API, in the
// jobs' sandbox (computing/executor.Docker; the policy is in
// containerConfig), with no network at all (--network none: a loopback
// only). The node reaches the app's port by dialing 127.0.0.1:PORT from
// inside the container's network namespace (dialInNetns), so no address
// anywhere leads to the app and the app can reach nothing, not even the
// host. That needs the node on the Docker host with CAP_SYS_ADMIN; Start
// says so when it is not.
type Docker struct {
	Client *client.Client
	// User is the uid:gid apps run as (default 65534:65534, nobody).
	User string
	// TmpfsBytes sizes the app's writable /tmp (default 64 MiB).
	TmpfsBytes int64
	// GPUDriver is the device driver GPUs are requested from (default
	// "nvidia").
	GPUDriver string
	// LogTailBytes is how much of the end of stdout and stderr is kept
	// (default 16 KiB); Docker's own log file is capped at 4x that.
	LogTailBytes int
	Log          *slog.Logger
}

var _ Runner = (*Docker)(nil)

// Labels on what the runner makes.
const appLabel = "network.emc.app-instance"

// Start implements Runner.
func (d *Docker) Start(ctx context.Context, spec *Spec, alloc *gpu.Allocation) (Running, error) {
	if spec.Image == "" {
		return nil, errors.New("instance: the docker runner needs an image")
	}
	if d.Client == nil {
		return nil, errors.New("instance: the docker runner needs a client")
	}
	if _, err := d.Client.ImageInspect(ctx, spec.Image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("instance: image %s is not on this node (nothing is pulled)", spec.Image)
		}
		return nil, fmt.Errorf("instance: inspect image %s: %w", spec.Image, err)
	}
	if err := checkNetns(); err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := spec.jobName() + "-" + hex.EncodeToString(b[:])
	labels := map[string]string{appLabel: strconv.FormatUint(spec.ID, 10)}
	r := &container_{cli: d.Client, exited: make(chan struct{}), log: d.logger()}
	n := d.LogTailBytes
	if n <= 0 {
		n = 16 << 10
	}
	r.out, r.errs = newTail(n), newTail(n)
	cfg, host := d.containerConfig(spec, alloc, labels, n)
	created, err := d.Client.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: host})
	if err != nil {
		return nil, fmt.Errorf("instance: create container: %w", err)
	}
	r.id = created.ID
	att, err := d.Client.ContainerAttach(ctx, r.id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		r.Stop(context.Background())
		return nil, fmt.Errorf("instance: attach container: %w", err)
	}
	go func() {
		defer att.Close()
		_, _ = stdcopy.StdCopy(r.out, r.errs, att.Reader)
	}()
	if _, err := d.Client.ContainerStart(ctx, r.id, client.ContainerStartOptions{}); err != nil {
		r.Stop(context.Background())
		return nil, fmt.Errorf("instance: start container: %w", err)
	}
	insp, err := d.Client.ContainerInspect(ctx, r.id, client.ContainerInspectOptions{})
	if err != nil {
		r.Stop(context.Background())
		return nil, fmt.Errorf("instance: inspect container: %w", err)
	}
	if insp.Container.State == nil || insp.Container.State.Pid <= 0 {
		r.Stop(context.Background())
		return nil, errors.New("instance: the container is not running")
	}
	// Hold the namespace open: it outlives a restarted pid number and is
	// what every dial joins.
	if r.netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", insp.Container.State.Pid)); err != nil {
		r.Stop(context.Background())
		return nil, fmt.Errorf("instance: the container's network namespace (is the node on the Docker host?): %w", err)
	}
	r.port = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(spec.Port)))
	r.addr = "container " + r.id[:12] + " " + r.port
	waitCtx, cancel := context.WithCancel(context.Background())
	r.stopWait = cancel
	go func() {
		defer close(r.exited)
		w := d.Client.ContainerWait(waitCtx, r.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case <-w.Result:
		case <-w.Error:
		}
	}()
	return r, nil
}

func (d *Docker) logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// containerConfig is the sandbox: read it as the security policy. It is
// the jobs' (executor.Docker.containerConfig) without mounts, with
// restart policy "no".
func (d *Docker) containerConfig(spec *Spec, alloc *gpu.Allocation, labels map[string]string, logTail int) (*container.Config, *container.HostConfig) {
	user := d.User
	if user == "" {
		user = "65534:65534"
	}
	tmpfs := d.TmpfsBytes
	if tmpfs <= 0 {
		tmpfs = 64 << 20
	}
	env := []string{
		"HOME=/tmp",
		"PORT=" + strconv.Itoa(int(spec.Port)),
		"EMC_INSTANCE_ID=" + strconv.FormatUint(spec.ID, 10),
	}
	uuids := alloc.UUIDs()
	if len(uuids) > 0 && !alloc.Simulated() {
		ids := strings.Join(uuids, ",")
		env = append(env, "EMC_GPU_UUIDS="+ids, "CUDA_VISIBLE_DEVICES="+ids, "NVIDIA_VISIBLE_DEVICES="+ids)
	}
	env = append(env, sortedEnv(spec.Env)...)
	cfg := &container.Config{
		Image:           spec.Image,
		Cmd:             spec.Args,
		Env:             env,
		User:            user,
		Labels:          labels,
		NetworkDisabled: true,
	}
	if spec.Command != "" {
		cfg.Entrypoint = []string{spec.Command}
	}
	// The jobs' sandbox, with no network and no restart.
	sb := executor.Sandbox{TmpfsBytes: tmpfs, LogTailBytes: logTail, PidsLimit: pidsLimit(spec),
		CPUMillicores: spec.CPUMillicores, MemoryBytes: spec.MemoryBytes, GPUDriver: d.GPUDriver}
	if len(uuids) > 0 && !alloc.Simulated() {
		if sb.GPUDriver == "" {
			sb.GPUDriver = "nvidia"
		}
		sb.GPUUUIDs = uuids
	}
	host := sb.HostConfig()
	host.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyDisabled}
	return cfg, host
}

// container_ is one running app container and its network.
type container_ struct {
	cli       *client.Client
	id        string
	netns     *os.File
	port      string
	addr      string
	exited    chan struct{}
	stopWait  context.CancelFunc
	out, errs *tail
	log       *slog.Logger
	once      sync.Once
	err       error
}

func (c *container_) Addr() string { return c.addr }

// Dial connects to the app's port inside its network namespace.
func (c *container_) Dial(ctx context.Context) (net.Conn, error) {
	return dialInNetns(ctx, c.netns, c.port)
}

func (c *container_) Exited() <-chan struct{} { return c.exited }
func (c *container_) Logs() (string, string)  { return c.out.String(), c.errs.String() }

// Stop stops the container (SIGTERM, SIGKILL after 5 s) and removes it.
func (c *container_) Stop(ctx context.Context) error {
	c.once.Do(func() {
		if ctx.Err() != nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.Background(), DefaultStopTimeout)
			defer cancel()
		}
		var errs []error
		if c.id != "" {
			timeout := 5
			if _, err := c.cli.ContainerStop(ctx, c.id, client.ContainerStopOptions{Timeout: &timeout}); err != nil && !cerrdefs.IsNotFound(err) {
				c.log.Debug("stop container", "err", err)
			}
			if _, err := c.cli.ContainerRemove(ctx, c.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("instance: remove container: %w", err))
			}
		}
		if c.stopWait != nil {
			select {
			case <-c.exited:
			case <-time.After(5 * time.Second):
				c.stopWait()
			}
		}
		if c.netns != nil {
			c.netns.Close()
		}
		c.err = errors.Join(errs...)
	})
	return c.err
}
