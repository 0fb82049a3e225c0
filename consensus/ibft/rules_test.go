package ibft

// One test per rule of IBFT 2.0 (Saltini & Hyland-Wood 2019), in the style
// of etcd raft's raft_paper_test.go: each test drives a single core by hand
// with messages signed by the other validators' keys and checks its Ready
// output. Section numbers refer to the paper; "Alg." to its algorithms
// (1: start of a round, 2: normal case, 3: round change, 4: proposer's
// round change); "QBFT" marks the justification rules IBFT 2.0 shares with
// QBFT.

import (
	"crypto/ecdsa"
	"errors"
	"math/big"
	"slices"
	"testing"
	"testing/quick"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/consensus/cert"
)

const (
	testBase = 4
	testMax  = 16
)

type testNet struct {
	t       *testing.T
	signers []*KeySigner // index i is the i-th validator in sorted order
	vals    []common.Address
}

func newTestNet(t *testing.T, n int) *testNet {
	t.Helper()
	tn := &testNet{t: t}
	for i := range n {
		k, err := crypto.ToECDSA(crypto.Keccak256([]byte{byte(i), 'k'}))
		if err != nil {
			t.Fatal(err)
		}
		tn.signers = append(tn.signers, NewKeySigner(k))
	}
	slices.SortFunc(tn.signers, func(a, b *KeySigner) int { return a.addr.Cmp(b.addr) })
	for _, s := range tn.signers {
		tn.vals = append(tn.vals, s.addr)
	}
	return tn
}

func (tn *testNet) key(i int) *ecdsa.PrivateKey { return tn.signers[i].key }

// core returns validator i's core at height.
func (tn *testNet) core(i int, height uint64) *Core {
	tn.t.Helper()
	c, err := New(Config{Signer: tn.signers[i], BaseTimeoutTicks: testBase, MaxTimeoutTicks: testMax}, height, tn.vals)
	if err != nil {
		tn.t.Fatal(err)
	}
	return c
}

// sign signs m as validator i (adding the commit seal for COMMITs).
func (tn *testNet) sign(i int, m *Message) *Message {
	tn.t.Helper()
	if m.Code == MsgCommit {
		seal, err := cert.SignCommit(m.Digest, m.Round, tn.signers[i].Sign)
		if err != nil {
			tn.t.Fatal(err)
		}
		m.CommitSeal = seal
	}
	d := m.SigningDigest()
	sig, err := tn.signers[i].Sign(d[:])
	if err != nil {
		tn.t.Fatal(err)
	}
	m.Signature = sig
	return m
}

func (tn *testNet) msg(i int, code Code, h, r uint64, d common.Hash) *Message {
	return tn.sign(i, &Message{Signed: Signed{Code: code, Height: h, Round: r, Digest: d}})
}

func block(h uint64, tag string) Proposal {
	raw := []byte(tag)
	return Proposal{Height: h, Hash: crypto.Keccak256Hash(raw), Raw: raw}
}

// drain collects and acknowledges all of c's output.
func drain(c *Core) Ready {
	var all Ready
	for c.HasReady() {
		rd := c.Ready()
		all.WAL = append(all.WAL, rd.WAL...)
		all.Messages = append(all.Messages, rd.Messages...)
		all.Validate = append(all.Validate, rd.Validate...)
		if rd.Commit != nil {
			all.Commit = rd.Commit
		}
		if rd.NeedProposal != nil {
			all.NeedProposal = rd.NeedProposal
		}
		if rd.Timer != nil {
			all.Timer = rd.Timer
		}
		all.Evidence = append(all.Evidence, rd.Evidence...)
		c.Advance()
	}
	return all
}

func sent(rd Ready, code Code) []*Message {
	var out []*Message
	for _, o := range rd.Messages {
		if o.Msg.Code == code {
			out = append(out, o.Msg)
		}
	}
	return out
}

func mustStep(t *testing.T, c *Core, m *Message) {
	t.Helper()
	if err := c.Step(m); err != nil {
		t.Fatalf("step %s: %v", m.Code, err)
	}
}

// validateAll answers every validation request as valid.
func validateAll(c *Core, rd Ready) Ready {
	for _, p := range rd.Validate {
		c.ProposalValidated(p, crypto.Keccak256Hash(p.Raw), nil)
	}
	return drain(c)
}

// proposer of (h, r) is validator index (h + r) mod n.
func proposerIndex(n int, h, r uint64) int { return int((h + r) % uint64(n)) }

// §4 proposer selection (implementation-defined; round-robin as in Besu).
func TestProposerRoundRobin(t *testing.T) {
	tn := newTestNet(t, 4)
	for h := uint64(0); h < 8; h++ {
		for r := uint64(0); r < 8; r++ {
			if got, want := Proposer(tn.vals, h, r), tn.vals[(h+r)%4]; got != want {
				t.Fatalf("(%d,%d): %s, want %s", h, r, got, want)
			}
		}
	}
	// Huge rounds do not overflow.
	_ = Proposer(tn.vals, ^uint64(0), ^uint64(0))
	// Order of the given set does not matter.
	rev := slices.Clone(tn.vals)
	slices.Reverse(rev)
	if !slices.Equal(SortValidators(append(rev, rev[0])), tn.vals) {
		t.Fatal("SortValidators is not canonical")
	}
}

// Alg. 1: the proposer of round 0 asks for a block and broadcasts a
// PRE-PREPARE for it; it PREPAREs its own proposal.
func TestProposerBroadcastsPrePrepare(t *testing.T) {
	tn := newTestNet(t, 4)
	p := proposerIndex(4, 1, 0)
	c := tn.core(p, 1)
	rd := drain(c)
	if rd.NeedProposal == nil || *rd.NeedProposal != (View{1, 0}) {
		t.Fatalf("NeedProposal = %v", rd.NeedProposal)
	}
	b := block(1, "b")
	if err := c.Propose(b); err != nil {
		t.Fatal(err)
	}
	rd = drain(c)
	pp := sent(rd, MsgPrePrepare)
	if len(pp) != 1 || pp[0].Digest != b.Hash || string(pp[0].Proposal) != "b" {
		t.Fatalf("pre-prepare: %+v", pp)
	}
	if len(sent(rd, MsgPrepare)) != 1 {
		t.Fatal("proposer did not prepare its own block")
	}
	if len(rd.WAL) != 2 {
		t.Fatalf("want both signed messages in the WAL, got %d records", len(rd.WAL))
	}
	if err := c.Propose(block(2, "x")); !errors.Is(err, ErrWrongHeight) {
		t.Fatalf("proposal for another height: %v", err)
	}
}

