package jsonrpc

import (
	"context"
	"errors"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/computing/score"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/state/native"
)

// errNoVerify is the error of the verification methods on a chain without
// the module.
var errNoVerify = errors.New("the chain has no verification module")

// Challenge is emc_challenge's answer: one node's proof-of-work challenge
// of one epoch at one block (computing/verify). Status is "none",
// "committed", "verified", "failed", "missed" or "void"; a node with no
// root once the epoch's deadlines passed is "missed" even before
// recordMiss records it. Slots give each verifier's slot: "pending",
// "passed", "failed", "rebutted" (a fail the node disproved) or "proven"
// (the node posted the evidence).
type Challenge struct {
	BlockNumber    hexutil.Uint64   `json:"blockNumber"`
	Epoch          hexutil.Uint64   `json:"epoch"`
	Node           common.Address   `json:"node"`
	Status         string           `json:"status"`
	Root           *common.Hash     `json:"root"`
	N              hexutil.Uint64   `json:"n"`
	CommitBlock    hexutil.Uint64   `json:"commitBlock"`
	DeadlineBlock  hexutil.Uint64   `json:"deadlineBlock"`
	WindowEndBlock hexutil.Uint64   `json:"windowEndBlock"`
	Verifiers      []common.Address `json:"verifiers"`
	Slots          []string         `json:"slots"`
	PassesNeeded   hexutil.Uint64   `json:"passesNeeded"`
}

var challengeStatus = map[uint8]string{
	verify.StatusNone: "none", verify.StatusCommitted: "committed", verify.StatusVerified: "verified",
	verify.StatusFailed: "failed", verify.StatusMissed: "missed", verify.StatusVoid: "void",
}

var slotState = map[uint8]string{
	verify.SlotPending: "pending", verify.SlotPassed: "passed", verify.SlotFailed: "failed",
	verify.SlotRebutted: "rebutted", verify.SlotProvenByNode: "proven",
}

// Challenge returns node's challenge of epoch at the given block (latest
// when absent).
func (api *emcAPI) Challenge(ctx context.Context, epoch hexutil.Uint64, node common.Address, bnh *rpc.BlockNumberOrHash) (*Challenge, error) {
	mod := api.b.Verify()
	if mod == nil {
		return nil, errNoVerify
	}
	st, h, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	ch, err := mod.ChallengeOf(st, uint64(epoch), node, h.Number.Uint64())
	if err != nil {
		return nil, err
	}
	out := &Challenge{
		BlockNumber: hexutil.Uint64(h.Number.Uint64()), Epoch: epoch, Node: node, Status: challengeStatus[ch.Status],
		N: hexutil.Uint64(ch.N), CommitBlock: hexutil.Uint64(ch.CommitBlock), DeadlineBlock: hexutil.Uint64(ch.DeadlineBlock),
		WindowEndBlock: hexutil.Uint64(ch.WindowEnd), Verifiers: ch.Verifiers, Slots: make([]string, len(ch.Slots)),
		PassesNeeded: hexutil.Uint64(ch.Needed),
	}
	if ch.Root != (common.Hash{}) {
		root := ch.Root
		out.Root = &root
	}
	for i, s := range ch.Slots {
		out.Slots[i] = slotState[s]
	}
	return out, st.Error()
}

// VerifyFaults is emc_verifyFaults's answer: an account's counters in the
// verification module, as a compute node (challenges passed, failed,
// missed) and as a validator signer (duties missed, fails rebutted), and
// its history as a node: the last challenge outcomes, newest first
// ("verified", "failed" or "missed"; see computing/verify HistoryOf). As
// a router, its relay probes: probeFailReports counts the probers'
// probeFail reports against it, probeFailedEpochs the epochs they failed
// it in (and its router credits of the epoch were forfeited); a pass is
// silent and not counted (computing/verify RouterProbesOf).
type VerifyFaults struct {
	BlockNumber  hexutil.Uint64 `json:"blockNumber"`
	Account      common.Address `json:"account"`
	Passed       hexutil.Uint64 `json:"passed"`
	Failed       hexutil.Uint64 `json:"failed"`
	Missed       hexutil.Uint64 `json:"missed"`
	MissedDuties hexutil.Uint64 `json:"missedDuties"`
	FalseFails   hexutil.Uint64 `json:"falseFails"`
	History      []string       `json:"history"`
	// ProbeFailReports and ProbeFailedEpochs are the account's counters as
	// a router.
	ProbeFailReports  hexutil.Uint64 `json:"probeFailReports"`
	ProbeFailedEpochs hexutil.Uint64 `json:"probeFailedEpochs"`
}

// VerifyFaults returns account's counters at the given block (latest when
// absent).
func (api *emcAPI) VerifyFaults(ctx context.Context, account common.Address, bnh *rpc.BlockNumberOrHash) (*VerifyFaults, error) {
	if api.b.Verify() == nil {
		return nil, errNoVerify
	}
	st, h, err := stateAndHeader(api.b, latestOr(bnh))
	if err != nil {
		return nil, toRPCError(err)
	}
	f := verify.FaultsOf(st, account)
	rp := verify.RouterProbesOf(st, account)
	return &VerifyFaults{
		BlockNumber: hexutil.Uint64(h.Number.Uint64()), Account: account, Passed: hexutil.Uint64(f.Passed),
		Failed: hexutil.Uint64(f.Failed), Missed: hexutil.Uint64(f.Missed), MissedDuties: hexutil.Uint64(f.MissedDuties),
		FalseFails: hexutil.Uint64(f.FalseFails), History: historyNames(verify.HistoryOf(st, account)),
		ProbeFailReports: hexutil.Uint64(rp.FailReports), ProbeFailedEpochs: hexutil.Uint64(rp.FailedEpochs),
	}, st.Error()
}

// addScore sets e's score and history from the state st (computing/score).
func addScore(e *ComputeNodeEntry, st native.StateReader) {
	in := score.Gather(st, e.Owner)
	sc := hexutil.Uint64(score.Of(in))
	e.Score = &sc
	e.History = historyNames(in.History)
}

// historyNames spells a node's history for RPC (an empty list, never
// null).
func historyNames(h []uint8) []string {
	out := make([]string, len(h))
	for i, o := range h {
		out[i] = score.HistoryName(o)
	}
	return out
}
