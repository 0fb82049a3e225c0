package sim

import (
	"flag"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "replay this one seed (0: run -seeds seeds)")
	seedsFlag = flag.Int("seeds", 0, "number of seeds to run (default 256, 64 with -short, 16 with -race -short)")
	firstFlag = flag.Uint64("first-seed", 1, "first seed of the range")
	traceFlag = flag.Bool("trace", false, "print the event trace of a -seed run")
)

// TestSimulation runs many seeds of the simulator; see the package
// documentation for what each checks.
func TestSimulation(t *testing.T) {
	if *seedFlag != 0 {
		cfg := Config{Seed: *seedFlag}
		if *traceFlag {
			cfg.Trace = os.Stdout
		}
		res, err := Run(cfg)
		t.Logf("%s: %d ticks, height %d, %d messages, %d crashes", res.Scenario, res.Ticks, res.Height, res.Sent, res.Crashes)
		if err != nil {
			t.Fatalf("SEED=%d: %v", *seedFlag, err)
		}
		return
	}
	n := *seedsFlag
	if n == 0 {
		n = 256
		if testing.Short() {
			n = 64
			if raceEnabled {
				n = 16
			}
		}
	}
	start := time.Now()
	var next atomic.Uint64
	next.Store(*firstFlag)
	last := *firstFlag + uint64(n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var heights, ticks uint64
	var evidence, byzRuns, lateSeals int
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seed := next.Add(1) - 1
				if seed >= last {
					return
				}
				res, err := Run(Config{Seed: seed})
				mu.Lock()
				heights += res.Height
				ticks += res.Ticks
				evidence += res.Evidence
				lateSeals += res.LateSeals
				if res.Byzantine > 0 {
					byzRuns++
				}
				mu.Unlock()
				if err != nil {
					t.Errorf("SEED=%d: %s: %v", seed, res.Scenario, err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d seeds in %v: %d heights committed over %d ticks; %d pieces of evidence in %d runs with byzantine validators; %d late seals in parent certificates",
		n, time.Since(start).Round(time.Millisecond), heights, ticks, evidence, byzRuns, lateSeals)
	// Byzantine validators equivocate in about one message in ten: over
	// enough runs with them, some equivocation must be caught.
	if byzRuns >= 8 && evidence == 0 {
		t.Errorf("%d runs with byzantine validators reported no equivocation evidence", byzRuns)
	}
}

// TestDeterministic: one seed gives the same run twice.
func TestDeterministic(t *testing.T) {
	for _, seed := range []uint64{3, 11} {
		a, errA := Run(Config{Seed: seed})
		b, errB := Run(Config{Seed: seed})
		if a != b || (errA == nil) != (errB == nil) {
			t.Fatalf("SEED=%d: runs differ: %+v vs %+v", seed, a, b)
		}
	}
}

// TestCrashAtNthWrite: every validator's WAL tears on its Nth append (three
// times each) for each N; restarted validators must never sign conflicting
// messages, never lose a prepared certificate, and the cluster stays live.
func TestCrashAtNthWrite(t *testing.T) {
	last := 24
	if testing.Short() {
		last = 8
	}
	for n := 1; n <= last; n++ {
		res, err := Run(Config{Seed: uint64(1000 + n), CrashAtWrite: n})
		if err != nil {
			t.Fatalf("SEED=%d crash-at-write=%d: %v", 1000+n, n, err)
		}
		if res.Crashes == 0 {
			t.Fatalf("crash-at-write=%d: no crash happened", n)
		}
	}
}