// Alg. 2: a PRE-PREPARE is accepted only from the round's proposer, and
// only after the application validated the block.
func TestPrePrepareNeedsProposerAndValidation(t *testing.T) {
	tn := newTestNet(t, 4)
	p := proposerIndex(4, 1, 0)
	me := (p + 1) % 4
	c := tn.core(me, 1)
	drain(c)
	b := block(1, "b")
	other := (p + 2) % 4
	bad := tn.sign(other, &Message{Signed: Signed{Code: MsgPrePrepare, Height: 1, Digest: b.Hash}, Proposal: b.Raw})
	if err := c.Step(bad); !errors.Is(err, ErrNotProposer) {
		t.Fatalf("non-proposer: %v", err)
	}
	good := tn.sign(p, &Message{Signed: Signed{Code: MsgPrePrepare, Height: 1, Digest: b.Hash}, Proposal: b.Raw})
	mustStep(t, c, good)
	rd := drain(c)
	if len(rd.Validate) != 1 || len(sent(rd, MsgPrepare)) != 0 {
		t.Fatalf("must validate before preparing: %+v", rd)
	}
	// An invalid verdict (or a hash mismatch) means no PREPARE.
	c.ProposalValidated(rd.Validate[0], common.Hash{1}, nil)
	if len(sent(drain(c), MsgPrepare)) != 0 {
		t.Fatal("prepared a block whose hash does not match")
	}
	c.ProposalValidated(rd.Validate[0], b.Hash, errors.New("bad state root"))
	if len(sent(drain(c), MsgPrepare)) != 0 {
		t.Fatal("prepared an invalid block")
	}
	// The proposer re-sends; a valid verdict gives a PREPARE for the digest.
	c2 := tn.core(me, 1)
	drain(c2)
	mustStep(t, c2, good)
	rd = validateAll(c2, drain(c2))
	if pr := sent(rd, MsgPrepare); len(pr) != 1 || pr[0].Digest != b.Hash {
		t.Fatalf("prepare: %+v", pr)
	}
	// A second, different PRE-PREPARE for the round is equivocation.
	b2 := block(1, "b2")
	eq := tn.sign(p, &Message{Signed: Signed{Code: MsgPrePrepare, Height: 1, Digest: b2.Hash}, Proposal: b2.Raw})
	if err := c2.Step(eq); !errors.Is(err, ErrEquivocation) {
		t.Fatalf("equivocation: %v", err)
	}
}

// prepareRound0 brings validator me (not the proposer) to an accepted
// PRE-PREPARE for b at (1, 0).
func prepareRound0(t *testing.T, tn *testNet, me int, b Proposal) *Core {
	t.Helper()
	c := tn.core(me, 1)
	drain(c)
	p := proposerIndex(len(tn.vals), 1, 0)
	mustStep(t, c, tn.sign(p, &Message{Signed: Signed{Code: MsgPrePrepare, Height: 1, Digest: b.Hash}, Proposal: b.Raw}))
	validateAll(c, drain(c))
	return c
}

// Alg. 2: a quorum of PREPAREs prepares the value: the certificate is
// persisted in the same batch as, and before, the COMMIT with its seal.
func TestQuorumPreparesCommit(t *testing.T) {
	tn := newTestNet(t, 4)
	b := block(1, "b")
	c := prepareRound0(t, tn, 2, b) // validator 2 has prepared itself
	p := proposerIndex(4, 1, 0)
	mustStep(t, c, tn.msg(p, MsgPrepare, 1, 0, b.Hash))
	if len(sent(drain(c), MsgCommit)) != 0 {
		t.Fatal("committed with two prepares (quorum is 3 of 4)")
	}
	mustStep(t, c, tn.msg(3, MsgPrepare, 1, 0, b.Hash))
	rd := drain(c)
	cm := sent(rd, MsgCommit)
	if len(cm) != 1 || cm[0].Digest != b.Hash {
		t.Fatalf("commit: %+v", cm)
	}
	if a, err := cert.RecoverSealer(b.Hash, cm[0].Round, cm[0].CommitSeal); err != nil || a != tn.vals[2] {
		t.Fatalf("seal: %v %v", a, err)
	}
	var prepared *PreparedCert
	for _, r := range rd.WAL {
		if r.Prepared != nil {
			prepared = r.Prepared
		}
	}
	if prepared == nil || prepared.Digest != b.Hash || len(prepared.Prepares) != 3 {
		t.Fatalf("prepared certificate not persisted: %+v", prepared)
	}
	if st := c.Status(); st.PreparedRound == nil || *st.PreparedRound != 0 {
		t.Fatal("status does not show the prepared round")
	}
}

// Alg. 2: a quorum of COMMITs in one round decides; the certificate
// verifies with cert.Certificate.Verify.
func TestQuorumCommitsDecide(t *testing.T) {
	tn := newTestNet(t, 4)
	b := block(1, "b")
	c := prepareRound0(t, tn, 2, b)
	for _, i := range []int{0, 1} {
		mustStep(t, c, tn.msg(i, MsgCommit, 1, 0, b.Hash))
	}
	if drain(c).Commit != nil {
		t.Fatal("decided without own commit")
	}
	mustStep(t, c, tn.msg(3, MsgCommit, 1, 0, b.Hash))
	rd := drain(c)
	if rd.Commit == nil || rd.Commit.Proposal.Hash != b.Hash || string(rd.Commit.Proposal.Raw) != "b" {
		t.Fatalf("commit: %+v", rd.Commit)
	}
	if _, err := rd.Commit.Cert.Verify(b.Hash, tn.vals); err != nil {
		t.Fatal(err)
	}
	if err := c.NewHeight(2, tn.vals); err != nil || c.Height() != 2 {
		t.Fatal(err)
	}
	if err := c.NewHeight(2, tn.vals); !errors.Is(err, ErrWrongHeight) {
		t.Fatal("NewHeight went backwards")
	}
}

