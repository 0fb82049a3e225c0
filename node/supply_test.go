package node

// The supply invariant, checked at the chain level: a real state.Chain with
// this binary's modules runs random blocks of transfers, Credits purchases,
// validator and compute stakes, unstakes, withdrawals, reward claims and
// double-sign reports that slash (many of which revert: locked stakes,
// nothing released or owed, jailed or unstaked offenders, value sent
// straight to a module or the ledger) from funded accounts, with 3-block
// epochs so staking rewards distribute and unbonding releases. After every
// block:
//
//	Σ balances of every account the test funded or touched
//	  + Σ module accounts + the supply ledger account + burned == total
//
// and the ledger's base-fee counter grew by exactly gasUsed × baseFee. The
// seed is printed on failure (SEED=n); -short runs 150 blocks, the long
// variant the 10,000 (about a minute and a half on 2 cores).

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"flag"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/consensus/ibft"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state"
	"github.com/emc-network/emcd/state/native"
)

var supplySeed = flag.Uint64("supply.seed", 0, "seed of TestSupplyInvariant (0: time-derived)")

// listTxs is a state.TxSource over a fixed list.
type listTxs struct{ txs []*types.Transaction }

func (l *listTxs) Peek() *types.Transaction {
	if len(l.txs) == 0 {
		return nil
	}
	return l.txs[0]
}
func (l *listTxs) Shift() { l.txs = l.txs[1:] }
func (l *listTxs) Pop() {
	// Drop the rest of the failed sender's transactions, as the pool would.
	from := l.txs[0]
	keep := l.txs[:0]
	for _, tx := range l.txs[1:] {
		if !sameSender(tx, from) {
			keep = append(keep, tx)
		}
	}
	l.txs = keep
}

func sameSender(a, b *types.Transaction) bool {
	s := types.LatestSignerForChainID(a.ChainId())
	fa, _ := types.Sender(s, a)
	fb, _ := types.Sender(s, b)
	return fa == fb
}

func TestSupplyInvariant(t *testing.T) {
	seed := *supplySeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	blocks := 10_000 // the property run
	if testing.Short() {
		blocks = 150
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("SEED=%d (replay: go test -run TestSupplyInvariant -supply.seed %d ./node/)", seed, seed)
		}
	})
	runSupplyInvariant(t, seed, blocks)
}

