package node

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/emc-network/emcd/config"
	"github.com/emc-network/emcd/genesis"
)

// TestMetricsScrapedConcurrently: scrapes run on the metrics server's
// goroutines while the node seals blocks; the chain-state gauges open a
// StateDB per scrape, so many concurrent scrapes are safe (run with -race)
// and report the head's values.
func TestMetricsScrapedConcurrently(t *testing.T) {
	n, err := New(Config{Role: RoleValidator, Dev: true, DevPeriod: 20 * time.Millisecond, Genesis: genesis.Dev(),
		DataDir: config.NewDataDir(t.TempDir())}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	stop := time.Now().Add(1500 * time.Millisecond)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := n.reg.Gather(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("gather: %v", err)
	}

	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]*dto.Metric{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()
	}
	value := func(name string) float64 {
		t.Helper()
		ms := got[name]
		if len(ms) == 0 {
			t.Fatalf("%s not exported", name)
		}
		m := ms[0]
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
		t.Fatalf("%s: no value", name)
		return 0
	}
	if h := value("emcd_chain_head_number"); h < 5 {
		t.Fatalf("head %v: the dev node did not seal", h)
	}
	if c := value("emcd_chain_block_interval_seconds"); c < 4 {
		t.Errorf("block interval observed %v times", c)
	}
	if v := value("emcd_sync_distance_blocks"); v != 0 {
		t.Errorf("sync distance %v on a lone dev node", v)
	}
	if v := value("emcd_datadir_filesystem_avail_bytes"); v <= 0 || v > value("emcd_datadir_filesystem_size_bytes") {
		t.Errorf("data dir filesystem: %v available of %v", v, value("emcd_datadir_filesystem_size_bytes"))
	}
	if v := value("emcd_jobs_created_total"); v != 0 {
		t.Errorf("jobs created %v on a fresh dev chain", v)
	}
	if len(got["emcd_jobs_waiting"]) != 2 {
		t.Errorf("emcd_jobs_waiting: %d states, want submitted and assigned", len(got["emcd_jobs_waiting"]))
	}
	if v := value("emcd_rewards_next_settle_epoch"); v < 0 {
		t.Errorf("next settle epoch %v", v)
	}
	if v := value("emcd_metrics_state_read_errors_total"); v != 0 {
		t.Errorf("%v scrapes could not read the head state", v)
	}
}
