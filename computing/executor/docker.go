package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/emc-network/emcd/computing/job"
)

// DockerConfig configures the Docker executor.
type DockerConfig struct {
	Config
	// Client talks to the daemon; nil means client.New(client.FromEnv).
	Client *client.Client
	// User is the uid:gid jobs run as (default 65534:65534, nobody).
	User string
	// TmpfsBytes sizes the job's writable /tmp (default 64 MiB; it counts
	// against the memory limit).
	TmpfsBytes int64
	// GPUDriver is the device driver GPUs are requested from (default
	// "nvidia", the NVIDIA container toolkit).
	GPUDriver string
}

// Docker runs jobs in containers through the Docker Engine API.
type Docker struct {
	cfg DockerConfig
	cli *client.Client
}

var _ Executor = (*Docker)(nil)

// Paths inside the container.
const (
	containerInDir  = "/job/in"
	containerOutDir = "/job/out"
	// jobLabel marks containers this executor created.
	jobLabel = "network.emc.job"
)

// NewDocker returns a Docker executor. It does not contact the daemon.
func NewDocker(cfg DockerConfig) (*Docker, error) {
	cfg.fill()
	cfg.Logger = cfg.Logger.With("component", "executor", "executor", "docker")
	if cfg.User == "" {
		cfg.User = "65534:65534"
	}
	if cfg.TmpfsBytes <= 0 {
		cfg.TmpfsBytes = 64 << 20
	}
	if cfg.GPUDriver == "" {
		cfg.GPUDriver = "nvidia"
	}
	cli := cfg.Client
	if cli == nil {
		var err error
		if cli, err = client.New(client.FromEnv); err != nil {
			return nil, fmt.Errorf("executor: docker client: %w", err)
		}
	}
	return &Docker{cfg: cfg, cli: cli}, nil
}

// Close closes the client.
func (d *Docker) Close() error { return d.cli.Close() }

// Ping checks the daemon answers.
func (d *Docker) Ping(ctx context.Context) error {
	if _, err := d.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return daemonErr(err)
	}
	return nil
}

// LoadImage loads images from a `docker save` tarball through the API (the
// only way images reach a node: nothing is pulled).
func (d *Docker) LoadImage(ctx context.Context, tarball io.Reader) error {
	_, err := d.LoadImages(ctx, tarball)
	return err
}

// LoadImages is LoadImage returning the IDs (sha256:<hex>) of the images
// the tarball held, as the daemon reports them.
func (d *Docker) LoadImages(ctx context.Context, tarball io.Reader) ([]string, error) {
	res, err := d.cli.ImageLoad(ctx, tarball, client.ImageLoadWithQuiet(true))
	if err != nil {
		return nil, fmt.Errorf("executor: load image: %w", daemonErr(err))
	}
	defer res.Close()
	// The daemon streams JSON messages; an error arrives as one of them,
	// each image as "Loaded image: NAME" or "Loaded image ID: ID".
	var refs []string
	dec := json.NewDecoder(io.LimitReader(res, 1<<20))
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("executor: load image: %w", err)
		}
		if msg.Error != "" {
			return nil, fmt.Errorf("executor: load image: %s", msg.Error)
		}
		line := strings.TrimSpace(msg.Stream)
		if ref, ok := strings.CutPrefix(line, "Loaded image ID: "); ok {
			refs = append(refs, ref)
		} else if ref, ok := strings.CutPrefix(line, "Loaded image: "); ok {
			refs = append(refs, ref)
		}
	}
	ids := make([]string, 0, len(refs))
	for _, ref := range refs {
		insp, err := d.cli.ImageInspect(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("executor: inspect loaded image %s: %w", ref, daemonErr(err))
		}
		ids = append(ids, insp.ID)
	}
	return ids, nil
}