func runSupplyInvariant(t *testing.T, seed uint64, blocks int) {
	rnd := rand.New(rand.NewPCG(seed, seed^0x5eed))
	g := genesis.Dev()
	g.EpochLength = 3 // short epochs: locks end and unbonding releases within the run
	keys, err := genesis.DevAccountKeys(genesis.DevAccountCount)
	if err != nil {
		t.Fatal(err)
	}
	// Two more actors funded from the reserve (the table absorbs them).
	for i := range 2 {
		k, _ := crypto.ToECDSA(crypto.Keccak256([]byte{'s', 'u', 'p', 'p', 'l', 'y', byte(i)}))
		keys = append(keys, k)
		g.Alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: new(big.Int).Mul(big.NewInt(50_000), big.NewInt(1e18))}
	}
	// Anyone may stake as a validator (so actors can be slashed), but the
	// set never leaves the dev signer: 1000 eligible would be needed.
	g.Params = map[string]json.RawMessage{staking.Name: json.RawMessage(`{"minValidatorStakeWei":"1","minValidators":1000,"maxValidators":1000}`)}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	abis := map[common.Address]abi.ABI{}
	for _, m := range mods.All() {
		a, err := abi.JSON(strings.NewReader(m.ABI()))
		if err != nil {
			t.Fatal(err)
		}
		abis[m.Address()] = a
	}
	pack := func(to common.Address, method string, args ...any) []byte {
		data, err := abis[to].Pack(method, args...)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	sealKey := genesis.DevSignerKey()
	coinbase := crypto.PubkeyToAddress(sealKey.PublicKey)
	// tracked is every account that can hold wei: genesis accounts, module
	// accounts, the ledger, the actors, the coinbase, every recipient.
	tracked := map[common.Address]bool{coinbase: true, *g.Reserve: true}
	for a := range g.Alloc {
		tracked[a] = true
	}
	for a := range mods.GenesisAlloc() {
		tracked[a] = true
	}
	actors := make([]common.Address, len(keys))
	for i, k := range keys {
		actors[i] = crypto.PubkeyToAddress(k.PublicKey)
		tracked[actors[i]] = true
	}
	total := g.TotalSupply()
	price := uint64(credits.DefaultCreditPriceWei)
	signer := types.LatestSignerForChainID(chain.Config().ChainID)
	emc := func(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e18)) }

	check := func(label string) {
		t.Helper()
		st, err := chain.StateAt(chain.Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		sum := new(big.Int)
		for a := range tracked {
			sum.Add(sum, st.GetBalance(a).ToBig())
		}
		burned := native.BurnedTotal(st).ToBig()
		if got := new(big.Int).Add(sum, burned); got.Cmp(total) != 0 {
			t.Fatalf("%s: Σ balances %s + burned %s = %s, total %s (off by %s)", label, sum, burned, got, total, new(big.Int).Sub(got, total))
		}
		var kinds uint256.Int
		for _, k := range []native.BurnKind{native.BurnBaseFee, native.BurnRent, native.BurnSlash} {
			kinds.Add(&kinds, native.Burned(st, k))
		}
		if kinds.ToBig().Cmp(burned) != 0 {
			t.Fatalf("%s: burn kinds sum to %s, total burned %s", label, &kinds, burned)
		}
		if res := credits.Reserve(st); st.GetBalance(native.CreditsAddress).Cmp(res) != 0 {
			t.Fatalf("%s: credits module balance %s, reserve %s", label, st.GetBalance(native.CreditsAddress), res)
		}
	}
	check("genesis")

	var txCount, reverted int
	succeeded := map[string]int{} // module method -> successful calls
	for n := 1; n <= blocks; n++ {
		st, err := chain.StateAt(chain.Head().Root)
		if err != nil {
			t.Fatal(err)
		}
		baseFeeBurnBefore := native.Burned(st, native.BurnBaseFee).ToBig()
		nonces := map[int]uint64{}
		var txs []*types.Transaction
		for range rnd.IntN(8) {
			i := rnd.IntN(len(keys))
			if _, ok := nonces[i]; !ok {
				nonces[i] = st.GetNonce(actors[i])
			}
			to, value, data, gas := supplyAction(rnd, actors, price, emc, pack, tracked)
			if rnd.IntN(12) == 0 {
				// A slash: any actor reports another's (or its own)
				// double PREPARE at the head's height; it reverts unless
				// the offender holds validator stake and the offence is new.
				off := keys[rnd.IntN(len(keys))]
				h := chain.Head().Number.Uint64()
				sign := func(d byte) ibft.Signed {
					m := ibft.Signed{Code: ibft.MsgPrepare, Height: h, Round: uint64(rnd.IntN(2)), Digest: common.Hash{d}}
					dg := m.SigningDigest()
					sig, err := ibft.NewKeySigner(off).Sign(dg[:])
					if err != nil {
						t.Fatal(err)
					}
					m.Signature = sig
					return m
				}
				a, b := sign(1), sign(2)
				b.Round = a.Round
				dg := b.SigningDigest()
				if b.Signature, err = ibft.NewKeySigner(off).Sign(dg[:]); err != nil {
					t.Fatal(err)
				}
				if data, err = staking.ReportDoubleSignData(ibft.NewEvidence(a, b)); err != nil {
					t.Fatal(err)
				}
				to, value, gas = native.StakingAddress, new(big.Int), 1_000_000
			}
			tx, err := types.SignNewTx(keys[i], signer, &types.DynamicFeeTx{
				ChainID: chain.Config().ChainID, Nonce: nonces[i], GasTipCap: big.NewInt(int64(rnd.IntN(3)) * 1e9),
				GasFeeCap: big.NewInt(20e9), Gas: gas, To: &to, Value: value, Data: data,
			})
			if err != nil {
				t.Fatal(err)
			}
			nonces[i]++
			txs = append(txs, tx)
		}
		b := supplyMine(t, chain, sealKey, coinbase, txs)
		txCount += b.Transactions().Len()
		for i, r := range chain.Receipts(b.Hash()) {
			tx := b.Transactions()[i]
			if r.Status == types.ReceiptStatusFailed {
				reverted++
			} else if a, ok := abis[*tx.To()]; ok && len(tx.Data()) >= 4 {
				if m, err := a.MethodById(tx.Data()[:4]); err == nil {
					succeeded[m.Name]++
				}
			}
		}
		check("block " + b.Number().String())
		st, _ = chain.StateAt(b.Root())
		want := new(big.Int).Mul(new(big.Int).SetUint64(b.GasUsed()), b.BaseFee())
		if got := new(big.Int).Sub(native.Burned(st, native.BurnBaseFee).ToBig(), baseFeeBurnBefore); got.Cmp(want) != 0 {
			t.Fatalf("block %d: base fee burn counted %s, gasUsed × baseFee %s", b.NumberU64(), got, want)
		}
	}
	st, _ := chain.StateAt(chain.Head().Root)
	if reverted == 0 || native.Burned(st, native.BurnBaseFee).Sign() == 0 ||
		succeeded["stake"] == 0 || succeeded["unstake"] == 0 || succeeded["withdraw"] == 0 || succeeded["buyCredits"] == 0 ||
		succeeded["claim"] == 0 || (blocks >= 1000 && (succeeded["reportDoubleSign"] == 0 || native.Burned(st, native.BurnSlash).Sign() == 0)) {
		t.Fatalf("run too weak: %d txs, %d reverted, base fee burned %s, successful module calls %v",
			txCount, reverted, native.Burned(st, native.BurnBaseFee), succeeded)
	}
	t.Logf("%d blocks, %d txs (%d reverted), successful module calls %v, burned %s wei, staked %s wei, credits reserve %s wei",
		blocks, txCount, reverted, succeeded, native.BurnedTotal(st), st.GetBalance(native.StakingAddress), credits.Reserve(st))
}

