// The jobs tests run the module through a real go-ethereum EVM
// (state/native/nativetest) next to the real staking and registry modules:
// routers stake and register, nodes register with peer proofs, and blocks
// are driven by the fixture (BeginBlock, the transactions, EndBlock with the
// block's gas so the base-fee burn is counted). After every step the
// fixture checks the module's invariants (its balance equals the open
// escrows and dispute bonds, and equals EscrowTotal; the Credits it holds in the credits
// module equal the open Credits escrows and CreditsEscrowTotal; the open
// and assigned lists hold exactly the jobs in those states) and that the
// supply is conserved: Σ balances + burned == the genesis total. The
// credits module runs too, so Credits escrows are spent by its Spend.
package jobs_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"math/rand"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
	"github.com/emc-network/emcd/state/native/nativetest"
)

var (
	jobsAddr    = native.JobsAddress
	regAddr     = native.RegistryAddress
	stakingAddr = native.StakingAddress
	creditsAddr = native.CreditsAddress
	sub         = common.HexToAddress("0x5b00000000000000000000000000000000000001") // submitter
	r1          = common.HexToAddress("0x7100000000000000000000000000000000000002") // router, 100 EMC
	r2          = common.HexToAddress("0x7200000000000000000000000000000000000003") // router, 300 EMC
	n1          = common.HexToAddress("0x1100000000000000000000000000000000000004") // 2 × H200
	n2          = common.HexToAddress("0x1200000000000000000000000000000000000005") // 1 × A100
	carol       = common.HexToAddress("0xca00000000000000000000000000000000000006")
	n3          = common.HexToAddress("0x1300000000000000000000000000000000000007") // CPU-only
	accounts    = []common.Address{sub, r1, r2, n1, n2, carol, n3}
	imageA      = common.Hash{0xaa}
	imageB      = common.Hash{0xbb}
)

const (
	testEpochLength = 10
	testPeriodMs    = 2000
	// Params of the tests: draw 2 blocks after submission, 3-block offer
	// window, 20 blocks to assign, 4 to accept, 30 s result grace, 5-block
	// dispute.
	testParams = `{"offerDelayBlocks":2,"offerWindowBlocks":3,"assignBlocks":20,"acceptBlocks":4,"resultGraceSeconds":30,"disputeBlocks":5}`
	priceH200  = 1_000_000_000 // wei per GPU-second
	priceA100  = 500_000_000
	priceCPU   = 100_000_000 // n3's CPU-only price, wei per second
)

func emc(n uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(n), uint256.NewInt(1_000_000_000_000_000_000))
}

type fixture struct {
	*nativetest.Chain
	t                           testing.TB
	mod                         *jobs.Module
	credits                     *credits.Module
	abi, regABI, stkABI, crdABI abi.ABI
	blockGas                    uint64
	genesisSupply               *uint256.Int
	extraAccounts               []common.Address
	rwABI                       abi.ABI // the rewards module's, when loaded (buildFixture)
}

// newFixture builds the chain, stakes and registers routers r1 (100 EMC)
// and r2 (300 EMC), registers nodes n1 (2 H200, 143,771 MiB, images A and
// B), n2 (1 A100, 81,920 MiB, image A) and n3 (CPU-only at priceCPU,
// image A), and starts block 21 (epoch 2).
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, testParams)
}

// newFixtureWith is newFixture with the jobs params params.
func newFixtureWith(t testing.TB, params string) *fixture {
	t.Helper()
	return newFixtureOpts(t, params, true)
}

// newFixtureOpts is newFixtureWith, with the jobs module given the credits
// module (Credits escrow) or not.
func newFixtureOpts(t testing.TB, params string, withCredits bool) *fixture {
	t.Helper()
	f, _ := buildFixture(t, fixtureConfig{jobsParams: params, withCredits: withCredits})
	return f
}

// fixtureConfig selects what buildFixture wires in.
type fixtureConfig struct {
	jobsParams string
	// withCredits gives the jobs module the credits module (Credits escrow).
	withCredits bool
	// rewardsParams, when not empty, loads the rewards module with these
	// params and has the jobs module report market work to it.
	rewardsParams string
	// extra accounts are funded like the named ones.
	extra []common.Address
}