// Run runs the job in a fresh container and removes it afterwards.
func (d *Docker) Run(ctx context.Context, spec *job.Spec) (*job.Result, error) {
	if spec.Image == "" {
		return nil, fmt.Errorf("%w: docker executor needs an image", ErrWrongKind)
	}
	specHash, alloc, release, err := prepare(&d.cfg.Config, spec)
	if err != nil {
		return nil, err
	}
	defer release()
	log := d.cfg.Logger.With("job", spec.ID)

	if _, err := d.cli.ImageInspect(ctx, spec.Image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrImageNotFound, spec.Image)
		}
		return nil, fmt.Errorf("executor: inspect image %s: %w", spec.Image, daemonErr(err))
	}
	sc, err := newScratch(d.cfg.ScratchDir, spec.ID)
	if err != nil {
		return nil, err
	}
	defer sc.remove()
	if err := stageInputs(d.cfg.Store, sc.in, spec.Inputs); err != nil {
		return nil, err
	}
	if err := d.makeWritable(sc.out); err != nil {
		return nil, err
	}

	cfg, hostCfg := d.containerConfig(spec, sc, alloc.Simulated(), alloc.UUIDs(), gpuEnv(alloc))
	created, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: hostCfg})
	if err != nil {
		return nil, fmt.Errorf("executor: create container: %w", daemonErr(err))
	}
	id := created.ID
	log = log.With("container", id[:min(12, len(id))])
	// Whatever happens next, the container goes. A fresh context: the
	// job's may be canceled already.
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := d.cli.ContainerRemove(rctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			log.Warn("could not remove container", "err", err)
		}
	}()

	// Attach before start so no output is missed; the stream comes from the
	// container's stdio, not the (size-capped, rotating) log file.
	stdout, stderr := newTail(d.cfg.LogTailBytes), newTail(d.cfg.LogTailBytes)
	att, err := d.cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, fmt.Errorf("executor: attach container: %w", daemonErr(err))
	}
	defer att.Close()
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		_, _ = stdcopy.StdCopy(stdout, stderr, att.Reader)
	}()

	runCtx, cancel := context.WithTimeout(ctx, spec.Timeout())
	defer cancel()
	wait := d.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	started := d.cfg.Now()
	if _, err := d.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return nil, fmt.Errorf("executor: start container: %w", daemonErr(err))
	}

	var cpu cpuSampler
	statsCtx, stopStats := context.WithCancel(ctx)
	statsDone := make(chan struct{})
	go func() { defer close(statsDone); cpu.run(statsCtx, d.cli, id) }()

	var killMu sync.Mutex
	var killedFor job.Status
	kill := func(why job.Status) {
		killMu.Lock()
		if killedFor == "" {
			killedFor = why
		}
		killMu.Unlock()
		kctx, kcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer kcancel()
		if _, err := d.cli.ContainerKill(kctx, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
			log.Debug("kill", "err", err)
		}
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		watchOutputs(watchCtx, sc.out, spec.MaxOutputBytes, d.cfg.OutputPollInterval, func() { kill(job.StatusOutputLimit) })
	}()

	var waitErr error
	stop := false
	select {
	case res := <-wait.Result:
		// A daemon that gave up the wait answers with an error, not an
		// exit.
		if res.Error != nil && res.Error.Message != "" {
			waitErr = fmt.Errorf("the daemon ended the wait: %s", res.Error.Message)
		}
	case waitErr = <-wait.Error:
	case <-runCtx.Done():
	}
	// The wait is bound to the job's context: when that ends, the wait's
	// answer and runCtx.Done may come in the same instant and select may
	// take either. A job whose context ended is killed whatever the wait
	// said: a running container must not be reported as exit code 0.
	if runCtx.Err() != nil {
		waitErr, stop = nil, true
	}
	if stop {
		if ctx.Err() != nil {
			kill(job.StatusCanceled)
		} else {
			kill(job.StatusTimedOut)
		}
		// The wait was bound to ctx; wait again for the kill to land.
		w2ctx, w2cancel := context.WithTimeout(context.Background(), 30*time.Second)
		w2 := d.cli.ContainerWait(w2ctx, id, client.ContainerWaitOptions{})
		select {
		case <-w2.Result:
		case waitErr = <-w2.Error:
		}
		w2cancel()
	}
	stopWatch()
	<-watchDone
	finished := d.cfg.Now()
	stopStats()
	<-statsDone
	if waitErr != nil && !errors.Is(waitErr, context.Canceled) {
		return nil, fmt.Errorf("executor: wait for container: %w", daemonErr(waitErr))
	}

	ictx, icancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer icancel()
	insp, err := d.cli.ContainerInspect(ictx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("executor: inspect container: %w", daemonErr(err))
	}
	r := &job.Result{
		JobID:      spec.ID,
		SpecSHA256: specHash,
		Executor:   "docker",
		GPUUUIDs:   alloc.UUIDs(),
		CPUMillis:  cpu.millis(),
	}
	r.SetTimes(started, finished)
	if st := insp.Container.State; st != nil {
		if st.Running {
			// The wait said it exited and nothing stopped it: no exit code
			// to report (the deferred remove kills it).
			return nil, fmt.Errorf("executor: container still running after its wait returned (status %s)", st.Status)
		}
		r.ExitCode = st.ExitCode
		r.OOMKilled = st.OOMKilled
	}
	killMu.Lock()
	r.Status = killedFor
	killMu.Unlock()
	if r.Status == "" {
		r.Status = job.StatusSucceeded
		if r.ExitCode != 0 || r.OOMKilled {
			r.Status = job.StatusFailed
		}
	}
	select {
	case <-logsDone:
	case <-time.After(5 * time.Second):
		log.Warn("container output stream did not end after exit")
	}
	if err := finish(&d.cfg.Config, r, sc, spec, stdout, stderr); err != nil {
		return nil, err
	}
	log.Info("job finished", "status", r.Status, "exit_code", r.ExitCode, "oom_killed", r.OOMKilled, "wall_ms", r.WallMillis, "record", r.RecordSHA256)
	return r, nil
}

