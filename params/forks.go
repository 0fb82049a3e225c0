package params

// A fork is a named change of the consensus rules: blocks from its
// activation block on execute under the new rules, blocks before it under
// the old ones. A chain schedules the forks in its genesis file ("forks":
// {"name": block}); a fork absent there never activates. The genesis
// package validates the schedule against Forks and the state package
// refuses a schedule change that would rewrite blocks already stored (see
// genesis.CheckForkChange), as go-ethereum's ChainConfig does for its forks.
//
// Adding a fork: add a constant and an entry to Forks, gate every rule it
// changes on the chain's activation block (never on the binary's version),
// and schedule it at block 0 in the dev and testnet genesis so new chains
// start with it.
const (
	// ForkVerifyPrune: the verification module indexes the challenges
	// and router probes of each epoch and, at the start of every epoch,
	// deletes what it kept of the epoch its keepEpochs param left behind
	// (seed, validator set, challenges, probes, sample seeds); views and
	// recordMiss of a deleted epoch answer verify.ErrPruned. Epochs that
	// began before the activation block are never indexed, so never
	// deleted.
	ForkVerifyPrune = "verifyPrune"
)

// Fork describes one fork this binary knows.
type Fork struct {
	// Name is the fork's key in the genesis "forks" object.
	Name string
	// Doc says what changes, for `emcd` help and error messages.
	Doc string
}

// Forks lists every fork this binary knows, oldest first. A genesis that
// schedules a fork not listed here is refused: the binary cannot execute
// its rules, so it must be upgraded before it can follow that chain.
var Forks = []Fork{
	{Name: ForkVerifyPrune, Doc: "the verification module deletes each epoch's challenges, probes and seeds keepEpochs epochs later"},
}

// KnownFork reports whether name is a fork this binary knows.
func KnownFork(name string) bool {
	for _, f := range Forks {
		if f.Name == name {
			return true
		}
	}
	return false
}

// ForkState is a fork this binary knows with a chain's schedule for it,
// as of a head block: what emc_forks and the operator API report.
type ForkState struct {
	Fork
	// Scheduled: the chain activates the fork from Block on; Active: the
	// head is at or past Block.
	Scheduled bool
	Block     uint64
	Active    bool
}

// ForkStates lists Forks, oldest first, with schedule sched (fork name to
// activation block) as of head.
func ForkStates(sched map[string]uint64, head uint64) []ForkState {
	out := make([]ForkState, 0, len(Forks))
	for _, f := range Forks {
		s := ForkState{Fork: f}
		if b, ok := sched[f.Name]; ok {
			s.Scheduled, s.Block, s.Active = true, b, head >= b
		}
		out = append(out, s)
	}
	return out
}
