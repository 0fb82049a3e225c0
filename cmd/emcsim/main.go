// Command emcsim runs the IBFT simulator (consensus/sim) for one seed or a
// range of seeds, printing SEED=<n> for every failing run:
//
//	emcsim -seed 42 -trace     # replay one seed with its event trace
//	emcsim -first 1 -seeds 1000
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/emc-network/emcd/consensus/sim"
)

func main() {
	seed := flag.Uint64("seed", 0, "run this one seed")
	first := flag.Uint64("first", 1, "first seed of a range (without -seed)")
	seeds := flag.Int("seeds", 100, "number of seeds in the range")
	trace := flag.Bool("trace", false, "print the event trace (with -seed)")
	chaos := flag.Uint64("chaos", 0, "ticks of faulty phase (0: default)")
	crashAt := flag.Int("crash-at-write", 0, "fixed scenario: WALs tear on this append")
	flag.Parse()

	cfg := sim.Config{ChaosTicks: *chaos, CrashAtWrite: *crashAt}
	from, n := *first, *seeds
	if *seed != 0 {
		from, n = *seed, 1
		if *trace {
			cfg.Trace = os.Stdout
		}
	}
	failed := 0
	start := time.Now()
	for s := from; s < from+uint64(n); s++ {
		cfg.Seed = s
		res, err := sim.Run(cfg)
		if err != nil {
			failed++
			fmt.Printf("SEED=%d FAIL %s: %v\n", s, res.Scenario, err)
			continue
		}
		if n == 1 {
			fmt.Printf("SEED=%d ok %s: %d ticks, height %d, %d messages, %d crashes\n",
				s, res.Scenario, res.Ticks, res.Height, res.Sent, res.Crashes)
		}
	}
	fmt.Printf("%d seeds, %d failed, %v\n", n, failed, time.Since(start).Round(time.Millisecond))
	if failed > 0 {
		os.Exit(1)
	}
}
