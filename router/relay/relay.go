package relay

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"golang.org/x/time/rate"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/instance"
	"github.com/emc-network/emcd/p2p"
)

// Prefix is where the relay is mounted on the RPC port: /apps/<id>/<path>.
const Prefix = "/apps/"

// State is an instance's state as the directory knows it.
type State string

// Directory states.
const (
	StatePending State = "pending" // placed, not yet reported ready
	StateReady   State = "ready"
	StateEnded   State = "ended"
)

// Entry is one instance in the directory.
type Entry struct {
	ID uint64
	// Nodes are the peers running a replica.
	Nodes []p2p.PeerID
	// Port is the app's container port (informational: the node knows
	// where its instance listens).
	Port uint16
	// KeyHash is instance.KeyHash of the instance's API key.
	KeyHash common.Hash
	State   State
}

// Directory finds instances (the chain-backed one reads the apps module;
// MemDirectory is an in-memory one for tests). It must be safe for
// concurrent use.
type Directory interface {
	Instance(id uint64) (Entry, bool, error)
}

// RTTs gives a measured round-trip time to a peer (the router's live
// table: router/heartbeat); ok false when it has none.
type RTTs interface {
	RTT(peer p2p.PeerID) (time.Duration, bool)
}

// Defaults.
const (
	DefaultRate          = 50
	DefaultBurst         = 100
	DefaultMaxBody       = instance.DefaultMaxBody
	DefaultHeaderTimeout = 150 * time.Second
	DefaultIdleTimeout   = instance.DefaultIdleTimeout
	DefaultOpenTimeout   = 5 * time.Second
	// maxLimitedKeys bounds the per-key limiter table; it restarts when
	// full (a flood of keys only resets buckets).
	maxLimitedKeys = 1 << 16
)

// Config configures a Relay.
type Config struct {
	Streams   p2p.Streamer
	Protocol  string // p2p.Names.App()
	Directory Directory
	// RTTs, when set, orders replicas; otherwise (and for peers it has no
	// sample of) the relay's own estimate from stream opening times is used.
	RTTs RTTs
	// Rate and Burst are each API key's token bucket (calls per second;
	// defaults DefaultRate and DefaultBurst).
	Rate  rate.Limit
	Burst int
	// MaxBody bounds a request body (default DefaultMaxBody).
	MaxBody int64
	// OpenTimeout bounds opening a stream to one node.
	OpenTimeout time.Duration
	// HeaderTimeout bounds the wait for the node's response header (the
	// app's time to answer); past it the caller gets 504.
	HeaderTimeout time.Duration
	// IdleTimeout bounds the wait for each body frame either way.
	IdleTimeout time.Duration
	Now         func() time.Time
	// Meter, when set, countersigns each call's usage receipt (meter.go)
	// and returns it to the caller in the ReceiptTrailer; nil: calls are
	// relayed unmetered.
	Meter Meter
	Log   *slog.Logger
}

// ReceiptTrailer is the HTTP trailer that carries a metered call's signed
// usage receipt (apps.SignedReceipt.Encode, hex with 0x).
const ReceiptTrailer = "Emc-Receipt"

// Relay is the router's http.Handler for Prefix.
type Relay struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	limits map[common.Hash]*rate.Limiter
	rtt    map[p2p.PeerID]time.Duration
}

// New checks cfg and builds a relay.
func New(cfg Config) (*Relay, error) {
	if cfg.Streams == nil || cfg.Directory == nil || cfg.Protocol == "" {
		return nil, errors.New("relay: needs streams, a protocol id and a directory")
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = DefaultOpenTimeout
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Relay{cfg: cfg, log: cfg.Log.With("component", "app_relay"),
		limits: make(map[common.Hash]*rate.Limiter), rtt: make(map[p2p.PeerID]time.Duration)}, nil
}

// Error codes of the JSON error body {"code": ..., "error": ...}.
const (
	CodeUnknownInstance = "unknown_instance" // 404
	CodeBadKey          = "bad_key"          // 401
	CodeRateLimited     = "rate_limited"     // 429
	CodeTooLarge        = "too_large"        // 413
	CodeNotReady        = "not_ready"        // 503
	CodeNodeDown        = "node_down"        // 502
	CodeNodeError       = "node_error"       // 502
	CodeAppError        = "app_unreachable"  // 502
	CodeTimeout         = "timeout"          // 504
	CodeBadRequest      = "bad_request"      // 400
	CodeInternal        = "internal"         // 500
)

type errorBody struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

// WriteError writes a JSON error body with status.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Code: code, Error: msg})
}