// supplyAction picks one random move: a transfer (to an actor, a fresh
// address, a module or the ledger), a Credits purchase (sometimes not a
// whole multiple of the price: reverts), a compute stake, an unstake of a
// random amount, or a withdrawal.
func supplyAction(rnd *rand.Rand, actors []common.Address, price uint64, emc func(int64) *big.Int,
	pack func(common.Address, string, ...any) []byte, tracked map[common.Address]bool) (common.Address, *big.Int, []byte, uint64) {
	switch rnd.IntN(9) {
	case 0: // transfer to an actor
		return actors[rnd.IntN(len(actors))], big.NewInt(rnd.Int64N(1e18)), nil, 21_000
	case 1: // transfer to a fresh address
		to := common.BigToAddress(big.NewInt(0x7ee0000 + rnd.Int64N(1000)))
		tracked[to] = true
		return to, big.NewInt(rnd.Int64N(1e17) + 1), nil, 21_000
	case 2: // value sent straight to a module or the ledger: reverts
		to := []common.Address{native.StakingAddress, native.CreditsAddress, native.SupplyAddress}[rnd.IntN(3)]
		return to, big.NewInt(1e18), nil, 60_000
	case 3: // buy Credits
		v := new(big.Int).Mul(big.NewInt(rnd.Int64N(500)+1), new(big.Int).SetUint64(price))
		if rnd.IntN(5) == 0 {
			v.Add(v, big.NewInt(1)) // not a whole multiple: reverts
		}
		return native.CreditsAddress, v, pack(native.CreditsAddress, "buyCredits", actors[rnd.IntN(len(actors))]), 150_000
	case 4: // stake as validator or compute, sometimes with a 7-day lock
		// (a position's role is fixed: the other role reverts; a jailed
		// owner's validator stake reverts)
		return native.StakingAddress, emc(rnd.Int64N(100) + 1), pack(native.StakingAddress, "stake", uint8(2*rnd.IntN(2)), uint8(rnd.IntN(2))), 1_000_000
	case 5: // unstake (reverts when locked, too much, or no position)
		return native.StakingAddress, new(big.Int), pack(native.StakingAddress, "unstake", emc(rnd.Int64N(60)+1)), 1_000_000
	case 6: // claim staking rewards (reverts when nothing is owed)
		return native.RewardsAddress, new(big.Int), pack(native.RewardsAddress, "claim"), 300_000
	case 7: // value to the rewards module: reverts
		return native.RewardsAddress, big.NewInt(1e18), nil, 60_000
	default: // withdraw (reverts when nothing is released)
		return native.StakingAddress, new(big.Int), pack(native.StakingAddress, "withdraw"), 1_000_000
	}
}

// supplyMine builds a block of txs on chain's head, seals it with key and
// inserts it.
func supplyMine(t *testing.T, chain *state.Chain, key *ecdsa.PrivateKey, coinbase common.Address, txs []*types.Transaction) *types.Block {
	t.Helper()
	var parent *cert.Certificate
	if head := chain.Head(); head.Number.Sign() > 0 {
		c, err := chain.Certificate(head.Number.Uint64(), head.Hash())
		if err != nil || c == nil {
			t.Fatalf("head certificate: %v", err)
		}
		parent = c
	}
	b, err := chain.BuildBlock(context.Background(), &listTxs{txs: txs}, state.BuildParams{
		Coinbase: coinbase, Time: time.Unix(int64(chain.Head().Time)+1, 0), ParentCommit: parent,
	})
	if err != nil {
		t.Fatal(err)
	}
	seal, err := cert.SignCommit(b.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, key) })
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.InsertBlock(context.Background(), b, &cert.Certificate{Seals: [][]byte{seal}}); err != nil {
		t.Fatal(err)
	}
	return b
}
