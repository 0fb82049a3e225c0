package jsonrpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

// Config configures the JSON-RPC server. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// CORSDomains are the browser origins allowed to call over HTTP and to
	// open WebSockets; "*" allows any. Empty: no CORS headers are sent.
	CORSDomains []string
	// VHosts are the Host header values accepted over HTTP; "*" accepts any.
	// IP-address hosts are always accepted (geth's rule). Empty: "localhost".
	VHosts []string

	// MaxBodyBytes bounds one HTTP request body (and one WebSocket message).
	MaxBodyBytes int
	// BatchItemLimit bounds the requests in one batch.
	BatchItemLimit int
	// BatchResponseMaxSize bounds the bytes of one batch response.
	BatchResponseMaxSize int
	// MaxWSConns bounds concurrent WebSocket connections; beyond it the
	// upgrade is refused with 503.
	MaxWSConns int

	// LogBlockRange bounds toBlock-fromBlock of one eth_getLogs.
	LogBlockRange uint64
	// LogResultLimit bounds the logs one eth_getLogs returns.
	LogResultLimit int
	// GasCap bounds the gas of eth_call, eth_estimateGas and debug_traceCall.
	GasCap uint64
	// EVMTimeout bounds the wall-clock time of one eth_call / estimate probe.
	EVMTimeout time.Duration
	// FilterTimeout uninstalls polled filters not polled for this long.
	FilterTimeout time.Duration
	// MaxFilters bounds installed polled filters (all clients together).
	MaxFilters int
	// MaxSubscriptions bounds live eth_subscribe subscriptions.
	MaxSubscriptions int
	// DefaultTip is the suggested priority fee when recent blocks are empty.
	DefaultTip *big.Int
	// AllowUnprotectedTxs accepts transactions without EIP-155 replay
	// protection (geth's --rpc.allow-unprotected-txs).
	AllowUnprotectedTxs bool
	// SameOriginWS also accepts WebSocket upgrades whose Origin is the
	// request's own host (a page this port served, such as the node's
	// dashboard) when that host passes the virtual-host check, whatever
	// CORSDomains says (sameorigin.go).
	SameOriginWS bool
	// Metrics, when set, times HTTP requests by method (NewMetrics).
	Metrics *Metrics
}

