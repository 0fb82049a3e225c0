package challenge

import (
	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/verify"
)

// Default margins, in blocks before a window's last block.
const (
	// DefaultRebutMargin: a node proves a verifier's still pending slot
	// once head + RebutMargin ≥ the window's end.
	DefaultRebutMargin = 5
	// DefaultFailMargin: a verifier gives up fetching and attests a fail
	// once head + FailMargin ≥ the window's end. It must be below the
	// rebut margin (see doc.go).
	DefaultFailMargin = 3
	// CommitResendBlocks: a commitRoot whose root is not on chain this
	// many blocks after it was sent is sent again (before the deadline).
	CommitResendBlocks = 3
	// DefaultMaxAttempts: fetches (each with its own timeout) a verifier
	// tries before attesting a fail.
	DefaultMaxAttempts = 4
)

// NodeState is what the compute node's core sees at one head.
type NodeState struct {
	// Head is the head block number; Epoch the epoch it is in.
	Head, Epoch uint64
	// Seeded: the epoch's seed is on chain.
	Seeded bool
	// Challenged: this node's listing existed at the epoch's first block
	// and has not changed since (commitRoot would refuse it otherwise).
	Challenged bool
	// Deadline is the commit deadline block of the node's class.
	Deadline uint64
	// Challenge is the node's challenge of Epoch at Head.
	Challenge verify.Challenge
	// Proving: a computation for Epoch is running; HaveProver: it is done.
	Proving, HaveProver bool
	// CommitSent: a commitRoot for Epoch was sent at head CommitSentAt.
	// Until CommitResendBlocks later it is awaited; after that, with still
	// no root on chain, it was dropped or refused and is sent again.
	CommitSent   bool
	CommitSentAt uint64
	// Rebutted lists the verifiers whose slot this node already sent a
	// rebut for.
	Rebutted map[common.Address]bool
	// RebutMargin: see DefaultRebutMargin.
	RebutMargin uint64
}

// NodeStep is what the node does at a head. At most one of Compute and
// Commit is set.
type NodeStep struct {
	Compute bool
	Commit  bool
	// Rebut lists the verifiers whose chunks to post, in slot order.
	Rebut []common.Address
}

// DecideNode is the compute node's decision at a head; it is pure.
//
// Before the root is on chain (status none) and while head < Deadline (a
// transaction sent now lands at most in block Deadline): compute if no
// Prover is held nor running, commit once one is held. Once committed
// and before the window's end, compute again if no Prover is held (a
// restart lost it); inside the window (Deadline < head < WindowEnd, a rebut landing at most
// in WindowEnd) and with the Prover held: rebut every verifier whose slot
// failed, and every pending one once head + RebutMargin ≥ WindowEnd.
func DecideNode(s *NodeState) NodeStep {
	var step NodeStep
	ch := &s.Challenge
	switch ch.Status {
	case verify.StatusNone:
		if !s.Seeded || !s.Challenged || s.Head >= s.Deadline || (s.CommitSent && s.Head < s.CommitSentAt+CommitResendBlocks) {
			return step
		}
		switch {
		case s.HaveProver:
			step.Commit = true
		case !s.Proving:
			step.Compute = true
		}
	case verify.StatusCommitted:
		if s.Head >= ch.WindowEnd {
			return step
		}
		if !s.HaveProver {
			// Restarted after the commit: the output is deterministic, so
			// computing it again yields the committed root (an honest node's).
			step.Compute = !s.Proving
			return step
		}
		if s.Head <= ch.DeadlineBlock {
			return step
		}
		late := s.Head+s.RebutMargin >= ch.WindowEnd
		for i, v := range ch.Verifiers {
			if i >= len(ch.Slots) || s.Rebutted[v] {
				continue
			}
			if ch.Slots[i] == verify.SlotFailed || (ch.Slots[i] == verify.SlotPending && late) {
				step.Rebut = append(step.Rebut, v)
			}
		}
	}
	return step
}

// VerifierAction is a verifier's decision for one challenge.
type VerifierAction uint8

// Verifier actions.
const (
	// VerifierWait: nothing to do now (not drawn, slot decided, seed not
	// yet on chain, window closed, or a transaction already sent).
	VerifierWait VerifierAction = iota
	// VerifierFetch: ask the node for the openings, check them, attest.
	VerifierFetch
	// VerifierFail: send attestFail.
	VerifierFail
)

// VerifierState is what a verifier's core sees of one challenge at one
// head.
type VerifierState struct {
	Head uint64
	// Self is the validator's signer account.
	Self      common.Address
	Challenge verify.Challenge
	// Attempts is how many fetches failed (or answered wrong) so far;
	// Sent: an attest or attestFail was sent and has not failed.
	Attempts int
	Sent     bool
	// MaxAttempts and FailMargin: see the defaults.
	MaxAttempts int
	FailMargin  uint64
}

// DecideVerifier is the verifier's decision for one challenge at a head;
// it is pure. It acts only on a committed challenge where Self holds a
// pending slot, inside the window (DeadlineBlock < head < WindowEnd, so a
// transaction lands at most in WindowEnd): fetch while attempts remain
// and head + FailMargin < WindowEnd, else attest a fail.
func DecideVerifier(s *VerifierState) VerifierAction {
	ch := &s.Challenge
	if s.Sent || ch.Status != verify.StatusCommitted || s.Head <= ch.DeadlineBlock || s.Head >= ch.WindowEnd {
		return VerifierWait
	}
	slot := -1
	for i, v := range ch.Verifiers {
		if v == s.Self && i < len(ch.Slots) {
			slot = i
			break
		}
	}
	if slot < 0 || ch.Slots[slot] != verify.SlotPending {
		return VerifierWait
	}
	if s.Attempts >= s.MaxAttempts || s.Head+s.FailMargin >= ch.WindowEnd {
		return VerifierFail
	}
	return VerifierFetch
}
