package jsonrpc

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestRequestMethod(t *testing.T) {
	for body, want := range map[string]string{
		`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`: "eth_blockNumber",
		`  {"method":"emc_getJob"}`:                                       "emc_getJob",
		` [{"method":"eth_chainId"}]`:                                     methodBatch,
		`{"method":"admin_addPeer"}`:                                      methodOther, // not a served namespace
		`{"method":"eth_` + strings.Repeat("x", 65) + `"}`:                methodOther,
		`{"method":"eth_a\u0000"}`:                                        methodOther,
		`{"method":7}`:                                                    methodOther,
		`not json`:                                                        methodOther,
		``:                                                                methodOther,
	} {
		if got := requestMethod([]byte(body)); got != want {
			t.Errorf("requestMethod(%q) = %q, want %q", body, got, want)
		}
	}
}

// TestRPCMetricsByMethod: HTTP calls are timed under their method, the
// server still answers them (the body is handed on whole), and callers
// cannot grow the label set past the cap, also when many call at once.
func TestRPCMetricsByMethod(t *testing.T) {
	b := newFakeBackend(t)
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Metrics = NewMetrics(reg)
	srv, err := NewServer(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	rec := post(t, srv, "localhost", "", `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"result"`) {
		t.Fatalf("eth_chainId: %d %s", rec.Code, rec.Body)
	}
	rec = post(t, srv, "localhost", "", `[{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]},{"jsonrpc":"2.0","id":2,"method":"net_version","params":[]}]`)
	if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `"result"`) != 2 {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	// Many callers at once, each with made-up method names: beyond the cap
	// every new name counts as "other".
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < maxMethodLabels/2; i++ {
				post(t, srv, "localhost", "", fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"eth_made%dup%d","params":[]}`, g, i))
			}
		}()
	}
	wg.Wait()

	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %d families, %v", len(mfs), err)
	}
	if n := len(mfs[0].GetMetric()); n != maxMethodLabels+2 {
		t.Errorf("%d method labels, want the cap %d plus batch and other", n, maxMethodLabels)
	}
	h := cfg.Metrics.duration
	for label, want := range map[string]uint64{"eth_chainId": 1, methodBatch: 1, methodOther: 8*maxMethodLabels/2 - (maxMethodLabels - 1)} {
		var m dto.Metric
		if err := h.WithLabelValues(label).(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetHistogram().GetSampleCount(); got != want {
			t.Errorf("%s: %d observations, want %d", label, got, want)
		}
	}
}

// FuzzRequestMethod: any body gives a bounded label, never a panic.
func FuzzRequestMethod(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`))
	f.Add([]byte(`[{"method":"eth_chainId"}]`))
	f.Add([]byte(`{"method":"eth_\u00e9"}`))
	f.Add([]byte{0xff, '{'})
	f.Fuzz(func(t *testing.T, body []byte) {
		got := requestMethod(body)
		if got != methodBatch && got != methodOther && !methodName.MatchString(got) {
			t.Fatalf("requestMethod(%q) = %q: not a bounded label", body, got)
		}
	})
}
