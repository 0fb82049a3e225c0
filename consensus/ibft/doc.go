// Package ibft is emcd's IBFT 2.0 consensus core (Saltini & Hyland-Wood,
// "IBFT 2.0: A Safe and Live Variation of the IBFT Blockchain Consensus
// Protocol", 2019), with the round-change justification of QBFT: no hard
// locks; a ROUND-CHANGE carries the sender's latest prepared certificate and
// the next proposer re-proposes the highest prepared value.
//
// Start reading at Core (core.go); message.go defines the wire format.
//
// # Shape
//
// Core is a plain state machine in the style of etcd raft. No goroutine
// runs inside it, and it never touches the network, the disk, the clock or
// a global random source. It has four inputs:
//
//   - Step(msg): a message from the network;
//   - Tick(): one logical tick; round timers count ticks;
//   - Propose(p): this validator's block, in answer to Ready.NeedProposal;
//   - ProposalValidated(p, hash, err): the application's verdict on a
//     proposal listed in Ready.Validate;
//
// plus NewHeight(h, validators) when height h-1 is stored (decided here or
// imported by sync; the validator set is given per height, which is the
// hook for epoch changes) and Restore(records) once after a restart. It has
// one output, a Ready batch, acknowledged with Advance.
//
// Proposals are opaque: Proposal{Height, Hash, Raw}. The core never parses
// Raw; the application validates it and reports the hash it computed.
//
// # The driver loop
//
// A driver owns the core, a WAL (consensus/wal), the transport and the
// chain, and loops (one goroutine; order matters):
//
//	for {
//		select {
//		case <-ticker.C:        core.Tick()
//		case m := <-inbound:    core.Step(m)             // errors: peer scoring
//		case v := <-validated:  core.ProposalValidated(v.p, v.hash, v.err)
//		case p := <-built:      core.Propose(p)
//		}
//		for core.HasReady() {
//			rd := core.Ready()
//			// 1. Persist: append every rd.WAL record, then fsync. A
//			//    validator must not send what it could forget having
//			//    signed; after a crash it would sign something else.
//			// 2. Send rd.Messages (To == nil: broadcast to validators).
//			// 3. Apply rd.Commit: store the block with rd.Commit.Cert
//			//    (fetch it by hash via sync if Proposal.Raw is nil).
//			// 4. Hand rd.Validate and rd.NeedProposal to the application
//			//    (asynchronously; answers come back as inputs above), and
//			//    keep rd.Evidence (equivocations) for slashing.
//			core.Advance()
//			// 5. After a commit: reset the WAL (the block store now
//			//    remembers the height), then core.NewHeight(h+1, vals).
//		}
//	}
//
// Steps 1 and 2 must not be reordered; 3 may run concurrently with 2.
// Inputs given between Ready and Advance are fine: their output comes in the
// next batch. On restart: New(cfg, storedHeight+1, vals), then Restore with
// the WAL's records (ibft.DecodeRecord of each), then the loop.
//
// # Protocol summary
//
// Heights start at round 0. The proposer of (h, r) is
// sorted(validators)[(h + r) mod n] (see Proposer). A quorum is
// quorum.Size(n) = ⌈2n/3⌉.
//
//   - PRE-PREPARE from the proposer; for round > 0 it carries a quorum of
//     ROUND-CHANGEs for the round and, if any of them is prepared, the
//     PREPARE certificate of the highest prepared round, whose value it must
//     re-propose. The block is validated by the application before the
//     validator PREPAREs.
//   - A quorum of PREPAREs for the accepted digest in the round: prepared.
//     The certificate is persisted, and the validator COMMITs with a commit
//     seal (cert.SignCommit).
//   - A quorum of COMMITs for one digest in one round decides the height;
//     their seals are the block's cert.Certificate.
//   - On timeout, the validator re-sends its messages of the round, moves to
//     the next round and broadcasts a ROUND-CHANGE with its latest prepared
//     certificate. F+1 ROUND-CHANGEs for higher rounds pull a validator up.
//     Timeouts double per round up to a cap, and a round's timer only runs
//     once a quorum has reached the round (so rounds stay in step over
//     lossy links with capped timeouts).
//   - A validator that is behind gets a CERTIFICATE (the block and the
//     quorum of COMMITs that decided it) when it sends messages for the
//     height its peers just decided; further behind, the driver syncs.
//
// Messages for up to Config.MaxFutureHeights future heights are buffered,
// at most Config.MaxFuturePerSender per sender.
//
// # Commit seals bind the round
//
// Without locks an honest validator may COMMIT different blocks in different
// rounds of one height, so seals from different rounds must never be
// combined. Commit seals therefore sign (hash, round) (cert.CommitDigest),
// the core decides only on a quorum of COMMITs from one round, and the
// resulting cert.Certificate names that round: a certificate assembled from
// honest seals of different rounds does not verify.
//
// # Full certificates
//
// A decision needs a quorum of seals, but rewards should reach every
// validator that committed. The core keeps the certificate of the height it
// last decided and merges COMMITs that arrive afterwards (before or after
// NewHeight) when they are a new validator's seal, from that height's set,
// for the decided round and hash. The proposer of the next height asks
// DecidedCertificate for it and carries it in its block as the parent
// certificate (a superset of the one stored with the parent).
//
// # Equivocation evidence
//
// A validator that signs two conflicting messages of one code for one
// height and round (evidence.go says what conflicts) is byzantine. The
// core keeps the first, drops the second without counting it, and reports
// both in Ready.Evidence, once per (validator, code, height, round) and at
// most maxEvidencePerHeight per height. Evidence.Verify checks a report
// against the validator set alone, so staking can accept it in a
// transaction. Detection is best effort (the core only compares what it
// still holds); verification is exact.
package ibft
