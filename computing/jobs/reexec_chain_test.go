package jobs_test

import (
	"context"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/state/native"
)

// TestOnChainCheater runs the acceptance scenario through the real
// block executor (signed transactions, hooks seeded by the headers' parent
// hashes) on a chain with two compute nodes: the cheater reports a wrong
// output digest, is sampled, the honest node re-executes and disagrees (a
// tie: no third node), the submitter disputes the tie and wins (the genesis
// turns disputeTieBreak on). The cheater
// is slashed and jailed within 3 epochs of its result; the honest node's
// own job, with the cheater jailed, settles and pays it; the supply is
// conserved; a second node validates every block to the same root.
func TestOnChainCheater(t *testing.T) {
	g, reg := chainGenesisWith(t, withTieBreak(reexecParams(10_000)))
	keys, err := genesis.DevAccountKeys(4)
	if err != nil {
		t.Fatal(err)
	}
	cf := &chainFixture{t: t, g: g, reg: reg, chain: openChain(t, g, reg), keys: keys,
		nonces: map[common.Address]uint64{}, abis: map[common.Address]abi.ABI{}}
	for _, m := range reg.All() {
		a, err := abi.JSON(strings.NewReader(m.ABI()))
		if err != nil {
			t.Fatal(err)
		}
		cf.abis[m.Address()] = a
	}
	const submitter, router, cheater, honest = 0, 1, 2, 3
	addr := func(i int) common.Address { return crypto.PubkeyToAddress(keys[i].PublicKey) }
	cid := uint256.MustFromBig(cf.chain.Config().ChainID)
	stake := big.NewInt(1e18)
	cf.mine(
		cf.tx(router, native.StakingAddress, big.NewInt(1e18), "stake", uint8(staking.RoleRouter), uint8(0)),
		cf.tx(cheater, native.StakingAddress, stake, "stake", uint8(staking.RoleCompute), uint8(0)),
		cf.tx(honest, native.StakingAddress, stake, "stake", uint8(staking.RoleCompute), uint8(0)),
	)
	for cf.chain.Head().Number.Uint64() < 4 {
		cf.mine()
	}
	rid, rsig, err := registry.SignPeerProof(peerKeyFor(t, 31), cid, addr(router))
	if err != nil {
		t.Fatal(err)
	}
	txs := []*types.Transaction{cf.tx(router, native.RegistryAddress, nil, "registerRouter", rid, rsig)}
	for i, n := range []int{cheater, honest} {
		id, sig, err := registry.SignPeerProof(peerKeyFor(t, int64(32+i)), cid, addr(n))
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, cf.tx(n, native.RegistryAddress, nil, "registerNode", id, sig, [32]byte{byte(n)}, uint32(1), "NVIDIA H200",
			uint64(143_771), true, []string{"NVIDIA H200"}, []*big.Int{big.NewInt(priceH200)}, big.NewInt(0), [][32]byte{imageA}))
	}
	cf.mine(txs...)

	// run submits a deterministic job, has node run it and report digest;
	// it returns the job id, the result's block number and the fees the
	// node paid.
	run := func(node int, digest [32]byte) (uint64, uint64, *uint256.Int) {
		t.Helper()
		cf.mine(cf.tx(submitter, native.JobsAddress, big.NewInt(1e18), "submitJob", encode(t, detSpec()), big.NewInt(2*priceH200)))
		id := jobs.JobCount(cf.head())
		for j, _, _ := jobs.JobOf(cf.head(), id); !j.Offered; j, _, _ = jobs.JobOf(cf.head(), id) {
			cf.mine()
		}
		cf.mine(cf.tx(router, native.JobsAddress, nil, "assign", bigID(id), addr(node)))
		ab := cf.mine(cf.tx(node, native.JobsAddress, nil, "accept", bigID(id)))
		rb := cf.mine(cf.tx(node, native.JobsAddress, nil, "submitResultDigest", bigID(id), [32]byte{0x5e}, uint64(detMillis), int32(0), digest))
		return id, rb.NumberU64(), new(uint256.Int).Add(cf.fees(ab), cf.fees(rb))
	}
	rx := func(id uint64) jobs.Reexec {
		t.Helper()
		r, ok, err := jobs.ReexecOf(cf.head(), id)
		if err != nil || !ok {
			t.Fatalf("job %d: no re-execution: %v", id, err)
		}
		return r
	}

	bad, resultBlock, _ := run(cheater, digestBad)
	cf.mine() // its end samples the result and draws the honest node
	if r := rx(bad); r.Current != addr(honest) {
		t.Fatalf("re-executor %s, want the honest node", r.Current)
	}
	cf.mine(cf.tx(honest, native.JobsAddress, nil, "submitReexec", bigID(bad), digestOK))
	cf.mine() // no third node: a tie, the result stands for now
	if j, _, _ := jobs.JobOf(cf.head(), bad); j.Verify != jobs.VerifyInconclusive {
		t.Fatalf("after the tie: %s verify %d", j.State, j.Verify)
	}
	subBefore := cf.head().GetBalance(addr(submitter)).Clone()
	db := cf.mine(cf.tx(submitter, native.JobsAddress, big.NewInt(1e18), "dispute", bigID(bad)))
	slashBlock := cf.mine() // the dispute's draw finds no third node: the bond breaks the tie
	st := cf.head()
	j, _, _ := jobs.JobOf(st, bad)
	if j.State != jobs.StateRefunded || j.Verify != jobs.VerifyFailed {
		t.Fatalf("after the dispute: %s verify %d", j.State, j.Verify)
	}
	if epochs := (slashBlock.NumberU64() - resultBlock) / uint64(g.EpochLength); epochs >= 3 {
		t.Fatalf("slashed %d blocks (%d epochs) after the result", slashBlock.NumberU64()-resultBlock, epochs)
	}
	fl := jobs.FaultsOf(st, addr(cheater))
	if fl.Slashes != 1 || fl.SlashedWei.Cmp(uint256.NewInt(5e17)) != 0 || !jobs.Jailed(st, addr(cheater), slashBlock.NumberU64()+1) {
		t.Fatalf("cheater faults %+v", fl)
	}
	if p := staking.PositionOf(st, addr(cheater)); p.AmountWei.Cmp(uint256.NewInt(5e17)) != 0 {
		t.Fatalf("cheater's stake %s", p.AmountWei)
	}
	// Escrow and bond back, less the dispute's fee.
	want := new(uint256.Int).Add(subBefore, uint256.NewInt(2e18))
	want.Sub(want, uint256.NewInt(1e18)).Sub(want, cf.fees(db))
	if got := st.GetBalance(addr(submitter)); got.Cmp(want) != 0 {
		t.Fatalf("submitter %s, want %s", got, want)
	}

	// The honest node's job: its only possible re-executor is jailed, so
	// the sampling finds none, and the job settles and pays it.
	honestBefore := cf.head().GetBalance(addr(honest)).Clone()
	good, rb, fees := run(honest, digestOK)
	for cf.chain.Head().Number.Uint64() < rb+5 {
		cf.mine()
	}
	st = cf.head()
	j, _, _ = jobs.JobOf(st, good)
	if j.State != jobs.StateSettled || j.Verify != jobs.VerifySkipped {
		t.Fatalf("honest job %s verify %d", j.State, j.Verify)
	}
	provider, _ := jobs.Split(jobs.Cost(detMillis, uint256.NewInt(priceH200), uint256.NewInt(1e18)))
	if want := new(uint256.Int).Sub(new(uint256.Int).Add(honestBefore, provider), fees); provider.IsZero() || !st.GetBalance(addr(honest)).Eq(want) {
		t.Fatalf("honest node %s, want %s (earned %s)", st.GetBalance(addr(honest)), want, provider)
	}
	if fl := jobs.FaultsOf(st, addr(honest)); fl.Slashes != 0 || fl.Passed != 1 || fl.Reexecs != 1 {
		t.Fatalf("honest node faults %+v", fl)
	}
	if !st.GetBalance(native.JobsAddress).IsZero() || !jobs.EscrowTotal(st).IsZero() {
		t.Fatalf("module holds %s", st.GetBalance(native.JobsAddress))
	}

	// Supply, then a validating node.
	seen := map[common.Address]bool{}
	for a := range g.Alloc {
		seen[a] = true
	}
	for a := range reg.GenesisAlloc() {
		seen[a] = true
	}
	seen[crypto.PubkeyToAddress(genesis.DevSignerKey().PublicKey)] = true
	seen[native.SupplyAddress] = true
	gst, err := cf.chain.StateAt(cf.chain.GenesisBlock().Root())
	if err != nil {
		t.Fatal(err)
	}
	sum, genesisSum := native.BurnedTotal(st).Clone(), new(uint256.Int)
	for a := range seen {
		sum.Add(sum, st.GetBalance(a))
		genesisSum.Add(genesisSum, gst.GetBalance(a))
	}
	if !sum.Eq(genesisSum) || native.Burned(st, native.BurnSlash).IsZero() {
		t.Fatalf("Σ balances + burned = %s, genesis %s (slash burned %s)", sum, genesisSum, native.Burned(st, native.BurnSlash))
	}
	other := openChain(t, g, reg)
	for i, b := range cf.blocks {
		if err := other.InsertBlock(context.Background(), b, cf.certs[i]); err != nil {
			t.Fatalf("validating block %d: %v", b.NumberU64(), err)
		}
	}
	if other.Head().Root != cf.chain.Head().Root {
		t.Fatal("a validating node reached another state root")
	}
}