// containerConfig is the whole sandbox: read it as the security policy.
func (d *Docker) containerConfig(spec *job.Spec, sc *scratch, simulated bool, uuids, gpuEnv []string) (*container.Config, *container.HostConfig) {
	env := append(append([]string{
		"EMC_JOB_ID=" + spec.ID,
		"EMC_INPUT_DIR=" + containerInDir,
		"EMC_OUTPUT_DIR=" + containerOutDir,
		"HOME=/tmp",
	}, gpuEnv...), specEnv(spec)...)
	cfg := &container.Config{
		Image:           spec.Image,
		Cmd:             spec.Args,
		Env:             env,
		User:            d.cfg.User,
		WorkingDir:      containerOutDir,
		NetworkDisabled: !spec.Network,
		Labels:          map[string]string{jobLabel: spec.ID},
	}
	if spec.Command != "" {
		cfg.Entrypoint = []string{spec.Command}
	}
	sb := Sandbox{Network: spec.Network, TmpfsBytes: d.cfg.TmpfsBytes, LogTailBytes: d.cfg.LogTailBytes,
		PidsLimit: spec.PidsLimit, CPUMillicores: spec.CPUMillicores, MemoryBytes: spec.MemoryBytes, GPUDriver: d.cfg.GPUDriver}
	if !simulated {
		sb.GPUUUIDs = uuids
	}
	host := sb.HostConfig()
	host.Mounts = []mount.Mount{
		{Type: mount.TypeBind, Source: sc.in, Target: containerInDir, ReadOnly: true},
		{Type: mount.TypeBind, Source: sc.out, Target: containerOutDir},
	}
	return cfg, host
}

// makeWritable lets the job's user write the output dir: chown when the
// node runs as root, else open it up (its parent is private to the node).
func (d *Docker) makeWritable(dir string) error {
	uid, gid, ok := strings.Cut(d.cfg.User, ":")
	u, err1 := strconv.Atoi(uid)
	g, err2 := strconv.Atoi(gid)
	if ok && err1 == nil && err2 == nil && os.Geteuid() == 0 {
		if err := os.Chown(dir, u, g); err == nil {
			return nil
		}
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("executor: scratch: %w", err)
	}
	return nil
}

// cpuSampler follows the container's stats stream and keeps the latest
// cumulative CPU time. The daemon drops the cgroup at exit, so the last
// second or so of CPU use may be missing.
type cpuSampler struct {
	mu   sync.Mutex
	nano uint64
}

func (c *cpuSampler) run(ctx context.Context, cli *client.Client, id string) {
	res, err := cli.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
	if err != nil {
		return
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			return
		}
		c.mu.Lock()
		c.nano = max(c.nano, s.CPUStats.CPUUsage.TotalUsage)
		c.mu.Unlock()
	}
}

func (c *cpuSampler) millis() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(c.nano / 1e6)
}

// daemonErr marks connection failures as ErrDaemonUnavailable.
func daemonErr(err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%w: %w", ErrDaemonUnavailable, err)
	}
	return err
}

// HasImage reports whether the daemon holds image ref (a name or an image
// ID such as sha256:<hex>).
func (d *Docker) HasImage(ctx context.Context, ref string) (bool, error) {
	if _, err := d.cli.ImageInspect(ctx, ref); err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("executor: inspect image %s: %w", ref, daemonErr(err))
	}
	return true, nil
}

// RemoveJob force-removes every container this executor made for job id
// (its label): the leftovers of a run whose node stopped. It returns how
// many it removed.
func (d *Docker) RemoveJob(ctx context.Context, jobID string) (int, error) {
	list, err := d.cli.ContainerList(ctx, client.ContainerListOptions{
		All: true, Filters: make(client.Filters).Add("label", jobLabel+"="+jobID),
	})
	if err != nil {
		return 0, fmt.Errorf("executor: list containers: %w", daemonErr(err))
	}
	n := 0
	for _, c := range list.Items {
		if _, err := d.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return n, fmt.Errorf("executor: remove container %s: %w", c.ID, daemonErr(err))
		}
		n++
	}
	return n, nil
}
