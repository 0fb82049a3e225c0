package score

import (
	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/state/native"
)

const (
	// Max is the best score (parts per million).
	Max = 1_000_000
	// Neutral is a new node's score: no counters, no history.
	Neutral = Max / 2
	// MaxCount caps every counter in the formula.
	MaxCount = 1 << 40
	// prior is the pseudo-count of good and of bad outcomes in both terms.
	prior = 2
)

// Inputs are what the score is computed from (see the package doc).
type Inputs struct {
	// Passed, Failed, Missed: the verify module's node counters.
	Passed, Failed, Missed uint64
	// Succeeded, JobFailed, TimedOut: the jobs module's provider counters
	// (TimedOut counts missed accept and result deadlines and
	// re-executions not answered in time: the no-shows).
	Succeeded, JobFailed, TimedOut uint64
	// Unresolved: the jobs module's count of unresolved re-execution
	// disagreements the node answered in (jobs.FaultsOf Unresolved).
	Unresolved uint64
	// History: the node's recent challenge outcomes, newest first
	// (verify.StatusVerified, StatusFailed, StatusMissed; other values and
	// entries past verify.HistoryLen are ignored).
	History []uint8
	// Slashes and Jails: the jobs module's slash and jail counters (zero
	// until the chain records them; see Gather).
	Slashes, Jails uint64
}

// Gather reads node's inputs from the state s. It is the one place that
// knows where the inputs live: the verify module's challenge counters and
// history, the jobs module's job counters and its slash, jail and
// unresolved counters (re-execution and disputes, jobs.FaultsOf).
func Gather(s native.StateReader, node common.Address) Inputs {
	f := verify.FaultsOf(s, node)
	st := jobs.StatsOf(s, node)
	jf := jobs.FaultsOf(s, node)
	return Inputs{
		Passed: f.Passed, Failed: f.Failed, Missed: f.Missed,
		Succeeded: st.Succeeded, JobFailed: st.Failed, TimedOut: st.TimedOut,
		Slashes: jf.Slashes, Jails: jf.Jails, Unresolved: jf.Unresolved,
		History: verify.HistoryOf(s, node),
	}
}

// At is node's score at the state s: Of(Gather(s, node)).
func At(s native.StateReader, node common.Address) uint64 { return Of(Gather(s, node)) }

func capped(v uint64) uint64 { return min(v, MaxCount) }

// ratio is Max·(good+prior)/(good+bad+2·prior); good and bad are below
// 2^44 (11·MaxCount at most), so the product stays below 2^64.
func ratio(good, bad uint64) uint64 {
	return Max * (good + prior) / (good + bad + 2*prior)
}

// Of is the score of in, in [0, Max].
func Of(in Inputs) uint64 {
	good := capped(in.Passed) + capped(in.Succeeded)
	bad := 4*(capped(in.Failed)+capped(in.Missed)) + capped(in.JobFailed) + capped(in.TimedOut) + capped(in.Unresolved)
	lifetime := ratio(good, bad)
	var g, b uint64
	for i, o := range in.History[:min(len(in.History), verify.HistoryLen)] {
		w := uint64(verify.HistoryLen - i)
		switch o {
		case verify.StatusVerified:
			g += w
		case verify.StatusFailed, verify.StatusMissed:
			b += 3 * w
		}
	}
	recent := ratio(g, b)
	return (lifetime + recent) / 2 / (1 + capped(in.Slashes) + capped(in.Jails))
}

// HistoryName is the name of a history outcome as RPC reports it.
func HistoryName(o uint8) string {
	switch o {
	case verify.StatusVerified:
		return "verified"
	case verify.StatusFailed:
		return "failed"
	case verify.StatusMissed:
		return "missed"
	}
	return "unknown"
}
