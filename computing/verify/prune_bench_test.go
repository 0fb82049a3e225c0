package verify

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

// BenchmarkPruneEpoch deletes one epoch of n indexed accounts, each with
// a committed 3-verifier challenge and a probe word (the worst case per
// account), and hashes the account's storage trie after it
// (IntermediateRoot), as block execution does: the cost of the BeginBlock
// that prunes, once per epoch.
func BenchmarkPruneEpoch(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			m := &Module{params: DefaultParams(), epochLength: 100, offsets: map[uint64]bool{5: true, 10: true}, prune: true}
			const epoch = 3
			rules := nativetest.Config().Rules(big.NewInt(1), true, 0)
			for b.Loop() {
				b.StopTimer()
				st, err := state.New(types.EmptyRootHash, state.NewDatabaseForTesting())
				if err != nil {
					b.Fatal(err)
				}
				// A balance keeps the module's account from being an empty
				// account, which the EIP-158 rules delete at IntermediateRoot.
				st.AddBalance(native.VerifyAddress, uint256.NewInt(1), tracing.BalanceChangeUnspecified)
				c := &native.Call{State: st, Module: native.VerifyAddress, BlockNumber: 1, Value: new(uint256.Int), ChainID: new(uint256.Int)}
				for i := range n {
					a := common.BigToAddress(new(uint256.Int).SetUint64(uint64(i + 1)).ToBig())
					ch := challenge{Root: common.Hash{1}, CommitBlock: 1, DeadlineBlock: 2, SlotCount: 3, Needed: 2, Committed: true}
					ch.Verifiers[0], ch.Verifiers[1], ch.Verifiers[2] = common.Address{1}, common.Address{2}, common.Address{3}
					saveChallenge(c, epoch, a, &ch)
					c.Store(probeKey(epoch, a), common.Hash{1})
					m.index(c, epoch, a)
				}
				st.IntermediateRoot(rules)
				if got := len(EpochIndex(st, epoch)); got != n {
					b.Fatalf("%d accounts indexed, want %d", got, n)
				}
				b.StartTimer()
				m.pruneEpoch(c, epoch)
				st.IntermediateRoot(rules)
				b.StopTimer()
				if len(EpochIndex(st, epoch)) != 0 || ProbeWord(st, epoch, common.Address{19: 1}) != (common.Hash{}) {
					b.Fatal("the epoch was not deleted")
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/account")
		})
	}
}
