package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/gpu"
	"github.com/emc-network/emcd/computing/job"
)

// State is an instance's place in its life on this node.
type State string

const (
	// StateStarting: the app is starting and not yet healthy.
	StateStarting State = "starting"
	// StateReady: the health path answered 2xx; calls are relayed.
	StateReady State = "ready"
	// StateFailed: it did not become healthy in time, or exited on its
	// own (there is no restart: the router may place it elsewhere).
	StateFailed State = "failed"
	// StateStopped: stopped on lease end, on request or at shutdown.
	StateStopped State = "stopped"
)

// Terminal reports whether s is an end state.
func (s State) Terminal() bool { return s == StateFailed || s == StateStopped }

// Spec is what a node needs to run one app instance.
type Spec struct {
	ID uint64
	// Image is the app's image (Docker runner): an ID (sha256:...) or a
	// name present locally. Nothing is pulled.
	Image string
	// Command and Args run the app (Process runner; for Docker they
	// override the image's entrypoint and command when set).
	Command string
	Args    []string
	Env     map[string]string
	// Port is the port the app listens on inside its container (Docker).
	// The Process runner picks a free port on 127.0.0.1 and passes it as
	// $PORT instead.
	Port uint16
	// HealthPath is polled (GET) until it answers 2xx.
	HealthPath string
	// KeyHash is the hash of the instance's API key (KeyHash): calls must
	// carry a key that hashes to it.
	KeyHash common.Hash
	// Until is the lease's end: the instance is stopped then.
	Until time.Time
	// Resources, as for jobs (job.Spec); zero means the job defaults
	// where they apply.
	GPUCount          int
	MinGPUMemoryBytes int64
	CPUMillicores     int64
	MemoryBytes       int64
	PidsLimit         int64
}

// Validate checks a spec's fields.
func (s *Spec) Validate() error {
	switch {
	case s.Image == "" && s.Command == "":
		return errors.New("instance: spec needs an image or a command")
	case s.HealthPath == "" || s.HealthPath[0] != '/' || len(s.HealthPath) > MaxPath || !validTarget(s.HealthPath):
		return fmt.Errorf("instance: bad health path %q", clip(s.HealthPath))
	case s.Image != "" && s.Port == 0:
		return errors.New("instance: a container app needs its port")
	case s.Until.IsZero():
		return errors.New("instance: spec needs a lease end")
	case s.GPUCount < 0 || s.GPUCount > 64 || s.CPUMillicores < 0 || s.MemoryBytes < 0 || s.PidsLimit < 0 || s.PidsLimit > 1<<22:
		return errors.New("instance: bad resource limits")
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("instance: bad env name %q", clip(k))
		}
	}
	return nil
}

// jobName is the name the instance goes by in GPU allocations, container
// labels and logs.
func (s *Spec) jobName() string { return "app-" + strconv.FormatUint(s.ID, 10) }

// Running is one started app.
type Running interface {
	// Addr says where the app listens, for logs and status.
	Addr() string
	// Dial connects to the app's port (every call and health check goes
	// through it).
	Dial(ctx context.Context) (net.Conn, error)
	// Exited is closed when the app exits on its own (or is stopped).
	Exited() <-chan struct{}
	// Stop stops the app and removes what was made for it; it is safe to
	// call more than once.
	Stop(ctx context.Context) error
	// Logs returns the tails of the app's stdout and stderr.
	Logs() (stdout, stderr string)
}

// Runner starts apps: Docker (isolated, docker.go) or a child process
// (tests and development only, process.go).
type Runner interface {
	Start(ctx context.Context, spec *Spec, gpus *gpu.Allocation) (Running, error)
}

// Change is one state change, as told to Config.OnChange.
type Change struct {
	ID     uint64
	State  State
	Reason string
	At     time.Time
}