// ServeHTTP relays /apps/<id>/<path>.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rest, ok := strings.CutPrefix(req.URL.Path, Prefix)
	if !ok {
		WriteError(w, http.StatusNotFound, CodeUnknownInstance, "not an app path: "+Prefix+"<instance>/<path>")
		return
	}
	idStr, path, _ := strings.Cut(rest, "/")
	id, err := strconv.ParseUint(idStr, 10, 64)
	if err != nil {
		WriteError(w, http.StatusNotFound, CodeUnknownInstance, fmt.Sprintf("%q is not an instance id", clip(idStr)))
		return
	}
	path = "/" + path
	e, ok, err := r.cfg.Directory.Instance(id)
	switch {
	case err != nil:
		r.log.Warn("directory lookup failed", "instance", id, "err", err)
		WriteError(w, http.StatusInternalServerError, CodeInternal, "instance lookup failed")
		return
	case !ok || e.State == StateEnded:
		WriteError(w, http.StatusNotFound, CodeUnknownInstance, fmt.Sprintf("no instance %d", id))
		return
	}
	key, ok := bearer(req.Header.Get("Authorization"))
	kh := instance.KeyHash(key)
	if !ok || subtle.ConstantTimeCompare(kh[:], e.KeyHash[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="emc-apps"`)
		WriteError(w, http.StatusUnauthorized, CodeBadKey, "missing or wrong API key (Authorization: Bearer KEY)")
		return
	}
	if wait, ok := r.allow(kh); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
		WriteError(w, http.StatusTooManyRequests, CodeRateLimited, "too many calls with this key")
		return
	}
	if e.State != StateReady {
		WriteError(w, http.StatusServiceUnavailable, CodeNotReady, fmt.Sprintf("instance %d is %s", id, e.State))
		return
	}
	if req.ContentLength > r.cfg.MaxBody {
		WriteError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("body of %d bytes, limit %d", req.ContentLength, r.cfg.MaxBody))
		return
	}
	hdr := &instance.RequestHeader{
		Instance: id, Method: req.Method, Path: path, Query: req.URL.RawQuery,
		Headers: instance.FilterHeaders(req.Header, instance.RequestHeaders), Key: key,
	}
	if req.ContentLength >= 0 {
		hdr.ContentLength, hdr.HasLength = uint64(req.ContentLength), true
	}
	if r.cfg.Meter != nil { // the meters out of step: resync on this call
		hdr.SyncToken, hdr.SyncBase = r.cfg.Meter.Sync(id)
	}
	enc, err := hdr.Encode()
	if err != nil {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	target := path
	if req.URL.RawQuery != "" {
		target += "?" + req.URL.RawQuery
	}
	r.relay(w, req, e, enc, target)
}

// relay opens a stream to the nearest replica that answers and runs the
// call over it.
func (r *Relay) relay(w http.ResponseWriter, req *http.Request, e Entry, hdr []byte, target string) {
	ctx := req.Context()
	t0 := time.Now()
	var st p2p.Stream
	var lastErr error
	for _, peer := range r.order(e.Nodes) {
		octx, cancel := context.WithTimeout(ctx, r.cfg.OpenTimeout)
		t0 := time.Now()
		s, err := r.cfg.Streams.OpenStream(octx, peer, r.cfg.Protocol)
		cancel()
		if err != nil {
			lastErr = err
			r.log.Debug("replica unreachable", "instance", e.ID, "peer", peer.ShortString(), "err", err)
			continue
		}
		r.sample(peer, time.Since(t0))
		st = s
		break
	}
	if st == nil {
		msg := fmt.Sprintf("no node running instance %d answers", e.ID)
		if lastErr != nil {
			msg += ": " + lastErr.Error()
		}
		WriteError(w, http.StatusBadGateway, CodeNodeDown, msg)
		return
	}
	// Whatever happens, the stream ends; a reset unless it finished.
	finished := false
	defer func() {
		if finished {
			_ = st.Close()
		} else {
			_ = st.Reset()
		}
	}()
	// The caller going away resets the stream, which ends the app call.
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()

	_ = st.SetWriteDeadline(time.Now().Add(r.cfg.IdleTimeout))
	if err := instance.WriteHeaderFrame(st, hdr); err != nil {
		WriteError(w, http.StatusBadGateway, CodeNodeDown, "node: "+err.Error())
		return
	}
	// Send the body while the answer comes (full duplex: an app may
	// start answering before it read everything).
	// The caller's body reads are bounded too: a caller that stalls
	// mid-body cannot hold the call open.
	rc := http.NewResponseController(w)
	bodyDone := make(chan error, 1)
	var tooLarge atomic.Bool
	bodyHash := sha256.New()
	// A metered call whose receipt did not come (the stream broke, the
	// caller left) may still have been answered and numbered by the node:
	// it is an orphan the next receipt may chain. This runs after the
	// body goroutine was waited for (deferred before that wait).
	var gotReceipt, nodeRefused bool
	if r.cfg.Meter != nil {
		defer func() {
			if gotReceipt || nodeRefused {
				return
			}
			var sum [32]byte
			copy(sum[:], bodyHash.Sum(nil))
			r.cfg.Meter.Orphan(e.ID, apps.RequestDigest(req.Method, target, sum), time.Since(t0))
		}()
	}
	go func() { bodyDone <- r.sendBody(st, io.TeeReader(req.Body, bodyHash), rc, &tooLarge) }()
	// The body goroutine reads the caller's body, which must not happen
	// after this handler returns: unless it was waited for, break its
	// stream writes and its reads, and wait.
	bodyWaited := false
	defer func() {
		if !bodyWaited {
			_ = st.Reset()
			// Its stream writes fail now; a read of a caller that stalls
			// mid-body is cut after a moment (not at once: a read at the
			// body's end starts the server's watch of the connection,
			// which a deadline in the past would break).
			select {
			case <-bodyDone:
			case <-time.After(100 * time.Millisecond):
				_ = rc.SetReadDeadline(time.Now())
				<-bodyDone
				_ = rc.SetReadDeadline(time.Time{})
			}
		}
	}()

	br := bufio.NewReaderSize(st, 32<<10)
	_ = st.SetReadDeadline(time.Now().Add(r.cfg.HeaderTimeout))
	raw, err := instance.ReadHeaderFrame(br)
	var rh *instance.ResponseHeader
	if err == nil {
		rh, err = instance.DecodeResponseHeader(raw)
	}
	if err != nil {
		// A body over the limit makes us reset the stream: say so.
		if tooLarge.Load() {
			WriteError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("body over %d bytes", r.cfg.MaxBody))
			return
		}
		if isTimeout(err) {
			WriteError(w, http.StatusGatewayTimeout, CodeTimeout, fmt.Sprintf("no answer from instance %d within %v", e.ID, r.cfg.HeaderTimeout))
			return
		}
		WriteError(w, http.StatusBadGateway, CodeNodeError, "node: "+err.Error())
		return
	}
	if rh.Code != "" {
		nodeRefused = true
		status, code := refusalStatus(rh.Code)
		WriteError(w, status, code, "node: "+rh.Message)
		return
	}
	h := w.Header()
	for _, x := range rh.Headers {
		h.Add(x.Name, x.Value)
	}
	if r.cfg.Meter != nil {
		// The receipt comes after the body: a trailer, so the body is
		// sent chunked (no Content-Length).
		h.Set("Trailer", ReceiptTrailer)
	} else if rh.HasLength {
		h.Set("Content-Length", strconv.FormatUint(rh.ContentLength, 10))
	}
	w.WriteHeader(int(rh.Status))
	_ = rc.Flush()
	body := &instance.BodyReader{R: br, Before: func() { _ = st.SetReadDeadline(time.Now().Add(r.cfg.IdleTimeout)) }}
	bp := instance.GetChunkBuffer()
	defer instance.PutChunkBuffer(bp)
	buf := *bp
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			// Pass each chunk on as it came: server-sent events and
			// chunked answers reach the caller as they are sent.
			_ = rc.Flush()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			// The node cut the body: cut ours too (the handler panics
			// with ErrAbortHandler so the client sees a broken response,
			// never a short whole one).
			r.log.Debug("body cut by node", "instance", e.ID, "err", err)
			_ = st.Reset()
			panic(http.ErrAbortHandler)
		}
	}
	// The answer is whole; a metering node's receipt follows.
	var nr *instance.NodeReceipt
	if r.cfg.Meter != nil {
		_ = st.SetReadDeadline(time.Now().Add(r.cfg.IdleTimeout))
		var rerr error
		if nr, rerr = instance.ReadReceiptFrame(br); rerr != nil {
			r.log.Debug("no usage receipt", "instance", e.ID, "err", rerr)
			nr = nil
		}
		gotReceipt = nr != nil
	}
	// A body still being sent is no longer needed (the app answered
	// without it): the deferred wait cuts it.
	if nr != nil {
		// The node answered after the body's end frame, so the sender is
		// done or about to be: a metered call needs its whole body.
		select {
		case berr := <-bodyDone:
			bodyWaited = true
			finished = berr == nil
		case <-time.After(time.Second):
		}
	} else {
		select {
		case berr := <-bodyDone:
			bodyWaited = true
			finished = berr == nil
		default:
		}
	}
	if nr != nil && finished {
		var sum [32]byte
		copy(sum[:], bodyHash.Sum(nil))
		s, err := r.cfg.Meter.Countersign(e.ID, apps.RequestDigest(req.Method, target, sum), time.Since(t0), nr)
		if err != nil {
			r.log.Warn("usage receipt not countersigned", "instance", e.ID, "seq", nr.Seq, "err", err)
			return
		}
		w.Header().Set(ReceiptTrailer, hexutil.Encode(s.Encode()))
	}
}

// sendBody streams the request body as frames, checking its size.
func (r *Relay) sendBody(st p2p.Stream, body io.Reader, rc *http.ResponseController, tooLarge *atomic.Bool) error {
	bp := instance.GetChunkBuffer()
	defer instance.PutChunkBuffer(bp)
	buf := *bp
	// No deadline may outlive the body: the connection may carry the
	// caller's next request.
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	var total int64
	for {
		_ = rc.SetReadDeadline(time.Now().Add(r.cfg.IdleTimeout))
		n, err := body.Read(buf)
		if n > 0 {
			total += int64(n)
			if total > r.cfg.MaxBody {
				tooLarge.Store(true) // before the reset the reader sees
				_ = st.Reset()
				return fmt.Errorf("%w: more than %d bytes", instance.ErrBodyTooLarge, r.cfg.MaxBody)
			}
			_ = st.SetWriteDeadline(time.Now().Add(r.cfg.IdleTimeout))
			if werr := instance.WriteChunk(st, buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			_ = st.SetWriteDeadline(time.Now().Add(r.cfg.IdleTimeout))
			return instance.WriteEnd(st)
		}
		if err != nil {
			_ = st.Reset()
			return err
		}
	}
}

// refusalStatus maps a node's refusal code to the caller's HTTP status.
func refusalStatus(code string) (int, string) {
	switch code {
	case instance.CodeUnknownInstance:
		// The directory says it runs there, the node says no: the
		// directory is behind; the node cannot serve.
		return http.StatusBadGateway, CodeNodeError
	case instance.CodeBadKey:
		return http.StatusUnauthorized, CodeBadKey
	case instance.CodeNotReady, instance.CodeBusy:
		return http.StatusServiceUnavailable, CodeNotReady
	case instance.CodeTooLarge:
		return http.StatusRequestEntityTooLarge, CodeTooLarge
	case instance.CodeAppTimeout:
		return http.StatusGatewayTimeout, CodeTimeout
	case instance.CodeAppUnreachable:
		return http.StatusBadGateway, CodeAppError
	}
	return http.StatusBadGateway, CodeNodeError
}

// order sorts replicas by measured round-trip time, unmeasured last (in
// the directory's order).
func (r *Relay) order(nodes []p2p.PeerID) []p2p.PeerID {
	type cand struct {
		p   p2p.PeerID
		rtt time.Duration
		i   int
	}
	cs := make([]cand, len(nodes))
	r.mu.Lock()
	for i, p := range nodes {
		d, ok := time.Duration(0), false
		if r.cfg.RTTs != nil {
			d, ok = r.cfg.RTTs.RTT(p)
		}
		if !ok {
			d, ok = r.rtt[p]
		}
		if !ok || d <= 0 {
			d = time.Duration(1<<62) + time.Duration(i)
		}
		cs[i] = cand{p, d, i}
	}
	r.mu.Unlock()
	slices.SortStableFunc(cs, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.rtt, b.rtt), cmp.Compare(a.i, b.i))
	})
	out := make([]p2p.PeerID, len(cs))
	for i, c := range cs {
		out[i] = c.p
	}
	return out
}

// sample folds a stream opening time into the peer's estimate (EWMA, gain
// 1/8 as router/heartbeat).
func (r *Relay) sample(p p2p.PeerID, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.rtt[p]; ok {
		r.rtt[p] = old + (d-old)/8
		return
	}
	if len(r.rtt) >= maxLimitedKeys {
		clear(r.rtt)
	}
	r.rtt[p] = d
}

func (r *Relay) allow(kh common.Hash) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lim, ok := r.limits[kh]
	if !ok {
		if len(r.limits) >= maxLimitedKeys {
			clear(r.limits)
		}
		lim = rate.NewLimiter(r.cfg.Rate, r.cfg.Burst)
		r.limits[kh] = lim
	}
	now := r.cfg.Now()
	if lim.AllowN(now, 1) {
		return 0, true
	}
	return time.Duration(float64(time.Second) / float64(r.cfg.Rate)), false
}

func bearer(h string) (string, bool) {
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key = strings.TrimSpace(key)
	return key, key != "" && len(key) <= instance.MaxKey
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &t) && t.Timeout()
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