// buildFixture loads the modules cfg selects on a fresh chain, funds the
// accounts with 1000 EMC each, stakes and registers the routers r1 and r2,
// registers n1, n2 and the CPU-only n3, and moves to the next block. It
// returns the rewards module it loaded, nil when none.
func buildFixture(t testing.TB, cfg fixtureConfig) (*fixture, *rewards.Module) {
	t.Helper()
	stRaw := json.RawMessage(`{"minRouterStakeWei":"100000000000000000000"}`)
	sp, err := staking.ParseParams(stRaw, testEpochLength)
	if err != nil {
		t.Fatal(err)
	}
	st := registry.Staking{EpochLength: testEpochLength, MinRouterStakeWei: sp.MinStakeWei[staking.RoleRouter]}
	cm, err := credits.NewModule(credits.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var jobOpts []jobs.Option
	if cfg.withCredits {
		jobOpts = append(jobOpts, jobs.WithCredits(cm))
	}
	raw := map[string]json.RawMessage{
		staking.Name: stRaw, registry.Name: json.RawMessage(`{"allowSimulatedGPUs":true}`), jobs.Name: json.RawMessage(cfg.jobsParams),
		credits.Name: nil,
	}
	factories := map[string]native.Factory{
		staking.Name:  staking.Factory(testEpochLength),
		registry.Name: registry.Factory(st),
		credits.Name:  func(json.RawMessage) (native.Module, error) { return cm, nil },
	}
	f := &fixture{t: t, credits: cm, extraAccounts: cfg.extra}
	abis := map[common.Address]*abi.ABI{jobsAddr: &f.abi, regAddr: &f.regABI, stakingAddr: &f.stkABI, creditsAddr: &f.crdABI}
	var rw *rewards.Module
	if cfg.rewardsParams != "" {
		rp, err := rewards.ParseModuleParams(json.RawMessage(cfg.rewardsParams), testEpochLength)
		if err != nil {
			t.Fatal(err)
		}
		if rw, err = rewards.NewModule(rp, staking.RewardsView{}); err != nil {
			t.Fatal(err)
		}
		jobOpts = append(jobOpts, jobs.WithRewards(rw))
		raw[rewards.Name] = json.RawMessage(cfg.rewardsParams)
		factories[rewards.Name] = rewards.Factory(testEpochLength, staking.RewardsView{})
		f.extraAccounts = append([]common.Address{rewardsAddr}, cfg.extra...)
		abis[rewardsAddr] = &f.rwABI
	}
	factories[jobs.Name] = jobs.Factory(st, testPeriodMs, jobOpts...)
	reg, err := native.Load(raw, factories)
	if err != nil {
		t.Fatal(err)
	}
	for addr, dst := range abis {
		m, _ := reg.Lookup(addr)
		if *dst, err = abi.JSON(strings.NewReader(m.ABI())); err != nil {
			t.Fatal(err)
		}
		if addr == jobsAddr {
			f.mod = m.(*jobs.Module)
		}
	}
	alloc := types.GenesisAlloc{}
	for _, a := range append(append([]common.Address{}, accounts...), cfg.extra...) {
		alloc[a] = types.Account{Balance: emc(1000).ToBig()}
	}
	f.Chain = nativetest.New(t, reg, alloc)
	f.genesisSupply = f.supply()

	for _, x := range []struct {
		who common.Address
		amt uint64
	}{{r1, 100}, {r2, 300}} {
		f.mustCall(stakingAddr, f.stkABI, x.who, emc(x.amt), "stake", uint8(staking.RoleRouter), uint8(0))
	}
	f.Number = 2 * testEpochLength // the stakes are effective
	for i, r := range []common.Address{r1, r2} {
		id, sig := proof(t, int64(10+i), r)
		f.mustCall(regAddr, f.regABI, r, nil, "registerRouter", id, sig)
	}
	f.registerNode(n1, 1, 2, "NVIDIA H200", 143_771, priceH200, imageA, imageB)
	f.registerNode(n2, 2, 1, "NVIDIA A100", 81_920, priceA100, imageA)
	id, sig := proof(t, 3, n3)
	f.mustCall(regAddr, f.regABI, n3, nil, "registerNode", id, sig, [32]byte{0x33}, uint32(0), "", uint64(0), false,
		[]string{}, []*big.Int{}, big.NewInt(priceCPU), [][32]byte{imageA})
	f.next()
	return f, rw
}

// peerKeyFor is a deterministic Ed25519 libp2p key.
func peerKeyFor(t testing.TB, seed int64) lcrypto.PrivKey {
	t.Helper()
	k, _, err := lcrypto.GenerateEd25519Key(rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// proof is seed's key's peer proof for owner on the harness chain.
func proof(t testing.TB, seed int64, owner common.Address) (peerID, sig []byte) {
	t.Helper()
	id, sig, err := registry.SignPeerProof(peerKeyFor(t, seed), uint256.MustFromBig(nativetest.Config().ChainID), owner)
	if err != nil {
		t.Fatal(err)
	}
	return id, sig
}

func (f *fixture) registerNode(owner common.Address, seed int64, gpus uint32, model string, memMiB, price uint64, images ...common.Hash) {
	f.t.Helper()
	id, sig := proof(f.t, seed, owner)
	imgs := make([][32]byte, len(images))
	for i, d := range images {
		imgs[i] = d
	}
	f.mustCall(regAddr, f.regABI, owner, nil, "registerNode", id, sig,
		[32]byte(crypto.Keccak256Hash([]byte(model))), gpus, model, memMiB, true,
		[]string{model}, []*big.Int{new(big.Int).SetUint64(price)}, big.NewInt(0), imgs)
}

// buyCredits buys n Credits for who at the module's price.
func (f *fixture) buyCredits(who common.Address, n uint64) {
	f.t.Helper()
	f.mustCall(creditsAddr, f.crdABI, who, new(uint256.Int).Mul(uint256.NewInt(n), f.credits.CreditPriceWei()), "buyCredits", who)
	f.check()
}

// submitCredits submits s with cap and n Credits from sub and returns its id.
func (f *fixture) submitCredits(s jobs.Spec, capWei, n uint64) uint64 {
	f.t.Helper()
	r := f.mustSend(sub, nil, "submitJobCredits", encode(f.t, s), new(big.Int).SetUint64(capWei), new(big.Int).SetUint64(n))
	out, err := f.abi.Unpack("submitJobCredits", r.ret)
	if err != nil {
		f.t.Fatal(err)
	}
	return out[0].(*big.Int).Uint64()
}

// supply is Σ balances of every account the tests touch + burned, counting
// the base fee of the current block's transactions, which its EndBlock
// records.
func (f *fixture) supply() *uint256.Int {
	sum := native.BurnedTotal(f.State).Clone()
	sum.Add(sum, new(uint256.Int).Mul(uint256.NewInt(f.blockGas), uint256.NewInt(nativetest.BaseFeeWei)))
	all := append([]common.Address{jobsAddr, regAddr, stakingAddr, creditsAddr, native.SupplyAddress, f.Coinbase}, accounts...)
	for _, a := range append(all, f.extraAccounts...) {
		sum.Add(sum, f.State.GetBalance(a))
	}
	return sum
}

// env is the current block's environment; the parent hash is a fixed
// function of the number.
func (f *fixture) env() *native.BlockEnv {
	return &native.BlockEnv{
		Number: f.Number, Time: f.Time, Coinbase: f.Coinbase, BaseFee: big.NewInt(nativetest.BaseFeeWei),
		EpochLength: testEpochLength, GasUsed: f.blockGas,
		ParentHash: crypto.Keccak256Hash([]byte("block"), new(big.Int).SetUint64(f.Number-1).Bytes()),
	}
}

// next ends the current block and begins the next (2 s later).
func (f *fixture) next() {
	f.t.Helper()
	if err := f.Registry.EndBlock(f.State, f.env()); err != nil {
		f.t.Fatalf("EndBlock %d: %v", f.Number, err)
	}
	f.blockGas = 0
	f.State.Finalise(f.Rules())
	f.check()
	f.Number++
	f.Time += testPeriodMs / 1000
	if err := f.Registry.BeginBlock(f.State, f.env()); err != nil {
		f.t.Fatalf("BeginBlock %d: %v", f.Number, err)
	}
	f.State.Finalise(f.Rules())
	f.check()
}

// to runs blocks until the current block is n.
func (f *fixture) to(n uint64) {
	f.t.Helper()
	for f.Number < n {
		f.next()
	}
}

// check asserts the module's invariants and the supply.
func (f *fixture) check() {
	f.t.Helper()
	open, openCredits := new(uint256.Int), new(uint256.Int)
	inState := map[jobs.State]map[uint64]bool{jobs.StateSubmitted: {}, jobs.StateAssigned: {}}
	for id := uint64(1); id <= jobs.JobCount(f.State); id++ {
		j, ok, err := jobs.JobOf(f.State, id)
		if err != nil || !ok {
			f.t.Fatalf("block %d: job %d: %v %v", f.Number, id, ok, err)
		}
		if j.InCredits() && !j.EscrowWei.IsZero() {
			f.t.Fatalf("block %d: job %d escrows both %s wei and %s Credits", f.Number, id, j.EscrowWei, j.EscrowCredits)
		}
		if !j.State.Ended() {
			open.Add(open, j.EscrowWei)
			openCredits.Add(openCredits, j.EscrowCredits)
			rx, ok, err := jobs.ReexecOf(f.State, id)
			if err != nil {
				f.t.Fatalf("block %d: re-execution of job %d: %v", f.Number, id, err)
			}
			if ok && rx.Disputed {
				open.Add(open, rx.BondWei) // a dispute's bond is held until the job ends
			}
		}
		if m := inState[j.State]; m != nil {
			m[id] = true
		}
	}
	bal := f.State.GetBalance(jobsAddr)
	if !bal.Eq(open) || !jobs.EscrowTotal(f.State).Eq(open) {
		f.t.Fatalf("block %d: module balance %s, escrow total %s, open escrows %s", f.Number, bal, jobs.EscrowTotal(f.State), open)
	}
	if held := credits.CreditsOf(f.State, jobsAddr); !held.Eq(openCredits) || !jobs.CreditsEscrowTotal(f.State).Eq(openCredits) {
		f.t.Fatalf("block %d: module holds %s Credits, Credits escrow total %s, open Credits escrows %s",
			f.Number, held, jobs.CreditsEscrowTotal(f.State), openCredits)
	}
	if f.credits != nil { // the market fixture (trade_test.go) runs without the credits module
		price := f.credits.CreditPriceWei()
		if res, want := credits.Reserve(f.State), new(uint256.Int).Mul(credits.TotalCredits(f.State), price); !res.Eq(want) || !f.State.GetBalance(creditsAddr).Eq(res) {
			f.t.Fatalf("block %d: credits reserve %s, total × price %s, balance %s", f.Number, res, want, f.State.GetBalance(creditsAddr))
		}
	}
	for _, l := range []struct {
		st   jobs.State
		page func(native.StateReader, uint64, uint64) ([]uint64, uint64)
	}{{jobs.StateSubmitted, jobs.OpenJobs}, {jobs.StateAssigned, jobs.AssignedJobs}} {
		var ids []uint64
		for off := uint64(0); ; off += jobs.MaxPage {
			page, total := l.page(f.State, off, jobs.MaxPage)
			ids = append(ids, page...)
			if uint64(len(ids)) >= total || len(page) == 0 {
				if uint64(len(ids)) != total {
					f.t.Fatalf("block %d: %s list pages %d ids, total %d", f.Number, l.st, len(ids), total)
				}
				break
			}
		}
		seen := map[uint64]bool{}
		for _, id := range ids {
			if seen[id] || !inState[l.st][id] {
				f.t.Fatalf("block %d: %s list %v, jobs in that state %v", f.Number, l.st, ids, inState[l.st])
			}
			seen[id] = true
		}
		if len(seen) != len(inState[l.st]) {
			f.t.Fatalf("block %d: %s list %v, jobs in that state %v", f.Number, l.st, ids, inState[l.st])
		}
	}
	if got := f.supply(); !got.Eq(f.genesisSupply) {
		f.t.Fatalf("block %d: supply %s, genesis %s", f.Number, got, f.genesisSupply)
	}
}

type result struct {
	gasUsed uint64
	err     error
	ret     []byte
	logs    []*types.Log
}

func (r *result) reason() string {
	if r.err == nil {
		return ""
	}
	s, err := abi.UnpackRevert(r.ret)
	if err != nil {
		return r.err.Error()
	}
	return s
}

func (f *fixture) call(to common.Address, a abi.ABI, from common.Address, value *uint256.Int, name string, args ...any) *result {
	f.t.Helper()
	data, err := a.Pack(name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	msg := f.Msg(from, &to, value, data)
	msg.GasLimit = 8_000_000 // a deterministic result prepays its re-execution rounds (jobs.ResultDigestGas)
	res, logs := f.Apply(msg)
	f.blockGas += res.UsedGas
	return &result{res.UsedGas, res.Err, res.ReturnData, logs}
}

func (f *fixture) mustCall(to common.Address, a abi.ABI, from common.Address, value *uint256.Int, name string, args ...any) *result {
	f.t.Helper()
	r := f.call(to, a, from, value, name, args...)
	if r.err != nil {
		f.t.Fatalf("%s by %s: %v %q", name, from, r.err, r.reason())
	}
	return r
}

// send calls the jobs module and checks the invariants after.
func (f *fixture) send(from common.Address, value *uint256.Int, name string, args ...any) *result {
	f.t.Helper()
	r := f.call(jobsAddr, f.abi, from, value, name, args...)
	f.check()
	return r
}

func (f *fixture) mustSend(from common.Address, value *uint256.Int, name string, args ...any) *result {
	f.t.Helper()
	r := f.send(from, value, name, args...)
	if r.err != nil {
		f.t.Fatalf("%s by %s: %v %q", name, from, r.err, r.reason())
	}
	return r
}

// mustRevert sends and checks the call reverts with want, emits nothing,
// leaves the module's storage and balance as they were and costs the
// sender the fee only.
func (f *fixture) mustRevert(from common.Address, value *uint256.Int, want error, name string, args ...any) {
	f.t.Helper()
	root, crdRoot := f.State.GetStorageRoot(jobsAddr), f.State.GetStorageRoot(creditsAddr)
	modBal := f.State.GetBalance(jobsAddr).Clone()
	before := f.State.GetBalance(from).Clone()
	r := f.send(from, value, name, args...)
	if !errors.Is(r.err, vm.ErrExecutionReverted) || !strings.HasPrefix(r.reason(), want.Error()) {
		f.t.Fatalf("%s by %s: err %v reason %q, want %q", name, from, r.err, r.reason(), want)
	}
	if len(r.logs) != 0 {
		f.t.Fatalf("%s: %d logs on revert", name, len(r.logs))
	}
	if f.State.GetStorageRoot(jobsAddr) != root || !f.State.GetBalance(jobsAddr).Eq(modBal) || f.State.GetStorageRoot(creditsAddr) != crdRoot {
		f.t.Fatalf("%s: module state changed on revert", name)
	}
	if got, want := f.State.GetBalance(from), new(uint256.Int).Sub(before, nativetest.Fee(r.gasUsed)); !got.Eq(want) {
		f.t.Fatalf("%s: sender balance %s, want %s", name, got, want)
	}
}

func (f *fixture) view(name string, args ...any) []any {
	f.t.Helper()
	data, err := f.abi.Pack(name, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	res := f.Call(f.Msg(carol, &jobsAddr, nil, data))
	if res.Err != nil {
		f.t.Fatalf("%s: %v", name, res.Err)
	}
	out, err := f.abi.Unpack(name, res.ReturnData)
	if err != nil {
		f.t.Fatalf("%s: unpack: %v", name, err)
	}
	return out
}

func (f *fixture) job(id uint64) jobs.Job {
	f.t.Helper()
	j, ok, err := jobs.JobOf(f.State, id)
	if err != nil || !ok {
		f.t.Fatalf("job %d: %v %v", id, ok, err)
	}
	return j
}

func goodSpec() jobs.Spec {
	return jobs.Spec{
		Image: imageA, Args: []string{"python", "train.py"}, Env: []string{"EPOCHS=3"}, GPUs: 1,
		GPUModel: "NVIDIA H200", MinMemoryMiB: 80_000, TimeoutSeconds: 100, OutputCapBytes: 1 << 20,
	}
}

func encode(t testing.TB, s jobs.Spec) []byte {
	t.Helper()
	data, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// submit submits s with cap and escrow from sub and returns its id.
func (f *fixture) submit(s jobs.Spec, capWei uint64, escrow *uint256.Int) uint64 {
	f.t.Helper()
	r := f.mustSend(sub, escrow, "submitJob", encode(f.t, s), new(big.Int).SetUint64(capWei))
	out, err := f.abi.Unpack("submitJob", r.ret)
	if err != nil {
		f.t.Fatal(err)
	}
	return out[0].(*big.Int).Uint64()
}

// drawn runs blocks until job id's router is drawn and returns it.
func (f *fixture) drawn(id uint64) common.Address {
	f.t.Helper()
	for i := 0; i < 10 && !f.job(id).Offered; i++ {
		f.next()
	}
	j := f.job(id)
	if !j.Offered {
		f.t.Fatalf("job %d not drawn by block %d", id, f.Number)
	}
	return j.OfferedRouter
}

func other(r common.Address) common.Address {
	if r == r1 {
		return r2
	}
	return r1
}

func bigID(id uint64) *big.Int { return new(big.Int).SetUint64(id) }
