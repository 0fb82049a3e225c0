package instance

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/p2p"
)

// Target is where a call to a local instance goes.
type Target struct {
	// Addr is the app's host:port, dialed when Dial is nil.
	Addr string
	// Dial, when set, connects to the app (a container's port inside its
	// network namespace).
	Dial    func(ctx context.Context) (net.Conn, error)
	KeyHash common.Hash
	State   State
}

// Local finds the instances running on this node (*Manager implements it).
type Local interface {
	Target(id uint64) (Target, bool)
}

// Call is what a Meter hears of one relayed call.
type Call struct {
	Instance uint64
	// Router is the peer that relayed the call.
	Router p2p.PeerID
	// Digest is sha256 over the request header frame (with the key left
	// out) and the request body: it names the call in a usage receipt.
	Digest common.Hash
	// Method, Target (the path with "?query" when there is one) and
	// BodySHA256 (sha256 of the body the node read) are the request as a
	// usage receipt names it (apps.RequestDigest).
	Method     string
	Target     string
	BodySHA256 [32]byte
	// SyncToken and SyncBase are the router's metering resync request
	// that came with the call (RequestHeader.SyncToken; 0: none).
	SyncToken     uint64
	SyncBase      []byte
	Status        int
	Duration      time.Duration
	RequestBytes  int64
	ResponseBytes int64
}

// Meter is told of every call the node proxied to an app (answered or
// not; refusals before the app are not calls). Usage receipts hang off it
// (next: computing/apps). It must be safe for concurrent use and return
// quickly.
type Meter interface {
	Record(Call)
}

// MeterFunc adapts a function to Meter.
type MeterFunc func(Call)

// Record implements Meter.
func (f MeterFunc) Record(c Call) { f(c) }

// Server defaults.
const (
	DefaultMaxBody        = 16 << 20
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultAppTimeout     = 120 * time.Second
	DefaultIdleTimeout    = 120 * time.Second
	DefaultMaxCallsPerHop = 256
)

// ServerConfig configures a Server.
type ServerConfig struct {
	Local Local
	// Meter hears of every call (nil: none).
	Meter Meter
	// Receipts, when set, signs each answered call's usage receipt, sent
	// after the body's end frame (receipt.go); nil: calls are unmetered.
	Receipts Receipts
	// MaxBody bounds a request body (default DefaultMaxBody).
	MaxBody int64
	// HeaderTimeout bounds reading the request header frame (default
	// DefaultHeaderTimeout).
	HeaderTimeout time.Duration
	// AppTimeout bounds the app's time to its response header (default
	// DefaultAppTimeout: a model may think before it answers).
	AppTimeout time.Duration
	// IdleTimeout bounds the wait for each body frame either way (default
	// DefaultIdleTimeout); a server-sent event stream must send within it.
	IdleTimeout time.Duration
	// MaxCalls bounds concurrent calls from one router (default
	// DefaultMaxCallsPerHop); more are refused with CodeBusy.
	MaxCalls int
	// Transport reaches the apps (default: a fresh http.Transport without
	// proxies or compression, so bodies pass through as sent).
	Transport http.RoundTripper
	// Penalizer, when set, hears of peers that send malformed frames.
	Penalizer p2p.Penalizer
	Log       *slog.Logger
}

// Server is the node side of the app protocol: it takes calls a router
// relays, checks that the instance runs here, is ready and that the
// caller's key hashes to the instance's, and proxies the call to the app,
// streaming both bodies frame by frame.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	client *http.Client

	mu       sync.Mutex
	inflight map[p2p.PeerID]int
}

// NewServer checks cfg and builds a server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Local == nil {
		return nil, errors.New("instance: server needs the local instances")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	if cfg.AppTimeout <= 0 {
		cfg.AppTimeout = DefaultAppTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = DefaultMaxCallsPerHop
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Log.With("component", "app_server"), inflight: make(map[p2p.PeerID]int)}
	if cfg.Transport == nil {
		cfg.Transport = &http.Transport{
			Proxy:                 nil,
			DialContext:           s.dial,
			DisableCompression:    true,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: cfg.AppTimeout,
		}
	}
	// No redirects are followed: a Location goes back to the caller.
	s.cfg = cfg
	s.client = &http.Client{Transport: cfg.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return s, nil
}

// appHost is the URL host of calls to instance id: the transport's dialer
// finds the instance by it (connections are pooled per instance).
func appHost(id uint64) string { return "instance-" + strconv.FormatUint(id, 10) }

