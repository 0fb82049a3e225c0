package verify

import (
	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/state/native"
)

// ChallengeWords reads the raw words of node's challenge of epoch (root,
// meta, every verifier word), for tests that check what pruning deletes.
func ChallengeWords(s native.StateReader, epoch uint64, node common.Address) []common.Hash {
	base := challengeBase(epoch, node)
	out := make([]common.Hash, 0, 2+MaxVerifiers)
	for k := range uint64(2 + MaxVerifiers) {
		out = append(out, s.GetState(native.VerifyAddress, add(base, k)))
	}
	return out
}

// ProbeWord reads router's raw probe word of epoch.
func ProbeWord(s native.StateReader, epoch uint64, router common.Address) common.Hash {
	return s.GetState(native.VerifyAddress, probeKey(epoch, router))
}

// EpochIndex reads epoch's index (the accounts pruning visits).
func EpochIndex(s native.StateReader, epoch uint64) []common.Address {
	base := epochIndexBase(epoch)
	n := native.LoadUint(s, native.VerifyAddress, base).Uint64()
	var out []common.Address
	for i := range n {
		out = append(out, common.BytesToAddress(s.GetState(native.VerifyAddress, native.ArraySlot(base, i)).Bytes()))
	}
	return out
}