// §4.2 (no locks): an honest validator may COMMIT different values in
// different rounds, so COMMITs for one digest from different rounds must
// not add up to a decision.
func TestCommitsFromDifferentRoundsDoNotCombine(t *testing.T) {
	tn := newTestNet(t, 4)
	b := block(1, "b")
	c := tn.core(0, 1)
	drain(c)
	mustStep(t, c, tn.msg(1, MsgCommit, 1, 0, b.Hash))
	mustStep(t, c, tn.msg(2, MsgCommit, 1, 1, b.Hash))
	mustStep(t, c, tn.msg(3, MsgCommit, 1, 2, b.Hash))
	if drain(c).Commit != nil {
		t.Fatal("decided on commits from three different rounds")
	}
	mustStep(t, c, tn.msg(2, MsgCommit, 1, 0, b.Hash))
	mustStep(t, c, tn.msg(3, MsgCommit, 1, 0, b.Hash))
	rd := drain(c)
	if rd.Commit == nil || rd.Commit.Proposal.Raw != nil {
		t.Fatalf("quorum in round 0 must decide (without the block's bytes): %+v", rd.Commit)
	}
	// Forged seals are rejected.
	c2 := tn.core(0, 1)
	bad := tn.msg(1, MsgCommit, 1, 0, b.Hash)
	bad.CommitSeal, _ = cert.SignCommit(b.Hash, bad.Round, tn.signers[2].Sign)
	d := bad.SigningDigest()
	bad.Signature, _ = tn.signers[1].Sign(d[:])
	if err := c2.Step(bad); !errors.Is(err, ErrBadSeal) {
		t.Fatalf("foreign seal: %v", err)
	}
}

// Alg. 3: on timeout the validator moves to the next round and broadcasts
// a ROUND-CHANGE carrying its latest prepared certificate and block.
func TestTimeoutSendsRoundChangeWithPreparedCertificate(t *testing.T) {
	tn := newTestNet(t, 4)
	b := block(1, "b")
	c := prepareRound0(t, tn, 2, b)
	mustStep(t, c, tn.msg(0, MsgPrepare, 1, 0, b.Hash))
	mustStep(t, c, tn.msg(1, MsgPrepare, 1, 0, b.Hash))
	drain(c)
	for range testBase {
		c.Tick()
	}
	rd := drain(c)
	rc := sent(rd, MsgRoundChange)
	if len(rc) != 1 || rc[0].Round != 1 || rc[0].Digest != b.Hash || rc[0].PreparedRound != 0 ||
		len(rc[0].Prepares) != 3 || string(rc[0].Proposal) != "b" {
		t.Fatalf("round change: %+v", rc)
	}
	// Re-sends the round's messages for peers that lost them.
	if len(sent(rd, MsgPrepare)) != 1 || len(sent(rd, MsgCommit)) != 1 {
		t.Fatal("round 0 messages not re-sent on timeout")
	}
	if c.Status().Round != 1 {
		t.Fatal("did not move to round 1")
	}
}

// Round timeouts double with the round up to a cap (§5 liveness assumes
// growing timeouts).
func TestTimeoutGrowsToCap(t *testing.T) {
	c := newTestNet(t, 1).core(0, 1)
	want := []uint64{4, 8, 16, 16, 16}
	for r, w := range want {
		if got := c.roundTimeout(uint64(r)); got != w {
			t.Fatalf("round %d: %d, want %d", r, got, w)
		}
	}
	if c.roundTimeout(1000) != testMax {
		t.Fatal("huge round overflowed the cap")
	}
}

// Pacemaker: a round above 0 only times out once a quorum has reached it;
// until then the validator re-sends its ROUND-CHANGE every base timeout.
func TestRoundTimerWaitsForQuorum(t *testing.T) {
	tn := newTestNet(t, 4)
	c := tn.core(0, 1)
	drain(c)
	for range testBase {
		c.Tick()
	}
	drain(c) // now in round 1, alone
	for range 5 * testMax {
		c.Tick()
	}
	rd := drain(c)
	if c.Status().Round != 1 {
		t.Fatalf("ran ahead alone to round %d", c.Status().Round)
	}
	if len(sent(rd, MsgRoundChange)) == 0 {
		t.Fatal("did not re-send its round change while waiting")
	}
	mustStep(t, c, tn.sign(2, &Message{Signed: Signed{Code: MsgRoundChange, Height: 1, Round: 1}}))
	mustStep(t, c, tn.sign(3, &Message{Signed: Signed{Code: MsgRoundChange, Height: 1, Round: 1}}))
	if rd := drain(c); rd.Timer == nil || rd.Timer.Round != 1 {
		t.Fatal("timer not started at quorum")
	}
}

// Alg. 3: F+1 ROUND-CHANGEs for higher rounds pull a validator up to the
// lowest round that F+1 validators have reached.
func TestFPlusOneRoundChangesPullUp(t *testing.T) {
	tn := newTestNet(t, 4) // F = 1
	c := tn.core(0, 1)
	drain(c)
	mustStep(t, c, tn.sign(1, &Message{Signed: Signed{Code: MsgRoundChange, Height: 1, Round: 5}}))
	if c.Status().Round != 0 {
		t.Fatal("one validator (possibly byzantine) moved the round")
	}
	mustStep(t, c, tn.sign(2, &Message{Signed: Signed{Code: MsgRoundChange, Height: 1, Round: 3}}))
	rd := drain(c)
	if c.Status().Round != 3 {
		t.Fatalf("round %d, want 3", c.Status().Round)
	}
	if rc := sent(rd, MsgRoundChange); len(rc) != 1 || rc[0].Round != 3 {
		t.Fatalf("no round change for the joined round: %+v", rc)
	}
}