// Status is one instance as Manager.List shows it.
type Status struct {
	ID      uint64    `json:"id"`
	State   State     `json:"state"`
	Addr    string    `json:"addr,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Until   time.Time `json:"until"`
	Started time.Time `json:"started"`
}

// Manager defaults.
const (
	DefaultReadyTimeout   = 5 * time.Minute
	DefaultHealthInterval = 250 * time.Millisecond
	DefaultStopTimeout    = 30 * time.Second
	// keptEnded bounds how many ended instances the manager remembers.
	keptEnded = 1024
)

// Config configures a Manager.
type Config struct {
	Runner Runner
	// GPUs allocates GPUs (nil: the node has none).
	GPUs *gpu.Allocator
	// OnChange is called, in order for each instance, on every state
	// change (nil: none). It must not call back into the Manager.
	OnChange func(Change)
	// ReadyTimeout bounds the wait for the health path (default
	// DefaultReadyTimeout: model weights take a while to load).
	ReadyTimeout time.Duration
	// HealthInterval is the health poll's period (default 250ms).
	HealthInterval time.Duration
	Now            func() time.Time
	Log            *slog.Logger
}

// Manager runs this node's app instances: start, health check until
// ready, stop on lease end or request; it never restarts one.
type Manager struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	insts  map[uint64]*inst
	ended  []uint64
}

type inst struct {
	spec    Spec
	state   State
	reason  string
	addr    string
	dial    func(context.Context) (net.Conn, error)
	started time.Time
	stop    chan struct{}
	once    sync.Once
}

// ErrExists is returned by Start for an id already started here.
var ErrExists = errors.New("instance: already started on this node")

// ErrUnknown is returned by Stop for an id this node does not run.
var ErrUnknown = errors.New("instance: not on this node")

// NewManager checks cfg and builds a manager.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Runner == nil {
		return nil, errors.New("instance: manager needs a runner")
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg: cfg, log: cfg.Log.With("component", "instances"), ctx: ctx, cancel: cancel,
		insts: make(map[uint64]*inst),
	}, nil
}

// Start starts an instance in the background: it is starting until its
// health path answers, then ready; OnChange hears each step.
func (m *Manager) Start(spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if !spec.Until.After(m.cfg.Now()) {
		return fmt.Errorf("instance: lease of %d ended at %s", spec.ID, spec.Until.UTC().Format(time.RFC3339))
	}
	spec.Args = append([]string(nil), spec.Args...)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("instance: manager closed")
	}
	if _, ok := m.insts[spec.ID]; ok {
		m.mu.Unlock()
		return fmt.Errorf("%w: %d", ErrExists, spec.ID)
	}
	in := &inst{spec: spec, state: StateStarting, started: m.cfg.Now(), stop: make(chan struct{})}
	m.insts[spec.ID] = in
	m.wg.Add(1)
	m.mu.Unlock()
	m.notify(in, StateStarting, "")
	go m.run(in)
	return nil
}

// Stop stops an instance (the lease was stopped on chain).
func (m *Manager) Stop(id uint64) error {
	m.mu.Lock()
	in, ok := m.insts[id]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknown, id)
	}
	in.once.Do(func() { close(in.stop) })
	return nil
}

// Target implements Local.
func (m *Manager) Target(id uint64) (Target, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.insts[id]
	if !ok {
		return Target{}, false
	}
	return Target{Addr: in.addr, Dial: in.dial, KeyHash: in.spec.KeyHash, State: in.state}, true
}

// List returns every instance the manager knows, running or ended.
func (m *Manager) List() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.insts))
	for _, in := range m.insts {
		out = append(out, Status{ID: in.spec.ID, State: in.state, Addr: in.addr, Reason: in.reason, Until: in.spec.Until, Started: in.started})
	}
	return out
}

// Close stops every instance and waits for them.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}

// run is one instance's life.
func (m *Manager) run(in *inst) {
	defer m.wg.Done()
	spec := &in.spec
	log := m.log.With("instance", spec.ID)
	var alloc *gpu.Allocation
	if spec.GPUCount > 0 {
		if m.cfg.GPUs == nil {
			m.end(in, StateFailed, fmt.Sprintf("asks for %d GPUs, node has none", spec.GPUCount))
			return
		}
		a, err := m.cfg.GPUs.Allocate(spec.jobName(), spec.GPUCount, spec.MinGPUMemoryBytes)
		if err != nil {
			m.end(in, StateFailed, err.Error())
			return
		}
		alloc = a
		defer m.cfg.GPUs.Release(spec.jobName())
	} else {
		alloc = &gpu.Allocation{JobID: spec.jobName()}
	}
	lease := time.NewTimer(max(spec.Until.Sub(m.cfg.Now()), 0))
	defer lease.Stop()
	r, err := m.cfg.Runner.Start(m.ctx, spec, alloc)
	if err != nil {
		log.Warn("app did not start", "err", err)
		m.end(in, StateFailed, err.Error())
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultStopTimeout)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			log.Warn("app did not stop cleanly", "err", err)
		}
	}()
	m.mu.Lock()
	in.addr, in.dial = r.Addr(), r.Dial
	m.mu.Unlock()
	health := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: nil, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return r.Dial(ctx) },
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer health.CloseIdleConnections()

	// Health: poll until 2xx, the ready timeout, an exit, a stop or the
	// lease's end.
	ready := time.NewTimer(m.cfg.ReadyTimeout)
	defer ready.Stop()
	tick := time.NewTicker(m.cfg.HealthInterval)
	defer tick.Stop()
	url := "http://app" + spec.HealthPath
	for healthy := false; !healthy; {
		select {
		case <-tick.C:
			healthy = m.healthy(health, url)
		case <-ready.C:
			m.end(in, StateFailed, fmt.Sprintf("not healthy within %v", m.cfg.ReadyTimeout))
			logTails(log, r)
			return
		case <-r.Exited():
			m.end(in, StateFailed, "exited before it was healthy")
			logTails(log, r)
			return
		case <-in.stop:
			m.end(in, StateStopped, "stopped")
			return
		case <-lease.C:
			m.end(in, StateStopped, "lease ended")
			return
		case <-m.ctx.Done():
			m.end(in, StateStopped, "node shutting down")
			return
		}
	}
	m.set(in, StateReady, "")
	log.Info("app ready", "addr", r.Addr())
	select {
	case <-r.Exited():
		m.end(in, StateFailed, "exited")
		logTails(log, r)
	case <-in.stop:
		m.end(in, StateStopped, "stopped")
	case <-lease.C:
		m.end(in, StateStopped, "lease ended")
	case <-m.ctx.Done():
		m.end(in, StateStopped, "node shutting down")
	}
}

func (m *Manager) healthy(client *http.Client, url string) bool {
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

func logTails(log *slog.Logger, r Running) {
	out, errs := r.Logs()
	log.Warn("app ended", "stdout_tail", out, "stderr_tail", errs)
}

func (m *Manager) set(in *inst, s State, reason string) {
	m.mu.Lock()
	in.state, in.reason = s, reason
	m.mu.Unlock()
	m.notify(in, s, reason)
}

// end moves in to an end state and forgets the oldest ended instances
// past keptEnded.
func (m *Manager) end(in *inst, s State, reason string) {
	m.mu.Lock()
	in.state, in.reason = s, reason
	m.ended = append(m.ended, in.spec.ID)
	if len(m.ended) > keptEnded {
		delete(m.insts, m.ended[0])
		m.ended = m.ended[1:]
	}
	m.mu.Unlock()
	m.notify(in, s, reason)
}

func (m *Manager) notify(in *inst, s State, reason string) {
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(Change{ID: in.spec.ID, State: s, Reason: reason, At: m.cfg.Now()})
	}
}

// defaults for resources a spec leaves zero, as for jobs.
func pidsLimit(s *Spec) int64 {
	if s.PidsLimit > 0 {
		return s.PidsLimit
	}
	return job.DefaultPidsLimit
}
