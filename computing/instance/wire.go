package instance

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/p2p"
)

// Wire limits of the app protocol (p2p.Names.App). Every frame is checked
// against one before it is decoded.
const (
	// MaxHeaderFrame bounds a request or response header frame.
	MaxHeaderFrame = 64 << 10
	// MaxChunk bounds one body frame. Writers send what they have as it
	// comes (a server-sent event is one small frame), never more than this.
	MaxChunk = 64 << 10
	// MaxHeaders bounds the header lines of one request or response.
	MaxHeaders = 64
	// MaxPath and MaxQuery bound the request target.
	MaxPath  = 4 << 10
	MaxQuery = 8 << 10
	// MaxKey bounds the caller's API key.
	MaxKey = 256
	// MaxHeaderValue bounds one header value.
	MaxHeaderValue = 4 << 10
	// MaxMessage bounds a refusal's message.
	MaxMessage = 512
)

// ErrMalformed is wrapped by every decoding error (it wraps
// p2p.ErrMalformed, so the sender can be penalised).
var ErrMalformed = fmt.Errorf("instance: %w", p2p.ErrMalformed)

// ErrBodyTooLarge is returned when a body passes its limit.
var ErrBodyTooLarge = errors.New("instance: body too large")

// Refusal codes a node answers in ResponseHeader.Code instead of the app's
// response; the router maps each to an HTTP status (router/relay).
const (
	CodeUnknownInstance = "unknown_instance" // no such instance on this node
	CodeNotReady        = "not_ready"        // starting, stopped or failed
	CodeBadKey          = "bad_key"          // the key does not hash to the instance's
	CodeTooLarge        = "too_large"        // request body over the node's limit
	CodeAppUnreachable  = "app_unreachable"  // the app's port refused or broke the call
	CodeAppTimeout      = "app_timeout"      // the app did not answer in time
	CodeBusy            = "busy"             // too many calls from this router
	CodeMalformed       = "malformed"        // the request frames were not valid
)

// Header is one header line.
type Header struct {
	Name  string
	Value string
}

// RequestHeader is the first frame of a call, router to node: which
// instance, the HTTP request line, the allow-listed headers and the
// caller's API key (the node checks it against the instance's key hash as
// the router did). The body follows as body frames.
type RequestHeader struct {
	Instance uint64
	Method   string
	Path     string // the path inside the app, starting with "/"
	Query    string // raw query, without "?"
	Headers  []Header
	Key      string
	// ContentLength is the body's length when HasLength; otherwise it is
	// streamed to its end frame (chunked).
	ContentLength uint64
	HasLength     bool
	// SyncToken, when not 0, asks a metering node to resync its meter of
	// the instance (the router's side is router/relay's Countersigner):
	// unless its meter already follows this token, the node restarts it
	// from SyncBase (an apps.SignedReceipt, both signatures checked by the
	// node) or, when SyncBase is empty or older, from the newest receipt
	// the chain settled; its receipts then carry the token
	// (NodeReceipt.Token). Optional fields: a header without them encodes
	// as before.
	SyncToken uint64 `rlp:"optional"`
	SyncBase  []byte `rlp:"optional"`
}

// ResponseHeader is the first frame of the answer, node to router: the
// app's status and allow-listed headers, or a refusal (Code set, Status
// 0) with a message.
type ResponseHeader struct {
	Status        uint16
	Code          string
	Message       string
	Headers       []Header
	ContentLength uint64
	HasLength     bool
}

// Methods the relay passes (CONNECT and TRACE are not).
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// RequestHeaders is the allow-list of request headers passed to the app
// (canonical names). Authorization is not among them: the key travels in
// RequestHeader.Key and stops at the node.
var RequestHeaders = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true, "Cache-Control": true,
	"Content-Encoding": true, "Content-Type": true, "If-Match": true, "If-None-Match": true,
	"If-Modified-Since": true, "Last-Event-Id": true, "User-Agent": true, "X-Request-Id": true,
}