// roundChange returns validator i's ROUND-CHANGE for (1, r), prepared with
// cert if cert is non-nil.
func (tn *testNet) roundChange(i int, r uint64, pc *PreparedCert) *Message {
	m := &Message{Signed: Signed{Code: MsgRoundChange, Height: 1, Round: r}}
	if pc != nil {
		m.Digest, m.PreparedRound, m.Proposal, m.Prepares = pc.Digest, pc.Round, pc.Proposal, pc.Prepares
	}
	return tn.sign(i, m)
}

func (tn *testNet) preparedCert(r uint64, b Proposal, by ...int) *PreparedCert {
	pc := &PreparedCert{Height: 1, Round: r, Digest: b.Hash, Proposal: b.Raw}
	for _, i := range by {
		pc.Prepares = append(pc.Prepares, tn.msg(i, MsgPrepare, 1, r, b.Hash).Signed)
	}
	return pc
}

// Alg. 4 / QBFT: with a quorum of ROUND-CHANGEs the new proposer
// re-proposes the value of the highest prepared round, with that round's
// PREPARE certificate as justification; without any, its own block.
func TestNewProposerReproposesHighestPrepared(t *testing.T) {
	tn := newTestNet(t, 4)
	const r = 2
	p := proposerIndex(4, 1, r)
	old, newer := block(1, "old"), block(1, "newer")
	others := []int{(p + 1) % 4, (p + 2) % 4, (p + 3) % 4}
	c := tn.core(p, 1)
	drain(c)
	mustStep(t, c, tn.roundChange(others[0], r, tn.preparedCert(0, old, 0, 1, 2)))
	mustStep(t, c, tn.roundChange(others[1], r, tn.preparedCert(1, newer, 1, 2, 3)))
	mustStep(t, c, tn.roundChange(others[2], r, nil))
	// F+1 rule brought it to round r, and with its own ROUND-CHANGE it has a quorum.
	rd := drain(c)
	pp := sent(rd, MsgPrePrepare)
	if len(pp) != 1 || pp[0].Round != r || pp[0].Digest != newer.Hash || string(pp[0].Proposal) != "newer" {
		t.Fatalf("pre-prepare: %+v", pp)
	}
	if len(pp[0].RoundChanges) < 3 || len(pp[0].Prepares) != 3 || pp[0].Prepares[0].Round != 1 {
		t.Fatalf("justification: %d round changes, %d prepares", len(pp[0].RoundChanges), len(pp[0].Prepares))
	}
	// A validator accepts it.
	v := tn.core(others[2], 1)
	drain(v)
	mustStep(t, v, pp[0])
	if rd := validateAll(v, drain(v)); len(sent(rd, MsgPrepare)) != 1 || v.Status().Round != r {
		t.Fatal("justified pre-prepare for a later round not accepted")
	}
}

// QBFT JustifyPrePrepare: a PRE-PREPARE for round > 0 without a quorum of
// ROUND-CHANGEs, or proposing something other than the highest prepared
// value, is rejected.
func TestPrePrepareJustificationRejected(t *testing.T) {
	tn := newTestNet(t, 4)
	const r = 1
	p := proposerIndex(4, 1, r)
	me := (p + 1) % 4
	prepared, other := block(1, "prepared"), block(1, "other")
	rcs := func(by ...int) []Signed {
		var out []Signed
		for i, v := range by {
			var pc *PreparedCert
			if i == 0 {
				pc = tn.preparedCert(0, prepared, 0, 1, 2)
			}
			out = append(out, tn.roundChange(v, r, pc).Signed)
		}
		return out
	}
	cases := []struct {
		name string
		m    *Message
	}{
		{"too few round changes", &Message{Signed: Signed{Digest: prepared.Hash}, Proposal: prepared.Raw,
			RoundChanges: rcs(0, 1), Prepares: tn.preparedCert(0, prepared, 0, 1, 2).Prepares}},
		{"duplicate round changes", &Message{Signed: Signed{Digest: prepared.Hash}, Proposal: prepared.Raw,
			RoundChanges: append(rcs(0, 1), rcs(1)...), Prepares: tn.preparedCert(0, prepared, 0, 1, 2).Prepares}},
		{"not the prepared value", &Message{Signed: Signed{Digest: other.Hash}, Proposal: other.Raw,
			RoundChanges: rcs(0, 1, 2)}},
		{"prepared value without certificate", &Message{Signed: Signed{Digest: prepared.Hash}, Proposal: prepared.Raw,
			RoundChanges: rcs(0, 1, 2)}},
		{"certificate too small", &Message{Signed: Signed{Digest: prepared.Hash}, Proposal: prepared.Raw,
			RoundChanges: rcs(0, 1, 2), Prepares: tn.preparedCert(0, prepared, 0, 1).Prepares}},
	}
	for _, tc := range cases {
		c := tn.core(me, 1)
		drain(c)
		tc.m.Code, tc.m.Height, tc.m.Round = MsgPrePrepare, 1, r
		if err := c.Step(tn.sign(p, tc.m)); !errors.Is(err, ErrBadJustification) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// Round 0 carries no justification.
	c := tn.core(me, 1)
	p0 := proposerIndex(4, 1, 0)
	m := &Message{Signed: Signed{Code: MsgPrePrepare, Height: 1, Digest: other.Hash}, Proposal: other.Raw, RoundChanges: rcs(0, 1, 2)}
	if err := c.Step(tn.sign(p0, m)); !errors.Is(err, ErrBadJustification) {
		t.Errorf("round 0 with justification: %v", err)
	}
	// A ROUND-CHANGE claiming a prepared value needs its certificate.
	rc := tn.roundChange(me, 1, &PreparedCert{Height: 1, Digest: prepared.Hash, Proposal: prepared.Raw})
	if err := c.Step(rc); !errors.Is(err, ErrBadJustification) {
		t.Errorf("round change without certificate: %v", err)
	}
}

// WAL (§ "persistence", CometBFT-style): a restarted validator restores its
// signed messages and prepared certificate, and never signs a conflicting
// message even when an equivocating proposer offers another block.
func TestRestoreNeverSignsConflicting(t *testing.T) {
	tn := newTestNet(t, 4)
	b := block(1, "b")
	var recs []Record
	c := tn.core(2, 1)
	drain(c)
	p := proposerIndex(4, 1, 0)
	mustStep(t, c, tn.sign(p, &Message{Signed: Signed{Code: MsgPrePrepare, Height: 1, Digest: b.Hash}, Proposal: b.Raw}))
	rd := validateAll(c, drain(c))
	mustStep(t, c, tn.msg(0, MsgPrepare, 1, 0, b.Hash))
	mustStep(t, c, tn.msg(3, MsgPrepare, 1, 0, b.Hash))
	rd2 := drain(c)
	for _, r := range append(rd.WAL, rd2.WAL...) {
		enc, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		dec, err := DecodeRecord(enc)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, dec)
	}

	// Restart and offer a different block for round 0.
	re := tn.core(2, 1)
	re.Restore(recs)
	drain(re)
	b2 := block(1, "b2")
	mustStep(t, re, tn.sign(p, &Message{Signed: Signed{Code: MsgPrePrepare, Height: 1, Digest: b2.Hash}, Proposal: b2.Raw}))
	out := validateAll(re, drain(re))
	for _, m := range out.Messages {
		if m.Msg.Round == 0 && m.Msg.Digest != b.Hash {
			t.Fatalf("signed a conflicting %s for %x", m.Msg.Code, m.Msg.Digest[:4])
		}
	}
	// The prepared certificate survived: the next ROUND-CHANGE carries it.
	for range 10 * testMax {
		re.Tick()
	}
	rcs := sent(drain(re), MsgRoundChange)
	if len(rcs) == 0 || rcs[0].Digest != b.Hash || len(rcs[0].Prepares) < 3 {
		t.Fatalf("prepared certificate lost across restart: %+v", rcs)
	}
}

