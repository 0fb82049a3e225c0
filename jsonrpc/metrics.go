package jsonrpc

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// maxMethodLabels bounds the distinct method labels of the latency
// histogram: method names come from callers, so beyond this many (and for
// names outside the served namespaces) a call is labelled "other".
const maxMethodLabels = 200

// The method labels that are not method names.
const (
	methodBatch = "batch" // a JSON array of calls, timed as one request
	methodOther = "other" // unparsable, unknown namespace, or over the cap
)

// methodName is what a served method looks like: namespace_name.
var methodName = regexp.MustCompile(`^(eth|net|web3|txpool|debug|emc|rpc)_[A-Za-z0-9]{1,64}$`)

// Metrics are the JSON-RPC server's Prometheus collectors; set
// Config.Metrics to have HTTP calls timed. WebSocket calls are not timed
// (one upgrade request carries many calls).
type Metrics struct {
	duration *prometheus.HistogramVec

	mu      sync.Mutex
	methods map[string]bool
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "emcd", Subsystem: "rpc", Name: "request_duration_seconds",
			Help:    "Time to serve one JSON-RPC HTTP request, by method (batch for a batch, other beyond the known methods).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs … 26s
		}, []string{"method"}),
		methods: map[string]bool{},
	}
	reg.MustRegister(m.duration)
	return m
}

// label returns the label of a request body: its method if it is one of
// the served namespaces and within the label cap, batch, or other.
func (m *Metrics) label(body []byte) string {
	name := requestMethod(body)
	if name == methodBatch || name == methodOther {
		return name
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.methods[name] {
		if len(m.methods) >= maxMethodLabels {
			return methodOther
		}
		m.methods[name] = true
	}
	return name
}

// requestMethod returns the method of a JSON-RPC request body, "batch" for
// an array, or "other" when it is neither a request of a served namespace
// nor parsable.
func requestMethod(body []byte) string {
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) > 0 && body[0] == '[' {
		return methodBatch
	}
	var req struct {
		Method string `json:"method"`
	}
	if err := json.Unmarshal(body, &req); err != nil || !methodName.MatchString(req.Method) {
		return methodOther
	}
	return req.Method
}

// serveTimed serves an HTTP JSON-RPC request through next and observes its
// duration under the method label. It reads at most limit+1 bytes of the
// body to find the method and hands next the whole body unchanged (an
// oversized one is refused by next as before).
func (m *Metrics) serveTimed(w http.ResponseWriter, r *http.Request, limit int, next http.Handler) {
	if r.Method != http.MethodPost || r.Body == nil {
		next.ServeHTTP(w, r)
		return
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	label := methodOther
	if err == nil && len(head) <= limit {
		label = m.label(head)
	}
	start := time.Now()
	next.ServeHTTP(w, r)
	m.duration.WithLabelValues(label).Observe(time.Since(start).Seconds())
}

type readCloser struct {
	io.Reader
	io.Closer
}
