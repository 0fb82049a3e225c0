package state

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// scaleSetting is one configuration of BenchmarkStateScale that is run at
// several sizes.
type scaleSetting struct {
	scheme string
	layers int // path scheme diff layers; 0 for the hash scheme
}

func (s scaleSetting) String() string {
	if s.layers == 0 {
		return "scheme=" + s.scheme
	}
	return fmt.Sprintf("scheme=%s layers=%d", s.scheme, s.layers)
}

// scaleSummary collects the transfer throughput of every run of
// BenchmarkStateScale so that repeated rounds can be summarised: the
// median per size and the ratio of the largest size to the smallest, the
// figure issue 9's goal is about. Single runs spread by 10-30 % on the
// 2-core machines we measure on, so one pair of runs proves little.
// Sub-benchmarks run one at a time, so it needs no lock.
type scaleSummary struct {
	runs map[scaleSetting]map[int]map[int]float64 // setting → accounts → round → tx/s
	keys []scaleSetting                           // settings in first-seen order
}

func newScaleSummary() *scaleSummary {
	return &scaleSummary{runs: make(map[scaleSetting]map[int]map[int]float64)}
}

func (s *scaleSummary) add(set scaleSetting, accounts, round int, tps float64) {
	bySize, ok := s.runs[set]
	if !ok {
		bySize = make(map[int]map[int]float64)
		s.runs[set] = bySize
		s.keys = append(s.keys, set)
	}
	if bySize[accounts] == nil {
		bySize[accounts] = make(map[int]float64)
	}
	bySize[accounts][round] = tps
}

// median of a non-empty list (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	ys := slices.Clone(xs)
	slices.Sort(ys)
	m := len(ys) / 2
	if len(ys)%2 == 1 {
		return ys[m]
	}
	return (ys[m-1] + ys[m]) / 2
}

// print writes the summary; it writes nothing when there is nothing to
// compare (one size, one round).
func (s *scaleSummary) print(w io.Writer) {
	for _, set := range s.keys {
		bySize := s.runs[set]
		sizes := make([]int, 0, len(bySize))
		rounds := 0
		for n, rs := range bySize {
			sizes = append(sizes, n)
			rounds = max(rounds, len(rs))
		}
		if len(sizes) < 2 && rounds < 2 {
			continue
		}
		slices.Sort(sizes)
		fmt.Fprintf(w, "SUMMARY %s, transfers/s:\n", set)
		medians := make(map[int]float64, len(sizes))
		for _, n := range sizes {
			var xs []float64
			for _, tps := range bySize[n] {
				xs = append(xs, tps)
			}
			medians[n] = median(xs)
			fmt.Fprintf(w, "  accounts=%d: median %.0f of %d runs (%.0f-%.0f)\n", n, medians[n], len(xs), slices.Min(xs), slices.Max(xs))
		}
		if len(sizes) < 2 {
			continue
		}
		small, large := sizes[0], sizes[len(sizes)-1]
		// Per round, where a round ran both sizes.
		var perRound []string
		roundIDs := make([]int, 0, len(bySize[large]))
		for r := range bySize[large] {
			roundIDs = append(roundIDs, r)
		}
		slices.Sort(roundIDs)
		for _, r := range roundIDs {
			if base, ok := bySize[small][r]; ok && base > 0 {
				perRound = append(perRound, fmt.Sprintf("%.2f", bySize[large][r]/base))
			}
		}
		fmt.Fprintf(w, "  ratio accounts=%d / accounts=%d: %.2f of the medians; per round: %s\n",
			large, small, medians[large]/medians[small], strings.Join(perRound, " "))
	}
}

func TestScaleSummary(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Fatalf("median of 3 = %v", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Fatalf("median of 4 = %v", got)
	}
	s := newScaleSummary()
	path := scaleSetting{scheme: SchemePath, layers: 16}
	for round, pair := range [][2]float64{{20000, 9000}, {25000, 13000}, {22000, 12000}} {
		s.add(path, 10_000, round+1, pair[0])
		s.add(path, 1_000_000, round+1, pair[1])
	}
	s.add(scaleSetting{scheme: SchemeHash}, 10_000, 1, 5000) // one run: no summary
	s.add(scaleSetting{scheme: SchemeHash}, 10_000, 2, 6000)
	s.add(scaleSetting{scheme: SchemeHash}, 20_000, 1, 4000)
	var out strings.Builder
	s.print(&out)
	for _, want := range []string{
		"SUMMARY scheme=path layers=16",
		"accounts=10000: median 22000 of 3 runs (20000-25000)",
		"accounts=1000000: median 12000 of 3 runs (9000-13000)",
		"ratio accounts=1000000 / accounts=10000: 0.55 of the medians; per round: 0.45 0.52 0.55",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	// The hash scheme has no layers; its 20,000-account size ran once.
	for _, want := range []string{
		"SUMMARY scheme=hash, transfers/s:",
		"accounts=20000: median 4000 of 1 runs (4000-4000)",
		"ratio accounts=20000 / accounts=10000: 0.73 of the medians; per round: 0.80",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	one := newScaleSummary()
	one.add(scaleSetting{scheme: SchemeHash}, 10_000, 1, 5000)
	var none strings.Builder
	one.print(&none)
	if none.Len() != 0 {
		t.Errorf("summary of a single run printed:\n%s", none.String())
	}
}