// Messages for future heights are buffered (within a bound) and replayed
// when the core gets there.
func TestFutureHeightBuffered(t *testing.T) {
	tn := newTestNet(t, 4)
	c := tn.core(1, 1)
	drain(c)
	b := block(2, "b2")
	p := proposerIndex(4, 2, 0)
	mustStep(t, c, tn.sign(p, &Message{Signed: Signed{Code: MsgPrePrepare, Height: 2, Digest: b.Hash}, Proposal: b.Raw}))
	if err := c.Step(tn.msg(0, MsgPrepare, 9, 0, b.Hash)); !errors.Is(err, ErrFutureMessage) {
		t.Fatalf("far future: %v", err)
	}
	for i := 0; ; i++ {
		err := c.Step(tn.msg(0, MsgPrepare, 2, uint64(i), b.Hash))
		if errors.Is(err, ErrFutureMessage) {
			if i > 64 {
				t.Fatalf("buffered %d messages of one sender", i)
			}
			break
		}
	}
	if err := c.NewHeight(2, tn.vals); err != nil {
		t.Fatal(err)
	}
	if rd := drain(c); len(rd.Validate) != 1 || rd.Validate[0].Hash != b.Hash {
		t.Fatalf("buffered pre-prepare not replayed: %+v", rd.Validate)
	}
	if err := c.Step(tn.msg(0, MsgPrepare, 1, 0, b.Hash)); !errors.Is(err, ErrOldMessage) {
		t.Fatalf("old height: %v", err)
	}
}

// Catch-up: a validator still at a height its peers decided gets the block
// and the COMMITs of the deciding round, and commits.
func TestCertificateCatchUp(t *testing.T) {
	tn := newTestNet(t, 4)
	b := block(1, "b")
	ahead := prepareRound0(t, tn, 2, b)
	for _, i := range []int{0, 1, 3} {
		mustStep(t, ahead, tn.msg(i, MsgCommit, 1, 0, b.Hash))
	}
	if drain(ahead).Commit == nil {
		t.Fatal("not decided")
	}
	if err := ahead.NewHeight(2, tn.vals); err != nil {
		t.Fatal(err)
	}
	drain(ahead)
	behind := tn.core(0, 1)
	drain(behind)
	// The laggard's round change reaches the decided validator...
	if err := ahead.Step(tn.roundChange(0, 1, nil)); !errors.Is(err, ErrOldMessage) {
		t.Fatal(err)
	}
	certs := sent(drain(ahead), MsgCertificate)
	if len(certs) != 1 {
		t.Fatal("no catch-up reply")
	}
	// ...whose reply decides the height for the laggard.
	mustStep(t, behind, certs[0])
	rd := validateAll(behind, drain(behind))
	if rd.Commit == nil || rd.Commit.Proposal.Hash != b.Hash {
		t.Fatal("catch-up certificate did not decide")
	}
	if _, err := rd.Commit.Cert.Verify(b.Hash, tn.vals); err != nil {
		t.Fatal(err)
	}
	// A certificate of duplicated COMMITs is rejected.
	forged := *certs[0]
	forged.Commits = []Signed{certs[0].Commits[0], certs[0].Commits[0], certs[0].Commits[0]}
	if err := tn.core(3, 1).Step(&forged); !errors.Is(err, ErrBadSeal) {
		t.Fatalf("forged certificate: %v", err)
	}
}