// dial connects to an instance named by appHost, through its Dial or to
// its Addr.
func (s *Server) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	idStr, ok := strings.CutPrefix(host, "instance-")
	id, perr := strconv.ParseUint(idStr, 10, 64)
	if !ok || perr != nil {
		return nil, fmt.Errorf("instance: no app at %q", addr)
	}
	t, ok := s.cfg.Local.Target(id)
	if !ok || t.State != StateReady {
		return nil, fmt.Errorf("instance: %d is not ready", id)
	}
	if t.Dial != nil {
		return t.Dial(ctx)
	}
	return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", t.Addr)
}

// Register serves the protocol (names.App()) on st.
func (s *Server) Register(st p2p.Streamer, names p2p.Names) error {
	if err := st.HandleStream(names.App(), s.Handle); err != nil {
		return fmt.Errorf("instance: %w", err)
	}
	return nil
}

// Handle serves one call on stream st from router from.
func (s *Server) Handle(ctx context.Context, from p2p.PeerID, st p2p.Stream) {
	if !s.acquire(from) {
		s.refuse(st, CodeBusy, "too many calls in flight from this router")
		return
	}
	defer s.release(from)
	br := bufio.NewReaderSize(st, 32<<10)
	_ = st.SetReadDeadline(time.Now().Add(s.cfg.HeaderTimeout))
	raw, err := ReadHeaderFrame(br)
	var req *RequestHeader
	if err == nil {
		req, err = DecodeRequestHeader(raw)
	}
	if err != nil {
		if s.cfg.Penalizer != nil && (errors.Is(err, p2p.ErrMalformed) || errors.Is(err, p2p.ErrTooLarge)) {
			s.cfg.Penalizer.Penalize(from, p2p.PenaltyMalformed, "app request: "+err.Error())
		}
		s.refuse(st, CodeMalformed, err.Error())
		return
	}
	t, ok := s.cfg.Local.Target(req.Instance)
	switch {
	case !ok:
		s.refuse(st, CodeUnknownInstance, fmt.Sprintf("instance %d does not run on this node", req.Instance))
		return
	case t.State != StateReady:
		s.refuse(st, CodeNotReady, fmt.Sprintf("instance %d is %s", req.Instance, t.State))
		return
	}
	if kh := KeyHash(req.Key); subtle.ConstantTimeCompare(kh[:], t.KeyHash[:]) != 1 {
		s.refuse(st, CodeBadKey, "the API key is not this instance's")
		return
	}
	if req.HasLength && req.ContentLength > uint64(s.cfg.MaxBody) {
		s.refuse(st, CodeTooLarge, fmt.Sprintf("body of %d bytes, limit %d", req.ContentLength, s.cfg.MaxBody))
		return
	}
	s.proxy(ctx, from, st, br, req, t)
}

