package relay

// Relay overhead on loopback: the same small GET straight to the app and
// through router + node (two libp2p hosts), with p50 and p99 per call, and
// calls per second through one router from many callers.
//
//	go test ./router/relay -run '^$' -bench . -benchtime 3000x

import (
	"io"
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"
)

func benchCalls(b *testing.B, url, key string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		req, _ := http.NewRequest("GET", url, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

func BenchmarkDirect(b *testing.B) {
	r := newRig(b, nil, nil)
	benchCalls(b, r.app.srv.URL+"/echo", "")
}

func BenchmarkRelay(b *testing.B) {
	r := newRig(b, nil, nil)
	benchCalls(b, r.front.URL+"/apps/7/echo", r.key)
}

// BenchmarkRelayParallel: 64 callers at once through one router.
func BenchmarkRelayParallel(b *testing.B) {
	r := newRig(b, nil, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.SetParallelism(64 / max(1, runtime.GOMAXPROCS(0)))
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", r.front.URL+"/apps/7/echo", nil)
			req.Header.Set("Authorization", "Bearer "+r.key)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
