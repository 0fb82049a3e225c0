package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	pb "github.com/emc-network/emcd/operator/proto/emcd/operator/v1"
)

// Errors the server returns; errorCodes maps each to its gRPC code.
var (
	// ErrNotReady is what a Backend wraps when the part of the node a call
	// reads is not running yet. Clients see UNAVAILABLE.
	ErrNotReady = errors.New("operator: not ready")
	// ErrSlowConsumer ends a WatchHeads stream whose client fell
	// Config.HeadBuffer heads behind. Clients see RESOURCE_EXHAUSTED.
	ErrSlowConsumer = errors.New("operator: head watcher too slow, dropped")
	// ErrTooManyWatchers refuses a WatchHeads call while Config.MaxWatchers
	// streams are open. Clients see RESOURCE_EXHAUSTED.
	ErrTooManyWatchers = errors.New("operator: too many head watchers")
	// ErrStopped ends open WatchHeads streams when the server shuts down.
	// Clients see UNAVAILABLE.
	ErrStopped = errors.New("operator: server stopped")
	// ErrSubscriptionEnded ends a WatchHeads stream when the backend ends
	// the head subscription on its own. Clients see UNAVAILABLE.
	ErrSubscriptionEnded = errors.New("operator: head subscription ended")
)

// Config bounds the server. The zero value of each field means its default.
type Config struct {
	// MaxRecvMsgBytes caps a request (default 64 KiB; requests are empty).
	MaxRecvMsgBytes int
	// MaxSendMsgBytes caps a response (default 4 MiB).
	MaxSendMsgBytes int
	// MaxConns caps open client connections (default 32); further
	// connections wait in the kernel's accept queue.
	MaxConns int
	// MaxConcurrentStreams caps calls in flight per connection (default 32).
	MaxConcurrentStreams uint32
	// MaxWatchers caps open WatchHeads streams server-wide (default 16).
	MaxWatchers int
	// HeadBuffer is how many heads a WatchHeads stream may fall behind
	// before it is dropped (default 64). Heads arriving faster than a
	// client reads, as while the node catches up, can drop a healthy
	// client too; it reconnects and reconciles with GetStatus.
	HeadBuffer int
	// MaxListItems caps peers, validators and GPUs in one response
	// (default 4096); longer lists are truncated and flagged.
	MaxListItems int
	// CallTimeout bounds each unary call (default 10 s).
	CallTimeout time.Duration
	// ShutdownTimeout bounds the graceful stop before open connections are
	// closed (default 5 s).
	ShutdownTimeout time.Duration
}

// Defaults, and keepalive settings that need no tuning.
const (
	defaultMaxRecvMsgBytes      = 64 << 10
	defaultMaxSendMsgBytes      = 4 << 20
	defaultMaxConns             = 32
	defaultMaxConcurrentStreams = 32
	defaultMaxWatchers          = 16
	defaultHeadBuffer           = 64
	defaultMaxListItems         = 4096
	defaultCallTimeout          = 10 * time.Second
	defaultShutdownTimeout      = 5 * time.Second

	// keepaliveMinTime is how often a client may ping; more often and the
	// connection is closed (ENHANCE_YOUR_CALM).
	keepaliveMinTime = 10 * time.Second
	// keepaliveTime and keepaliveTimeout make the server ping an idle
	// client and close the connection if it does not answer, so dead
	// clients' watch streams end.
	keepaliveTime    = 2 * time.Minute
	keepaliveTimeout = 20 * time.Second
	// connectionTimeout bounds the connection handshake.
	connectionTimeout = 10 * time.Second
)

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxRecvMsgBytes, defaultMaxRecvMsgBytes)
	def(&c.MaxSendMsgBytes, defaultMaxSendMsgBytes)
	def(&c.MaxConns, defaultMaxConns)
	def(&c.MaxWatchers, defaultMaxWatchers)
	def(&c.HeadBuffer, defaultHeadBuffer)
	def(&c.MaxListItems, defaultMaxListItems)
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = defaultMaxConcurrentStreams
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = defaultCallTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = defaultShutdownTimeout
	}
	return c
}

// Server serves the operator API over a Backend. Create it with NewServer
// and run it with Serve or ListenAndServe, once.
type Server struct {
	cfg  Config
	b    Backend
	log  *slog.Logger
	grpc *grpc.Server

	// watchers is a semaphore of open WatchHeads streams.
	watchers chan struct{}
	// quit is closed when Serve begins to stop, ending watch streams so the
	// graceful stop need not wait for them.
	quit     chan struct{}
	quitOnce sync.Once
}

// NewServer returns a server for b. log may be nil.
func NewServer(b Backend, cfg Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:      cfg,
		b:        b,
		log:      log.With("component", "operator"),
		watchers: make(chan struct{}, cfg.MaxWatchers),
		quit:     make(chan struct{}),
	}
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgBytes),
		grpc.MaxSendMsgSize(cfg.MaxSendMsgBytes),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		grpc.ConnectionTimeout(connectionTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveMinTime,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    keepaliveTime,
			Timeout: keepaliveTimeout,
		}),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	)
	pb.RegisterOperatorServer(s.grpc, &service{s: s})
	if cb, ok := b.(ChainBackend); ok {
		c := &chainService{s: s, b: cb}
		pb.RegisterTxPoolServiceServer(s.grpc, c)
		pb.RegisterConsensusServiceServer(s.grpc, c)
		pb.RegisterStakingServiceServer(s.grpc, c)
		pb.RegisterJobsServiceServer(s.grpc, c)
	}
	// Server reflection lets grpcurl and other tools list and call the
	// services without the .proto file.
	reflection.Register(s.grpc)
	return s
}

// ListenAndServe listens on addr (host:port) and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("operator: listen %s: %w", addr, err)
	}
	return s.Serve(ctx, lis)
}

// Serve accepts connections on lis until ctx is done, then stops: open
// WatchHeads streams end with ErrStopped, calls in flight get
// Config.ShutdownTimeout to finish, and then connections are closed. It
// closes lis and returns nil after a stop caused by ctx, or the error that
// ended accepting.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	if !isLoopback(lis.Addr()) {
		s.log.Warn("operator API listens beyond loopback; it has no authentication", "addr", lis.Addr().String())
	}
	s.log.Info("operator API listening", "addr", lis.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(newLimitListener(lis, s.cfg.MaxConns)) }()
	select {
	case err := <-errc:
		s.stop()
		return fmt.Errorf("operator: serve: %w", err)
	case <-ctx.Done():
	}
	s.stop()
	<-errc // grpc.Server.Serve returns nil once stopped.
	return nil
}

// stop ends watch streams, then stops gracefully for at most
// ShutdownTimeout before closing every connection.
func (s *Server) stop() {
	s.quitOnce.Do(func() { close(s.quit) })
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(s.cfg.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("operator API graceful stop timed out; closing connections", "timeout", s.cfg.ShutdownTimeout)
		s.grpc.Stop()
		<-done
	}
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		// bufconn, unix sockets: not reachable from the network.
		return true
	}
	return tcp.IP.IsLoopback()
}