// A validator whose late COMMIT is for the decided block has validated that
// block: the catch-up reply carries the COMMITs without the block, and still
// decides the height for it (with its own validated copy).
func TestCatchUpReplyToVoterOmitsBlock(t *testing.T) {
	tn := newTestNet(t, 4)
	b := block(1, "b")
	ahead := prepareRound0(t, tn, 2, b)
	slow := prepareRound0(t, tn, 3, b)
	for _, i := range []int{0, 1, 2} {
		mustStep(t, ahead, tn.msg(i, MsgCommit, 1, 0, b.Hash))
	}
	if drain(ahead).Commit == nil {
		t.Fatal("not decided")
	}
	if err := ahead.NewHeight(2, tn.vals); err != nil {
		t.Fatal(err)
	}
	drain(ahead)
	// The slow validator's COMMIT arrives after the decision.
	if err := ahead.Step(tn.msg(3, MsgCommit, 1, 0, b.Hash)); !errors.Is(err, ErrOldMessage) {
		t.Fatal(err)
	}
	certs := sent(drain(ahead), MsgCertificate)
	if len(certs) != 1 {
		t.Fatal("no catch-up reply")
	}
	if len(certs[0].Proposal) != 0 {
		t.Fatalf("reply to a COMMIT for the decided block carries the %d-byte block", len(certs[0].Proposal))
	}
	mustStep(t, slow, certs[0])
	rd := drain(slow)
	if rd.Commit == nil || rd.Commit.Proposal.Hash != b.Hash || rd.Commit.Proposal.Raw == nil {
		t.Fatalf("bodyless certificate did not decide the validated block: %+v", rd.Commit)
	}
}

// A validator whose validation of the proposal is still running when the
// others' COMMITs reach a quorum decides when its validation answers, with
// the block it validated (not without it, which would send it to sync); if
// the validation fails the COMMITs still decide the digest.
func TestQuorumWhileValidatingWaitsForTheBlock(t *testing.T) {
	for _, valid := range []bool{true, false} {
		tn := newTestNet(t, 4)
		b := block(1, "b")
		c := tn.core(3, 1)
		drain(c)
		p := proposerIndex(4, 1, 0)
		mustStep(t, c, tn.sign(p, &Message{Signed: Signed{Code: MsgPrePrepare, Height: 1, Digest: b.Hash}, Proposal: b.Raw}))
		rd := drain(c)
		if len(rd.Validate) != 1 {
			t.Fatalf("validation not requested: %+v", rd.Validate)
		}
		for _, i := range []int{0, 1, 2} {
			mustStep(t, c, tn.msg(i, MsgCommit, 1, 0, b.Hash))
		}
		if rd := drain(c); rd.Commit != nil {
			t.Fatalf("valid=%v: decided while its validation runs (raw %d bytes)", valid, len(rd.Commit.Proposal.Raw))
		}
		var err error
		if !valid {
			err = errors.New("bad block")
		}
		c.ProposalValidated(rd.Validate[0], b.Hash, err)
		got := drain(c).Commit
		if got == nil || got.Proposal.Hash != b.Hash {
			t.Fatalf("valid=%v: no decision after validation: %+v", valid, got)
		}
		if valid != (got.Proposal.Raw != nil) {
			t.Fatalf("valid=%v: decided with %d block bytes", valid, len(got.Proposal.Raw))
		}
	}
}

// Bad input from peers is an error, never a panic.
func TestBadMessages(t *testing.T) {
	tn := newTestNet(t, 4)
	c := tn.core(0, 1)
	outsider, _ := crypto.ToECDSA(crypto.Keccak256([]byte("outsider")))
	m := &Message{Signed: Signed{Code: MsgPrepare, Height: 1}}
	d := m.SigningDigest()
	m.Signature, _ = crypto.Sign(d[:], outsider)
	cases := []struct {
		m    *Message
		want error
	}{
		{nil, ErrBadMessage},
		{&Message{Signed: Signed{Code: 99}}, ErrDecode},
		{&Message{Signed: Signed{Code: MsgPrepare, Height: 1}}, ErrBadSignature},
		{&Message{Signed: Signed{Code: MsgPrepare, Height: 1, Signature: make([]byte, 65)}}, ErrBadSignature},
		{m, ErrNotValidator},
		{tn.sign(1, &Message{Signed: Signed{Code: MsgRoundChange, Height: 1, Round: 0}}), ErrBadMessage},
		{tn.sign(2, &Message{Signed: Signed{Code: MsgPrePrepare, Height: 1}}), ErrNotProposer},
		{&Message{Signed: Signed{Code: MsgCertificate, Height: 1}}, ErrBadSeal},
	}
	for i, tc := range cases {
		if err := c.Step(tc.m); !errors.Is(err, tc.want) {
			t.Errorf("case %d: %v, want %v", i, err, tc.want)
		}
	}
}

// A node outside the validator set (a router following the chain) decides
// from the validators' COMMITs but never signs or sends anything.
func TestObserverFollowsWithoutVoting(t *testing.T) {
	tn := newTestNet(t, 5)
	vals := tn.vals[:4]
	c, err := New(Config{Signer: tn.signers[4], BaseTimeoutTicks: testBase}, 1, vals)
	if err != nil {
		t.Fatal(err)
	}
	b := block(1, "b")
	for _, i := range []int{0, 1, 2} {
		mustStep(t, c, tn.msg(i, MsgCommit, 1, 0, b.Hash))
	}
	for range 10 * testBase {
		c.Tick()
	}
	rd := drain(c)
	if rd.Commit == nil || len(rd.Messages) != 0 || len(rd.WAL) != 0 {
		t.Fatalf("observer: commit %v, %d messages, %d WAL records", rd.Commit, len(rd.Messages), len(rd.WAL))
	}
}

// Proposer against the obviously-right definition (big-integer (h+r) mod n),
// and every validator proposes once in any n consecutive rounds.
func TestProposerQuick(t *testing.T) {
	tn := newTestNet(t, 13)
	f := func(nn uint8, h, r uint64) bool {
		n := int(nn)%13 + 1
		vals := tn.vals[:n]
		sum := new(big.Int).Add(new(big.Int).SetUint64(h), new(big.Int).SetUint64(r))
		want := vals[new(big.Int).Mod(sum, big.NewInt(int64(n))).Int64()]
		if Proposer(vals, h, r) != want {
			return false
		}
		seen := make(map[common.Address]bool)
		for i := range uint64(n) {
			seen[Proposer(vals, h, r+i)] = true
		}
		return len(seen) == n
	}
	if err := quick.Check(f, nil); err != nil {
		t.Fatal(err)
	}
}

