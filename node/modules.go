package node

import (
	"fmt"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/params"
	"github.com/emc-network/emcd/staking"
	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/staking/rewards"
	"github.com/emc-network/emcd/state/native"
)

// moduleFactories lists every chain-native module this binary runs, for a
// chain with genesis g. Adding a module here is a consensus change: every
// node must run the same set.
//
// The staking module's genesis stakes also weigh in the rewards module's
// staking pools from epoch 0, their locks ending where staking's do; invalid staking params are reported by the
// staking factory itself, so here they only leave the rewards module
// without genesis positions.
func moduleFactories(g *genesis.Genesis) map[string]native.Factory {
	var positions []rewards.GenesisPosition
	// The registry gates routers by staking's router minimum; with invalid
	// staking params the staking factory fails the load anyway.
	regStaking := registry.Staking{EpochLength: staking.DefaultEpochLength, MinRouterStakeWei: staking.DefaultParams().MinStakeWei[staking.RoleRouter]}
	if sp, err := staking.ParseParams(g.Params[staking.Name], uint64(g.EpochLength)); err == nil {
		regStaking = registry.Staking{EpochLength: sp.EpochLength, MinRouterStakeWei: sp.MinStakeWei[staking.RoleRouter]}
		for _, gs := range sp.GenesisStakes {
			positions = append(positions, rewards.GenesisPosition{
				Owner: gs.Owner, StakeWei: gs.AmountWei, Lock: gs.Lock,
				UnlockEpoch: sp.GenesisUnlockEpoch(gs),
			})
		}
	}
	// Jobs escrowed in Credits are spent through a credits module built
	// from the same params as the chain's (it holds no state of its own),
	// and the jobs module reports market work (router and compute credits,
	// trade rewards) through a rewards module built likewise. Every module
	// loads (absent params mean defaults); invalid params fail the credits
	// or rewards factory anyway.
	var jobOpts []jobs.Option
	var appOpts []apps.Option
	if cp, err := credits.ParseParams(g.Params[credits.Name]); err == nil {
		if cm, err := credits.NewModule(cp); err == nil {
			jobOpts = append(jobOpts, jobs.WithCredits(cm))
			appOpts = append(appOpts, apps.WithCredits(cm))
		}
	}
	rewardsEpochLength := uint64(g.EpochLength)
	if rewardsEpochLength == 0 {
		rewardsEpochLength = rewards.DefaultEpochLength // as rewards.Factory does
	}
	var verifyOpts []verify.Option
	if rp, err := rewards.ParseModuleParams(g.Params[rewards.Name], rewardsEpochLength); err == nil {
		if rm, err := rewards.NewModule(rp, staking.RewardsView{}); err == nil {
			jobOpts = append(jobOpts, jobs.WithRewards(rm))
			verifyOpts = append(verifyOpts, verify.WithRewards(rm))
		}
	}
	factories := map[string]native.Factory{
		staking.Name:  staking.Factory(uint64(g.EpochLength)),
		credits.Name:  credits.New,
		registry.Name: registry.Factory(regStaking),
		jobs.Name:     jobs.Factory(regStaking, blockPeriodMs(g), jobOpts...),
		rewards.Name:  rewards.Factory(uint64(g.EpochLength), staking.RewardsView{}, positions...),
	}
	// The verification module runs on chains whose genesis params name it
	// (an entry "verify", {} for the defaults): its windows must fit the
	// chain's epochs, which short test epochs do not, and adding it to a
	// chain is a consensus change.
	if b, ok := g.ForkBlock(params.ForkVerifyPrune); ok {
		verifyOpts = append(verifyOpts, verify.WithPruneFrom(b))
	}
	if _, ok := g.Params[verify.Name]; ok {
		factories[verify.Name] = verify.Factory(regStaking.EpochLength, blockPeriodMs(g), verifyOpts...)
	}
	// The apps module (EMC Hub) runs on chains whose genesis params name it
	// ("apps", {} for the defaults): the dev genesis and `emcd testnet`.
	if _, ok := g.Params[apps.Name]; ok {
		factories[apps.Name] = apps.Factory(regStaking, blockPeriodMs(g), appOpts...)
	}
	return factories
}

// forkSchedule is g's fork schedule as plain numbers (emc_forks).
func forkSchedule(g *genesis.Genesis) map[string]uint64 {
	out := make(map[string]uint64, len(g.Forks))
	for name, b := range g.Forks {
		out[name] = uint64(b)
	}
	return out
}

// blockPeriodMs is g's target block period, the default when unset.
func blockPeriodMs(g *genesis.Genesis) uint64 {
	if g.BlockPeriodMs == 0 {
		return genesis.DefaultBlockPeriodMs
	}
	return uint64(g.BlockPeriodMs)
}

// Modules is the chain-native module registry of one chain.
type Modules struct {
	*native.Registry
}

func (m Modules) contracts() []jsonrpc.SystemContract {
	var out []jsonrpc.SystemContract
	for _, c := range m.SystemContracts() {
		out = append(out, jsonrpc.SystemContract{Name: c.Name, Address: c.Address, ABI: c.ABI})
	}
	return out
}

// rewards returns the rewards module, nil when the chain has none.
func (m Modules) rewards() *rewards.Module {
	mod, ok := m.Lookup(native.RewardsAddress)
	if !ok {
		return nil
	}
	r, _ := mod.(*rewards.Module)
	return r
}

// registry returns the compute registry module, nil when the chain has
// none.
func (m Modules) registry() *registry.Module {
	mod, ok := m.Lookup(native.RegistryAddress)
	if !ok {
		return nil
	}
	r, _ := mod.(*registry.Module)
	return r
}

// verify returns the verification module, nil when the chain has none.
func (m Modules) verify() *verify.Module {
	mod, ok := m.Lookup(native.VerifyAddress)
	if !ok {
		return nil
	}
	v, _ := mod.(*verify.Module)
	return v
}

// LoadModules builds the chain-native modules configured by g's params section.
func LoadModules(g *genesis.Genesis) (Modules, error) {
	r, err := native.Load(g.Params, moduleFactories(g))
	if err != nil {
		return Modules{}, fmt.Errorf("node: genesis params: %w", err)
	}
	// A genesis that seeds stakes must start with the set they elect; one
	// without (dev mode) keeps its fixed signers.
	if m, ok := r.Lookup(native.StakingAddress); ok {
		if sm, ok := m.(*staking.Module); ok {
			if err := sm.CheckGenesisValidators(g.Validators); err != nil {
				return Modules{}, fmt.Errorf("node: genesis validators: %w", err)
			}
		}
	}
	return Modules{r}, nil
}
