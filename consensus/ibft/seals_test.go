package ibft

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/consensus/cert"
)

// §4.2, no locks: an honest validator may COMMIT different blocks in
// different rounds of one height. This test drives three honest cores and
// one byzantine key (n = 4, F = 1) through four rounds of adversarial
// scheduling, all legal for the protocol:
//
//	round 0 (proposer 1): d;  only node 1 prepares, commits d
//	round 1 (proposer 2): round changes of 2, 3 and B (none prepared)
//	                      justify a fresh d'; only node 2 prepares, commits d'
//	round 2 (proposer 3): round changes of 1 (d@0), 3 and B: re-propose d;
//	                      only node 3 prepares, commits d
//	round 3 (proposer B): round changes of 1 (d@0), 2 (d'@1) and B: d'@1 is
//	                      the highest prepared, so d' is justified; node 1
//	                      prepares and commits d'
//
// No round ever gathers a quorum of COMMITs, so no honest core decides.
// Were commit seals over the block hash alone, the seals of rounds 0 and 2
// (nodes 1 and 3, plus B) would form a certificate for d, and those of
// rounds 1 and 3 (nodes 2 and 1, plus B) one for d': two "final" blocks at
// one height. Commit seals sign (hash, round) and a certificate names its
// round, so B cannot complete either certificate in any round.
func TestMixedRoundSealsFormNoCertificate(t *testing.T) {
	tn := newTestNet(t, 4)
	const byz = 0
	nodes := map[int]*Core{1: tn.core(1, 1), 2: tn.core(2, 1), 3: tn.core(3, 1)}
	out := map[int]Ready{}
	for i, c := range nodes {
		out[i] = drain(c)
	}
	d, d2 := block(1, "d"), block(1, "d-prime")
	seals := map[common.Hash][][]byte{}
	collect := func(rd Ready) {
		for _, m := range sent(rd, MsgCommit) {
			seals[m.Digest] = append(seals[m.Digest], m.CommitSeal)
		}
	}
	step := func(i int, ms ...*Message) Ready {
		t.Helper()
		for _, m := range ms {
			mustStep(t, nodes[i], m)
		}
		rd := drain(nodes[i])
		more := validateAll(nodes[i], rd)
		rd.Messages = append(rd.Messages, more.Messages...)
		if more.NeedProposal != nil {
			rd.NeedProposal = more.NeedProposal
		}
		collect(rd)
		return rd
	}
	pick := func(rd Ready, code Code, r uint64) *Message {
		t.Helper()
		for _, m := range sent(rd, code) {
			if m.Round == r {
				return m
			}
		}
		t.Fatalf("no %s for round %d in %+v", code, r, rd.Messages)
		return nil
	}
	// timeout ticks node i into round r and returns its ROUND-CHANGE.
	timeout := func(i int, r uint64) *Message {
		t.Helper()
		var all Ready
		for n := 0; nodes[i].Status().Round < r; n++ {
			if n > 10*testMax {
				t.Fatalf("node %d stuck in round %d", i, nodes[i].Status().Round)
			}
			nodes[i].Tick()
			rd := drain(nodes[i])
			all.Messages = append(all.Messages, rd.Messages...)
		}
		return pick(all, MsgRoundChange, r)
	}
	bRC := func(r uint64) *Message {
		return tn.sign(byz, &Message{Signed: Signed{Code: MsgRoundChange, Height: 1, Round: r}})
	}

	// Round 0: node 1 proposes d; only node 1 sees a quorum of PREPAREs.
	if err := nodes[1].Propose(d); err != nil {
		t.Fatal(err)
	}
	pp0 := pick(drain(nodes[1]), MsgPrePrepare, 0)
	prep2 := pick(step(2, pp0), MsgPrepare, 0)
	step(3, pp0)
	step(1, prep2, tn.msg(byz, MsgPrepare, 1, 0, d.Hash))

	// Round 1: everyone times out; node 2 hears from 3 and B only.
	rc1 := map[int]*Message{1: timeout(1, 1), 2: timeout(2, 1), 3: timeout(3, 1)}
	if rc1[1].Digest != d.Hash {
		t.Fatal("node 1's round change does not carry its prepared d")
	}
	step(1, rc1[2], rc1[3], bRC(1))
	step(3, rc1[1], rc1[2], bRC(1))
	rd := step(2, rc1[3], bRC(1))
	if rd.NeedProposal == nil {
		t.Fatal("node 2 was not asked for a block")
	}
	if err := nodes[2].Propose(d2); err != nil {
		t.Fatal(err)
	}
	pp1 := pick(drain(nodes[2]), MsgPrePrepare, 1)
	prep3 := pick(step(3, pp1), MsgPrepare, 1)
	step(2, prep3, tn.msg(byz, MsgPrepare, 1, 1, d2.Hash))

	// Round 2: node 3 hears from 1 (prepared d@0) and B: re-proposes d.
	rc2 := map[int]*Message{1: timeout(1, 2), 2: timeout(2, 2), 3: timeout(3, 2)}
	step(1, rc2[2], rc2[3], bRC(2))
	step(2, rc2[1], rc2[3], bRC(2))
	pp2 := pick(step(3, rc2[1], bRC(2)), MsgPrePrepare, 2)
	if pp2.Digest != d.Hash {
		t.Fatalf("round 2 must re-propose d, got %x", pp2.Digest[:4])
	}
	prep1 := pick(step(1, pp2), MsgPrepare, 2)
	step(3, prep1, tn.msg(byz, MsgPrepare, 1, 2, d.Hash))

	// Round 3: B proposes d', justified by 2's prepared certificate of round 1.
	rc3 := map[int]*Message{1: timeout(1, 3), 2: timeout(2, 3), 3: timeout(3, 3)}
	if rc3[2].Digest != d2.Hash || rc3[2].PreparedRound != 1 {
		t.Fatal("node 2's round change does not carry d'@1")
	}
	step(1, rc3[2], rc3[3], bRC(3))
	step(2, rc3[1], rc3[3], bRC(3))
	pp3 := tn.sign(byz, &Message{
		Signed:       Signed{Code: MsgPrePrepare, Height: 1, Round: 3, Digest: d2.Hash},
		Proposal:     d2.Raw,
		RoundChanges: []Signed{rc3[1].Signed, rc3[2].Signed, bRC(3).Signed},
		Prepares:     rc3[2].Prepares,
	})
	prep2b := pick(step(2, pp3), MsgPrepare, 3)
	step(1, pp3, prep2b, tn.msg(byz, MsgPrepare, 1, 3, d2.Hash))

	for i, c := range nodes {
		if c.Status().Decided {
			t.Fatalf("node %d decided without a quorum of COMMITs in one round", i)
		}
	}
	if len(seals[d.Hash]) != 2 || len(seals[d2.Hash]) != 2 {
		t.Fatalf("honest seals: %d on d, %d on d'", len(seals[d.Hash]), len(seals[d2.Hash]))
	}
	// B adds its own seal, for whichever round it likes: no certificate.
	for _, h := range []common.Hash{d.Hash, d2.Hash} {
		for round := uint64(0); round < 4; round++ {
			bs, _ := cert.SignCommit(h, round, tn.signers[byz].Sign)
			c := cert.Certificate{Round: round, Seals: append(append([][]byte(nil), seals[h]...), bs)}
			if _, err := c.Verify(h, tn.vals); err == nil {
				t.Fatalf("mixed-round seals for %x formed a valid round-%d certificate", h[:4], round)
			}
		}
	}
}