// Equivocation (IBFT 2.0 §5 assumes at most F byzantine validators; this is
// how the core names them): a validator's second, conflicting message of
// one code for one view is dropped, counts for nothing, and is reported
// once as Evidence that verifies against the validator set.
func TestEquivocationReportedOnce(t *testing.T) {
	tn := newTestNet(t, 4)
	b, x := block(1, "b"), block(1, "x")
	p := proposerIndex(4, 1, 0)
	pp := func(bl Proposal) *Message {
		return tn.sign(p, &Message{Signed: Signed{Code: MsgPrePrepare, Height: 1, Digest: bl.Hash}, Proposal: bl.Raw})
	}
	rc := func(i int, pr uint64, d common.Hash) *Message {
		return tn.sign(i, &Message{Signed: Signed{Code: MsgRoundChange, Height: 1, Round: 5, Digest: d, PreparedRound: pr}})
	}
	pc := tn.preparedCert(0, b, 0, 1, 2)
	rcPrepared := rc(3, 0, b.Hash)
	rcPrepared.Proposal, rcPrepared.Prepares = b.Raw, pc.Prepares
	rcPrepared = tn.sign(3, rcPrepared)
	cases := []struct {
		name          string
		from          int
		first, second *Message
		third         *Message // another conflicting message of the view: no second report
	}{
		{"PRE-PREPARE", p, pp(b), pp(x), pp(block(1, "y"))},
		{"PREPARE", 3, tn.msg(3, MsgPrepare, 1, 0, b.Hash), tn.msg(3, MsgPrepare, 1, 0, x.Hash), tn.msg(3, MsgPrepare, 1, 0, common.Hash{9})},
		{"COMMIT", 3, tn.msg(3, MsgCommit, 1, 0, b.Hash), tn.msg(3, MsgCommit, 1, 0, x.Hash), tn.msg(3, MsgCommit, 1, 0, common.Hash{9})},
		{"ROUND-CHANGE", 3, rc(3, 0, common.Hash{}), rcPrepared, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tn.core(0, 1)
			drain(c)
			mustStep(t, c, tc.first)
			rd := drain(c)
			if len(rd.Evidence) != 0 {
				t.Fatal("evidence for a first message")
			}
			if err := c.Step(tc.first); !errors.Is(err, ErrDuplicate) {
				t.Fatalf("same message again: %v", err)
			}
			if err := c.Step(tc.second); !errors.Is(err, ErrEquivocation) {
				t.Fatalf("conflicting message: %v", err)
			}
			rd = drain(c)
			if len(rd.Evidence) != 1 {
				t.Fatalf("%d pieces of evidence, want 1", len(rd.Evidence))
			}
			ev := rd.Evidence[0]
			if who, err := ev.Verify(tn.vals); err != nil || who != tn.vals[tc.from] {
				t.Fatalf("evidence names %v: %v", who, err)
			}
			if code, h, r := ev.View(); code != tc.first.Code || h != 1 || r != tc.first.Round {
				t.Fatalf("evidence view %s %d %d", code, h, r)
			}
			if err := c.Step(tc.second); !errors.Is(err, ErrEquivocation) {
				t.Fatalf("conflicting message again: %v", err)
			}
			if tc.third != nil {
				if err := c.Step(tc.third); !errors.Is(err, ErrEquivocation) {
					t.Fatalf("third message: %v", err)
				}
			}
			if rd := drain(c); len(rd.Evidence) != 0 || len(rd.Validate) != 0 || len(rd.Messages) != 0 {
				t.Fatalf("repeated equivocation produced output: %+v", rd)
			}
		})
	}
}

// The dropped message of an equivocation counts for nothing: a validator
// that PREPAREs two values adds its vote to the first only, so two honest
// PREPAREs plus its second one are no quorum for the second value.
func TestEquivocationDoesNotVote(t *testing.T) {
	tn := newTestNet(t, 4)
	b, x := block(1, "b"), block(1, "x")
	c := prepareRound0(t, tn, 2, x) // validator 2 accepted x and PREPAREd it
	p := proposerIndex(4, 1, 0)
	mustStep(t, c, tn.msg(3, MsgPrepare, 1, 0, b.Hash))
	if err := c.Step(tn.msg(3, MsgPrepare, 1, 0, x.Hash)); !errors.Is(err, ErrEquivocation) {
		t.Fatal(err)
	}
	mustStep(t, c, tn.msg(p, MsgPrepare, 1, 0, x.Hash))
	rd := drain(c)
	if len(sent(rd, MsgCommit)) != 0 {
		t.Fatal("an equivocator's second PREPARE completed a quorum")
	}
	if len(rd.Evidence) != 1 {
		t.Fatalf("%d pieces of evidence", len(rd.Evidence))
	}
	// An honest third PREPARE does complete it.
	mustStep(t, c, tn.msg(0, MsgPrepare, 1, 0, x.Hash))
	if len(sent(drain(c), MsgCommit)) != 1 {
		t.Fatal("no COMMIT after an honest quorum")
	}
}

// Evidence is bounded per height: with six equivocating validators over
// every round the core keeps PREPAREs for, at most maxEvidencePerHeight
// pieces come out, each for a distinct (validator, code, round).
func TestEvidenceBoundedPerHeight(t *testing.T) {
	tn := newTestNet(t, 7)
	c := tn.core(0, 1)
	drain(c)
	for r := uint64(0); r <= maxFutureRounds; r++ {
		for i := 1; i < 7; i++ {
			mustStep(t, c, tn.msg(i, MsgPrepare, 1, r, common.Hash{1}))
			if err := c.Step(tn.msg(i, MsgPrepare, 1, r, common.Hash{2})); !errors.Is(err, ErrEquivocation) {
				t.Fatal(err)
			}
		}
	}
	rd := drain(c)
	if len(rd.Evidence) != maxEvidencePerHeight {
		t.Fatalf("%d pieces of evidence, want the cap %d (of %d equivocations)", len(rd.Evidence), maxEvidencePerHeight, 6*(maxFutureRounds+1))
	}
	seen := make(map[evKey]bool)
	for _, ev := range rd.Evidence {
		who, err := ev.Verify(tn.vals)
		if err != nil {
			t.Fatal(err)
		}
		code, h, r := ev.View()
		k := evKey{who, code, h, r}
		if seen[k] {
			t.Fatalf("reported twice: %+v", k)
		}
		seen[k] = true
	}
	// The next height has its own budget; the old entries are pruned.
	if err := c.NewHeight(2, tn.vals); err != nil {
		t.Fatal(err)
	}
	if err := c.NewHeight(3, tn.vals); err != nil {
		t.Fatal(err)
	}
	if len(c.evSeen) != 0 || len(c.evCount) != 0 {
		t.Fatalf("evidence bookkeeping not pruned: %d keys, %d heights", len(c.evSeen), len(c.evCount))
	}
	mustStep(t, c, tn.msg(1, MsgPrepare, 3, 0, common.Hash{1}))
	_ = c.Step(tn.msg(1, MsgPrepare, 3, 0, common.Hash{2}))
	if rd := drain(c); len(rd.Evidence) != 1 {
		t.Fatalf("height 3: %d pieces of evidence", len(rd.Evidence))
	}
}