// ResponseHeaders is the allow-list of response headers passed back to the
// caller.
var ResponseHeaders = map[string]bool{
	"Cache-Control": true, "Content-Disposition": true, "Content-Encoding": true, "Content-Language": true,
	"Content-Type": true, "Etag": true, "Last-Modified": true, "Location": true, "Retry-After": true,
	"Vary": true, "X-Request-Id": true,
}

// FilterHeaders returns the lines of h whose names allow lists, in a
// stable order, at most MaxHeaders of them; values that could not pass
// checkHeaders are dropped.
func FilterHeaders(h http.Header, allow map[string]bool) []Header {
	var out []Header
	for name, vals := range h {
		cn := http.CanonicalHeaderKey(name)
		if !allow[cn] {
			continue
		}
		for _, v := range vals {
			if validValue(v) && len(out) < MaxHeaders {
				out = append(out, Header{Name: cn, Value: v})
			}
		}
	}
	sortHeaders(out)
	return out
}

func sortHeaders(hs []Header) {
	slices.SortFunc(hs, func(a, b Header) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Value, b.Value))
	})
}

// Encode returns the header's frame body.
func (h *RequestHeader) Encode() ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	return rlp.EncodeToBytes(h)
}

// DecodeRequestHeader decodes and checks a request header frame.
func DecodeRequestHeader(b []byte) (*RequestHeader, error) {
	if len(b) > MaxHeaderFrame {
		return nil, fmt.Errorf("%w: request header of %d bytes", ErrMalformed, len(b))
	}
	var h RequestHeader
	if err := rlp.DecodeBytes(b, &h); err != nil {
		return nil, fmt.Errorf("%w: request header: %w", ErrMalformed, err)
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	return &h, nil
}

func (h *RequestHeader) check() error {
	switch {
	case !methods[h.Method]:
		return fmt.Errorf("%w: method %q", ErrMalformed, clip(h.Method))
	case len(h.Path) == 0 || h.Path[0] != '/' || len(h.Path) > MaxPath || !validTarget(h.Path):
		return fmt.Errorf("%w: path %q", ErrMalformed, clip(h.Path))
	case len(h.Query) > MaxQuery || !validTarget(h.Query) || strings.Contains(h.Query, "#"):
		return fmt.Errorf("%w: query %q", ErrMalformed, clip(h.Query))
	case len(h.Key) > MaxKey || !validValue(h.Key):
		return fmt.Errorf("%w: key of %d bytes", ErrMalformed, len(h.Key))
	case !h.HasLength && h.ContentLength != 0:
		return fmt.Errorf("%w: content length without HasLength", ErrMalformed)
	case h.SyncToken == 0 && len(h.SyncBase) != 0:
		return fmt.Errorf("%w: a sync base without a sync token", ErrMalformed)
	}
	if len(h.SyncBase) != 0 {
		if _, err := apps.DecodeSignedReceipt(h.SyncBase); err != nil {
			return fmt.Errorf("%w: sync base: %w", ErrMalformed, err)
		}
	}
	return checkHeaders(h.Headers, RequestHeaders)
}

// Encode returns the header's frame body.
func (h *ResponseHeader) Encode() ([]byte, error) {
	if len(h.Message) > MaxMessage {
		h.Message = strings.ToValidUTF8(h.Message[:MaxMessage], "")
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	return rlp.EncodeToBytes(h)
}

// DecodeResponseHeader decodes and checks a response header frame.
func DecodeResponseHeader(b []byte) (*ResponseHeader, error) {
	if len(b) > MaxHeaderFrame {
		return nil, fmt.Errorf("%w: response header of %d bytes", ErrMalformed, len(b))
	}
	var h ResponseHeader
	if err := rlp.DecodeBytes(b, &h); err != nil {
		return nil, fmt.Errorf("%w: response header: %w", ErrMalformed, err)
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	return &h, nil
}

func (h *ResponseHeader) check() error {
	switch {
	case h.Code == "" && (h.Status < 200 || h.Status > 599):
		return fmt.Errorf("%w: status %d", ErrMalformed, h.Status)
	case h.Code != "" && (h.Status != 0 || len(h.Headers) != 0 || h.HasLength):
		return fmt.Errorf("%w: a refusal carries no status, headers or body", ErrMalformed)
	case len(h.Code) > 32 || !validToken(h.Code):
		return fmt.Errorf("%w: code %q", ErrMalformed, clip(h.Code))
	case len(h.Message) > MaxMessage || !validValue(h.Message):
		return fmt.Errorf("%w: message of %d bytes", ErrMalformed, len(h.Message))
	case !h.HasLength && h.ContentLength != 0:
		return fmt.Errorf("%w: content length without HasLength", ErrMalformed)
	}
	return checkHeaders(h.Headers, ResponseHeaders)
}

func checkHeaders(hs []Header, allow map[string]bool) error {
	if len(hs) > MaxHeaders {
		return fmt.Errorf("%w: %d headers, limit %d", ErrMalformed, len(hs), MaxHeaders)
	}
	for _, h := range hs {
		if !allow[h.Name] {
			return fmt.Errorf("%w: header %q not allowed", ErrMalformed, clip(h.Name))
		}
		if len(h.Value) > MaxHeaderValue || !validValue(h.Value) {
			return fmt.Errorf("%w: value of header %s", ErrMalformed, h.Name)
		}
	}
	return nil
}

// validValue: printable ASCII, space, tab and UTF-8 above 0x7f; no control
// bytes (no header injection through CR or LF).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validTarget: no controls, no spaces (a request line's target).
func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// WriteHeaderFrame writes an encoded header as one frame.
func WriteHeaderFrame(w io.Writer, b []byte) error { return p2p.WriteFrame(w, b) }

// ReadHeaderFrame reads a header frame of at most MaxHeaderFrame bytes.
func ReadHeaderFrame(r *bufio.Reader) ([]byte, error) { return p2p.ReadFrame(r, MaxHeaderFrame) }

// WriteChunk writes one body frame; an empty p is the end of the body, so
// callers must not pass one before it.
func WriteChunk(w io.Writer, p []byte) error {
	if len(p) > MaxChunk {
		return fmt.Errorf("instance: chunk of %d bytes, limit %d", len(p), MaxChunk)
	}
	return p2p.WriteFrame(w, p)
}

// WriteEnd writes the end-of-body frame.
func WriteEnd(w io.Writer) error { return p2p.WriteFrame(w, nil) }

// BodyReader reads a body sent as frames: each Read returns at most one
// frame's bytes, io.EOF after the end frame, and an error for a stream that
// ends or resets before it (a cut body is never mistaken for a whole one).
// Limit bounds the whole body (ErrBodyTooLarge past it; <= 0: no limit).
type BodyReader struct {
	R     *bufio.Reader
	Limit int64
	// Before, when set, is called before each frame is read (to push a
	// read deadline out).
	Before func()

	buf  []byte
	n    int64
	done bool
}

// Read implements io.Reader.
func (b *BodyReader) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.done {
			return 0, io.EOF
		}
		if b.Before != nil {
			b.Before()
		}
		frame, err := p2p.ReadFrame(b.R, MaxChunk)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("instance: body: %w", err)
		}
		if len(frame) == 0 {
			b.done = true
			return 0, io.EOF
		}
		b.n += int64(len(frame))
		if b.Limit > 0 && b.n > b.Limit {
			return 0, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, b.Limit)
		}
		b.buf = frame
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

// Total is the number of body bytes read so far.
func (b *BodyReader) Total() int64 { return b.n }

// chunkPool holds MaxChunk buffers: every call needs one each way.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, MaxChunk); return &b }}

// GetChunkBuffer returns a MaxChunk buffer; give it back with
// PutChunkBuffer when the call is over.
func GetChunkBuffer() *[]byte { return chunkPool.Get().(*[]byte) }

// PutChunkBuffer returns a buffer from GetChunkBuffer.
func PutChunkBuffer(b *[]byte) { chunkPool.Put(b) }

// KeyHash is the hash of an API key the chain keeps for an instance (only
// the hash is ever published): keccak256 of the key's bytes after
// trimming surrounding spaces, the same as the apps module's
// apps.APIKeyHash (deploy's apiKeyHash), so a chain-backed directory's
// hashes match.
func KeyHash(key string) common.Hash {
	return crypto.Keccak256Hash([]byte(strings.TrimSpace(key)))
}
