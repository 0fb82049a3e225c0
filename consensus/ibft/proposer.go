package ibft

import (
	"bytes"
	"slices"

	"github.com/ethereum/go-ethereum/common"
)

// SortValidators returns a sorted copy of vals with duplicates removed: the
// canonical order proposer selection and certificate seals follow.
func SortValidators(vals []common.Address) []common.Address {
	out := slices.Clone(vals)
	slices.SortFunc(out, func(a, b common.Address) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// Proposer returns the proposer of (height, round): round-robin over the
// validator set sorted by address, starting at index height mod n and
// advancing one validator per round:
//
//	proposer(h, r) = sorted[(h + r) mod n]
//
// Every validator proposes once in any n consecutive rounds, so at most F
// byzantine proposers in a row can stall a height (paper §4, "proposer
// selection" is left to the implementation; this is Besu's round-robin).
// sorted must be non-empty and sorted as by SortValidators.
func Proposer(sorted []common.Address, height, round uint64) common.Address {
	n := uint64(len(sorted))
	// (h mod n + r mod n) mod n avoids overflow for huge rounds.
	return sorted[(height%n+round%n)%n]
}