// DefaultConfig returns the defaults: geth's limits where geth has them.
func DefaultConfig() Config {
	return Config{
		VHosts:               []string{"localhost"},
		MaxBodyBytes:         5 * 1024 * 1024,
		BatchItemLimit:       1000,
		BatchResponseMaxSize: 25 * 1000 * 1000,
		MaxWSConns:           256,
		LogBlockRange:        10_000,
		LogResultLimit:       10_000,
		GasCap:               50_000_000,
		EVMTimeout:           5 * time.Second,
		FilterTimeout:        5 * time.Minute,
		MaxFilters:           10_000,
		MaxSubscriptions:     10_000,
		DefaultTip:           big.NewInt(params.GWei),
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.VHosts) == 0 {
		c.VHosts = d.VHosts
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.BatchItemLimit <= 0 {
		c.BatchItemLimit = d.BatchItemLimit
	}
	if c.BatchResponseMaxSize <= 0 {
		c.BatchResponseMaxSize = d.BatchResponseMaxSize
	}
	if c.MaxWSConns <= 0 {
		c.MaxWSConns = d.MaxWSConns
	}
	if c.LogBlockRange == 0 {
		c.LogBlockRange = d.LogBlockRange
	}
	if c.LogResultLimit <= 0 {
		c.LogResultLimit = d.LogResultLimit
	}
	if c.GasCap == 0 {
		c.GasCap = d.GasCap
	}
	if c.EVMTimeout <= 0 {
		c.EVMTimeout = d.EVMTimeout
	}
	if c.FilterTimeout <= 0 {
		c.FilterTimeout = d.FilterTimeout
	}
	if c.MaxFilters <= 0 {
		c.MaxFilters = d.MaxFilters
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = d.MaxSubscriptions
	}
	if c.DefaultTip == nil || c.DefaultTip.Sign() < 0 {
		c.DefaultTip = d.DefaultTip
	}
	return c
}

// ErrServerStarted is returned by Start when the server already listens.
var ErrServerStarted = errors.New("jsonrpc: server already started")

// Server is the JSON-RPC endpoint. It is an http.Handler serving HTTP POST
// and WebSocket upgrades on the same path; the node may mount it on its own
// http.Server, or call Start to have the Server own one. Close stops both.
type Server struct {
	cfg     Config
	log     *slog.Logger
	rpc     *rpc.Server
	filters *filterAPI
	ws      http.Handler
	wsConns atomic.Int64

	mu       sync.Mutex
	http     *http.Server
	listener net.Listener
	closed   bool
}

var _ http.Handler = (*Server)(nil)

// NewServer registers the eth, net, web3, txpool, debug and emc services
// on a geth rpc server backed by b, and starts the filter event loop.
func NewServer(cfg Config, b Backend, log *slog.Logger) (*Server, error) {
	if b == nil {
		return nil, errors.New("jsonrpc: nil backend")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	log = log.With("component", "jsonrpc")

	srv := rpc.NewServer()
	srv.SetBatchLimits(cfg.BatchItemLimit, cfg.BatchResponseMaxSize)
	srv.SetHTTPBodyLimit(cfg.MaxBodyBytes)
	srv.SetWebsocketReadLimit(int64(cfg.MaxBodyBytes))

	eth := newEthAPI(b, cfg, log)
	filters := newFilterAPI(b, cfg, log)
	services := []struct {
		namespace string
		service   any
	}{
		{"eth", eth},
		{"eth", filters},
		{"net", &netAPI{b: b}},
		{"web3", web3API{}},
		{"txpool", &txpoolAPI{b: b}},
		{"debug", &debugAPI{b: b, x: eth.x}},
		{"emc", &emcAPI{b: b}},
	}
	for _, s := range services {
		if err := srv.RegisterName(s.namespace, s.service); err != nil {
			srv.Stop()
			return nil, fmt.Errorf("jsonrpc: register %s: %w", s.namespace, err)
		}
	}
	filters.start()
	s := &Server{cfg: cfg, log: log, rpc: srv, filters: filters}
	s.ws = srv.WebsocketHandler(cfg.CORSDomains)
	return s, nil
}

// ServeHTTP routes WebSocket upgrades to the WebSocket handler (capped at
// Config.MaxWSConns) and everything else through the virtual-host check
// and CORS to the HTTP JSON-RPC handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isWebsocket(r) {
		if s.wsConns.Add(1) > int64(s.cfg.MaxWSConns) {
			s.wsConns.Add(-1)
			http.Error(w, "too many websocket connections", http.StatusServiceUnavailable)
			return
		}
		defer s.wsConns.Add(-1)
		s.ws.ServeHTTP(w, s.acceptSameOrigin(r)) // returns when the connection closes
		return
	}
	if !s.vhostAllowed(r.Host) {
		http.Error(w, "invalid host specified", http.StatusForbidden)
		return
	}
	if s.cors(w, r) {
		return
	}
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.serveTimed(w, r, s.cfg.MaxBodyBytes, s.rpc)
		return
	}
	s.rpc.ServeHTTP(w, r)
}

// Start listens on addr and serves in the background; it returns the bound
// address (useful with port 0).
func (s *Server) Start(addr string) (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.http != nil || s.closed {
		return nil, ErrServerStarted
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("jsonrpc: listen %s: %w", addr, err)
	}
	s.listener = ln
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("rpc server stopped", "err", err)
		}
	}()
	s.log.Info("JSON-RPC listening", "addr", ln.Addr().String(), "cors", s.cfg.CORSDomains, "vhosts", s.cfg.VHosts)
	return ln.Addr(), nil
}

// Close stops the HTTP server (if Start ran), every RPC connection and
// subscription, and the filter loop. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	hs := s.http
	s.mu.Unlock()
	var err error
	if hs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = hs.Shutdown(ctx)
	}
	s.rpc.Stop()
	s.filters.stop()
	return err
}

// isWebsocket reports whether r asks for a WebSocket upgrade.
func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// vhostAllowed applies geth's virtual-host rule: no Host header, IP hosts,
// "*" and listed names pass.
func (s *Server) vhostAllowed(hostport string) bool {
	if hostport == "" {
		return true
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return true
	}
	host = strings.ToLower(host)
	for _, v := range s.cfg.VHosts {
		if v == "*" || strings.ToLower(v) == host {
			return true
		}
	}
	return false
}

// cors writes CORS headers for allowed origins and answers preflight
// requests; it reports whether the request has been answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if origin == "" || len(s.cfg.CORSDomains) == 0 {
		if preflight {
			w.WriteHeader(http.StatusNoContent)
			return true
		}
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	allowed := false
	for _, d := range s.cfg.CORSDomains {
		if d == "*" || strings.EqualFold(d, origin) {
			allowed = true
			break
		}
	}
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
			if reqHeaders := r.Header.Get("Access-Control-Request-Headers"); reqHeaders != "" {
				h.Set("Access-Control-Allow-Headers", reqHeaders)
			}
			h.Set("Access-Control-Max-Age", "600")
		}
	}
	if preflight {
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}
