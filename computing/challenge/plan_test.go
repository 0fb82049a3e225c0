package challenge

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/verify"
)

var (
	va = common.Address{0xa}
	vb = common.Address{0xb}
	vc = common.Address{0xc}
)

func committed(slots ...uint8) verify.Challenge {
	return verify.Challenge{Status: verify.StatusCommitted, Root: common.Hash{1}, N: 256, DeadlineBlock: 46, WindowEnd: 56,
		Verifiers: []common.Address{va, vb, vc}[:len(slots)], Slots: slots}
}

func TestDecideNode(t *testing.T) {
	p, f := verify.SlotPending, verify.SlotFailed
	base := func() NodeState {
		return NodeState{Head: 41, Epoch: 1, Seeded: true, Challenged: true, Deadline: 46, RebutMargin: 5}
	}
	for _, tc := range []struct {
		name string
		edit func(*NodeState)
		want NodeStep
	}{
		{"compute at the seed", func(*NodeState) {}, NodeStep{Compute: true}},
		{"no seed yet", func(s *NodeState) { s.Seeded = false }, NodeStep{}},
		{"not challenged", func(s *NodeState) { s.Challenged = false }, NodeStep{}},
		{"computing", func(s *NodeState) { s.Proving = true }, NodeStep{}},
		{"commit once proven", func(s *NodeState) { s.HaveProver = true }, NodeStep{Commit: true}},
		{"commit the block before the deadline", func(s *NodeState) { s.HaveProver, s.Head = true, 45 }, NodeStep{Commit: true}},
		{"too late to commit at the deadline", func(s *NodeState) { s.HaveProver, s.Head = true, 46 }, NodeStep{}},
		{"too late to compute", func(s *NodeState) { s.Head = 46 }, NodeStep{}},
		{"commit sent", func(s *NodeState) { s.HaveProver, s.CommitSent, s.CommitSentAt = true, true, 40 }, NodeStep{}},
		{"commit sent, not landed: resend", func(s *NodeState) {
			s.HaveProver, s.CommitSent, s.CommitSentAt, s.Head = true, true, 41, 41+CommitResendBlocks
		}, NodeStep{Commit: true}},
		{"committed, window not open", func(s *NodeState) { s.HaveProver, s.Head, s.Challenge = true, 46, committed(f, p, p) }, NodeStep{}},
		{"rebut a fail", func(s *NodeState) { s.HaveProver, s.Head, s.Challenge = true, 47, committed(p, f, p) }, NodeStep{Rebut: []common.Address{vb}}},
		{"pending not yet late", func(s *NodeState) { s.HaveProver, s.Head, s.Challenge = true, 50, committed(p, p, p) }, NodeStep{}},
		{"pending late", func(s *NodeState) { s.HaveProver, s.Head, s.Challenge = true, 51, committed(p, verify.SlotPassed, f) }, NodeStep{Rebut: []common.Address{va, vc}}},
		{"already rebutted", func(s *NodeState) {
			s.HaveProver, s.Head, s.Challenge, s.Rebutted = true, 51, committed(p, p, f), map[common.Address]bool{va: true, vc: true}
		}, NodeStep{Rebut: []common.Address{vb}}},
		{"window's last block: too late", func(s *NodeState) { s.HaveProver, s.Head, s.Challenge = true, 56, committed(f, f, f) }, NodeStep{}},
		{"no prover after a restart: compute again", func(s *NodeState) { s.Head, s.Challenge = 47, committed(f, f, f) }, NodeStep{Compute: true}},
		{"recomputing", func(s *NodeState) { s.Head, s.Challenge, s.Proving = 44, committed(p, p, p), true }, NodeStep{}},
		{"no prover at the window's end", func(s *NodeState) { s.Head, s.Challenge = 56, committed(f, f, f) }, NodeStep{}},
		{"decided", func(s *NodeState) {
			s.HaveProver, s.Head, s.Challenge = true, 50, committed(f, f, f)
			s.Challenge.Status = verify.StatusFailed
		}, NodeStep{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.edit(&s)
			got := DecideNode(&s)
			if got.Compute != tc.want.Compute || got.Commit != tc.want.Commit || len(got.Rebut) != len(tc.want.Rebut) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got.Rebut {
				if got.Rebut[i] != tc.want.Rebut[i] {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestDecideVerifier(t *testing.T) {
	p := verify.SlotPending
	base := func() VerifierState {
		return VerifierState{Head: 47, Self: vb, Challenge: committed(p, p, p), MaxAttempts: 3, FailMargin: 3}
	}
	for _, tc := range []struct {
		name string
		edit func(*VerifierState)
		want VerifierAction
	}{
		{"fetch once the seed is on chain", func(*VerifierState) {}, VerifierFetch},
		{"not before the window", func(s *VerifierState) { s.Head = 46 }, VerifierWait},
		{"not drawn", func(s *VerifierState) { s.Self = common.Address{0xd} }, VerifierWait},
		{"slot decided", func(s *VerifierState) { s.Challenge.Slots[1] = verify.SlotProvenByNode }, VerifierWait},
		{"sent", func(s *VerifierState) { s.Sent = true }, VerifierWait},
		{"attempts left", func(s *VerifierState) { s.Attempts = 2 }, VerifierFetch},
		{"attempts spent", func(s *VerifierState) { s.Attempts = 3 }, VerifierFail},
		{"last blocks: fail", func(s *VerifierState) { s.Head = 53 }, VerifierFail},
		{"before the margin: fetch", func(s *VerifierState) { s.Head = 52 }, VerifierFetch},
		{"window's last block: too late", func(s *VerifierState) { s.Head, s.Attempts = 56, 9 }, VerifierWait},
		{"not committed", func(s *VerifierState) { s.Challenge = verify.Challenge{} }, VerifierWait},
		{"decided", func(s *VerifierState) { s.Challenge.Status = verify.StatusVerified }, VerifierWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.edit(&s)
			if got := DecideVerifier(&s); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// TestMarginsOrdered: a verifier's fail lands while the node may still
// rebut it, and the node proves a pending slot before the verifier's
// last-minute fail.
func TestMarginsOrdered(t *testing.T) {
	if DefaultFailMargin >= DefaultRebutMargin || DefaultFailMargin < 2 {
		t.Fatalf("fail margin %d, rebut margin %d", DefaultFailMargin, DefaultRebutMargin)
	}
}