// proxy runs an accepted call: the body streams from the router into the
// app while the app's answer streams back.
func (s *Server) proxy(ctx context.Context, from p2p.PeerID, st p2p.Stream, br *bufio.Reader, req *RequestHeader, t Target) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A reset from the router (the caller went away) ends the app call.
	digest := sha256.New()
	bodyHash := sha256.New()
	keyless := *req
	keyless.Key = ""
	if enc, err := keyless.Encode(); err == nil {
		digest.Write(enc)
	}
	limit := s.cfg.MaxBody
	if req.HasLength {
		limit = min(limit, int64(req.ContentLength))
	}
	body := &BodyReader{R: br, Limit: limit, Before: func() { _ = st.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout)) }}
	// The transport reads the body on its own goroutine, possibly still
	// after the answer came: mu guards the digest, the count and bodyErr
	// (the count is of the bytes passed on, kept here and not read from
	// body, whose own counter that goroutine may be moving).
	var (
		mu        sync.Mutex
		bodyErr   error
		bodyBytes int64
	)
	var watch sync.Once
	tee := readerFunc(func(p []byte) (int, error) {
		n, err := body.Read(p)
		mu.Lock()
		bodyBytes += int64(n)
		digest.Write(p[:n])
		bodyHash.Write(p[:n])
		if err != nil && err != io.EOF {
			bodyErr = err
		}
		mu.Unlock()
		if err != nil && err != io.EOF {
			cancel()
		}
		if err == io.EOF {
			// The router sends nothing after the body until it closes
			// the stream; a reset (the caller went away, the router gave
			// up) ends the app call at once.
			watch.Do(func() {
				go func() {
					_ = st.SetReadDeadline(time.Time{})
					var b [1]byte
					if _, err := br.Read(b[:]); err != io.EOF {
						cancel()
					}
				}()
			})
		}
		return n, err
	})
	var hbody io.ReadCloser = io.NopCloser(tee)
	if req.HasLength && req.ContentLength == 0 {
		// No body: take its end frame now (the transport would not read
		// it) and send the app none.
		if _, err := io.Copy(io.Discard, tee); err != nil {
			s.refuse(st, CodeMalformed, "an empty body that is not: "+err.Error())
			return
		}
		hbody = http.NoBody
	}
	url := "http://" + appHost(req.Instance) + req.Path
	if req.Query != "" {
		url += "?" + req.Query
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, url, hbody)
	if err != nil {
		s.refuse(st, CodeMalformed, err.Error())
		return
	}
	for _, h := range req.Headers {
		hreq.Header.Add(h.Name, h.Value)
	}
	hreq.ContentLength = -1
	if req.HasLength {
		hreq.ContentLength = int64(req.ContentLength)
	}
	call := Call{Instance: req.Instance, Router: from, Method: req.Method, Target: req.Path, SyncToken: req.SyncToken, SyncBase: req.SyncBase}
	if req.Query != "" {
		call.Target += "?" + req.Query
	}
	sealed := false
	seal := func() {
		if sealed {
			return
		}
		sealed = true
		call.Duration = time.Since(start)
		mu.Lock()
		call.RequestBytes = bodyBytes
		copy(call.Digest[:], digest.Sum(nil))
		copy(call.BodySHA256[:], bodyHash.Sum(nil))
		mu.Unlock()
	}
	defer func() {
		seal()
		if s.cfg.Meter != nil && call.Status != 0 {
			s.cfg.Meter.Record(call)
		}
	}()
	resp, err := s.client.Do(hreq)
	if err != nil {
		mu.Lock()
		berr := bodyErr
		mu.Unlock()
		switch {
		case errors.Is(berr, ErrBodyTooLarge):
			s.refuse(st, CodeTooLarge, berr.Error())
		case berr != nil:
			// The router broke the call: nobody waits for an answer.
			_ = st.Reset()
		case isTimeout(err):
			s.refuse(st, CodeAppTimeout, fmt.Sprintf("the app did not answer within %v", s.cfg.AppTimeout))
		default:
			s.refuse(st, CodeAppUnreachable, err.Error())
		}
		return
	}
	defer resp.Body.Close()
	call.Status = resp.StatusCode
	rh := &ResponseHeader{Status: uint16(resp.StatusCode), Headers: FilterHeaders(resp.Header, ResponseHeaders)}
	if resp.StatusCode < 200 || resp.StatusCode > 599 {
		rh.Status = http.StatusBadGateway
	}
	if resp.ContentLength >= 0 && req.Method != http.MethodHead {
		rh.ContentLength, rh.HasLength = uint64(resp.ContentLength), true
	}
	enc, err := rh.Encode()
	if err != nil {
		s.refuse(st, CodeAppUnreachable, "the app's response header: "+err.Error())
		return
	}
	_ = st.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout))
	if err := WriteHeaderFrame(st, enc); err != nil {
		_ = st.Reset()
		return
	}
	bp := GetChunkBuffer()
	defer PutChunkBuffer(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			call.ResponseBytes += int64(n)
			_ = st.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout))
			if err := WriteChunk(st, buf[:n]); err != nil {
				_ = st.Reset()
				return
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// The app broke its body: cut ours, so the caller sees a cut
			// body and not a short whole one.
			s.log.Debug("app body broke", "instance", req.Instance, "err", rerr)
			_ = st.Reset()
			return
		}
	}
	if err := WriteEnd(st); err != nil {
		_ = st.Reset()
		return
	}
	if s.cfg.Receipts != nil {
		// The call was answered in whole: its receipt follows.
		seal()
		r, err := s.cfg.Receipts.Receipt(call)
		if err != nil {
			s.log.Warn("usage receipt not signed", "instance", req.Instance, "err", err)
		} else if err := WriteHeaderFrame(st, EncodeReceiptFrame(r)); err != nil {
			_ = st.Reset()
			return
		}
	}
	_ = st.Close()
}

func (s *Server) refuse(st p2p.Stream, code, msg string) {
	rh := &ResponseHeader{Code: code, Message: msg}
	enc, err := rh.Encode()
	if err != nil {
		_ = st.Reset()
		return
	}
	_ = st.SetWriteDeadline(time.Now().Add(s.cfg.HeaderTimeout))
	if err := WriteHeaderFrame(st, enc); err != nil {
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

func (s *Server) acquire(from p2p.PeerID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[from] >= s.cfg.MaxCalls {
		return false
	}
	s.inflight[from]++
	return true
}

func (s *Server) release(from p2p.PeerID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[from]--; s.inflight[from] <= 0 {
		delete(s.inflight, from)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