// Full certificates: COMMITs for the decided round and hash that arrive
// after the decision (before or after NewHeight) are merged into the
// certificate the next proposer carries, at most one seal per validator of
// the decided height; anything else is left out.
func TestLateCommitsGrowTheCertificate(t *testing.T) {
	tn := newTestNet(t, 8) // quorum 6
	b := block(1, "b")
	decided := func() *Core {
		c := tn.core(0, 1)
		drain(c)
		for i := 2; i < 8; i++ {
			mustStep(t, c, tn.msg(i, MsgCommit, 1, 0, b.Hash))
		}
		rd := drain(c)
		if rd.Commit == nil || len(rd.Commit.Cert.Seals) != 6 {
			t.Fatalf("decision: %+v", rd.Commit)
		}
		return c
	}
	seals := func(c *Core) int {
		t.Helper()
		ct, ok := c.DecidedCertificate(1, b.Hash)
		if !ok {
			t.Fatal("no decided certificate")
		}
		signers, err := ct.Verify(b.Hash, tn.vals)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(signers, func(a, b common.Address) int { return a.Cmp(b) }) {
			t.Fatal("seals not in validator order")
		}
		return len(signers)
	}

	// Before NewHeight: a COMMIT with validator 1's signature but another
	// validator's seal is rejected; validator 1's own is merged.
	c := decided()
	if _, ok := c.DecidedCertificate(1, common.Hash{1}); ok {
		t.Fatal("certificate for another hash")
	}
	if _, ok := c.DecidedCertificate(2, b.Hash); ok {
		t.Fatal("certificate for another height")
	}
	foreign := &Message{Signed: Signed{Code: MsgCommit, Height: 1, Digest: b.Hash}}
	foreign.CommitSeal, _ = cert.SignCommit(b.Hash, 0, tn.signers[2].Sign)
	foreign.Signature, _ = tn.signers[1].Sign(digestBytes(&foreign.Signed))
	if err := c.Step(foreign); !errors.Is(err, ErrBadSeal) {
		t.Fatalf("foreign seal: %v", err)
	}
	mustStep(t, c, tn.msg(1, MsgCommit, 1, 0, b.Hash))
	if n := seals(c); n != 7 {
		t.Fatalf("%d seals after a late commit, want 7", n)
	}

	// After NewHeight, against the decided height's validator set (height
	// 2 has another one, without validator 1).
	c = decided()
	if err := c.NewHeight(2, []common.Address{tn.vals[0], tn.vals[2], tn.vals[3], tn.vals[4]}); err != nil {
		t.Fatal(err)
	}
	outsider := newTestNet(t, 9).signers[8]
	om := &Message{Signed: Signed{Code: MsgCommit, Height: 1, Digest: b.Hash}}
	om.CommitSeal, _ = cert.SignCommit(b.Hash, 0, outsider.Sign)
	om.Signature, _ = outsider.Sign(digestBytes(&om.Signed))
	for _, tc := range []struct {
		name string
		m    *Message
	}{
		{"already in", tn.msg(3, MsgCommit, 1, 0, b.Hash)},
		{"other round", tn.msg(1, MsgCommit, 1, 1, b.Hash)},
		{"other hash", tn.msg(1, MsgCommit, 1, 0, common.Hash{5})},
		{"not a validator", om},
		{"older height", tn.msg(1, MsgCommit, 0, 0, b.Hash)},
	} {
		if err := c.Step(tc.m); !errors.Is(err, ErrOldMessage) {
			t.Errorf("%s: %v, want ErrOldMessage", tc.name, err)
		}
		if n := seals(c); n != 6 {
			t.Fatalf("%s: %d seals, want 6", tc.name, n)
		}
	}
	if err := c.Step(tn.msg(1, MsgCommit, 1, 0, b.Hash)); !errors.Is(err, ErrOldMessage) {
		t.Fatal(err)
	}
	if n := seals(c); n != 7 {
		t.Fatalf("%d seals after a late commit, want 7", n)
	}
	if err := c.Step(tn.msg(1, MsgCommit, 1, 0, b.Hash)); !errors.Is(err, ErrOldMessage) || seals(c) != 7 {
		t.Fatalf("duplicate late commit: %v", err)
	}
	// A conflicting COMMIT in the decided round from a validator whose
	// seal is in the certificate is evidence, and adds nothing.
	if err := c.Step(tn.msg(4, MsgCommit, 1, 0, common.Hash{5})); !errors.Is(err, ErrEquivocation) {
		t.Fatalf("conflicting late commit: %v", err)
	}
	if rd := drain(c); len(rd.Evidence) != 1 || mustVerify(&rd.Evidence[0], tn.vals) != nil {
		t.Fatalf("late equivocation evidence: %+v", rd.Evidence)
	}
	if n := seals(c); n != 7 {
		t.Fatalf("%d seals, want 7", n)
	}
	// Two heights on, the certificate is gone.
	if err := c.NewHeight(3, tn.vals); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.DecidedCertificate(1, b.Hash); ok {
		t.Fatal("certificate kept two heights on")
	}
}
