package genesis

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/params"
)

// The genesis supply table (EMC white paper; docs/economics.md "Genesis
// supply"). Mainnet, dev and testnet genesis all keep it, so what a
// developer sees is what mainnet does.
const (
	// TotalSupplyEMC is the whole supply: fixed at genesis, never minted.
	TotalSupplyEMC = 1_000_000_000
	// The four reward pools, held by the rewards module (params "rewards":
	// nodeRewardsWei, tradeRewardsWei, stakingWei, longTermStakingWei).
	NodeRewardsPoolEMC     = 100_000_000
	TradeRewardsPoolEMC    = 200_000_000
	StakingPoolEMC         = 20_000_000
	LongTermStakingPoolEMC = 50_000_000
	// EcosystemEMC is the ecosystem account's genesis balance.
	EcosystemEMC = 150_000_000
)

// Indexes on the test mnemonic's path (m/44'/60'/0'/0/i) of the dev and
// testnet table accounts, right after the ten funded dev accounts. Their
// keys are public like every test-mnemonic key: dev and testnet only.
const (
	DevEcosystemIndex = DevAccountCount     // 10
	DevReserveIndex   = DevAccountCount + 1 // 11
)

// DefaultTotalSupplyWei returns TotalSupplyEMC in wei (10^27).
func DefaultTotalSupplyWei() *big.Int { return emcWei(TotalSupplyEMC) }

// Pools are the four reward pools' genesis balances in wei.
type Pools struct {
	NodeRewardsWei     *big.Int
	TradeRewardsWei    *big.Int
	StakingWei         *big.Int
	LongTermStakingWei *big.Int
}

// DefaultPools returns the white paper's pools: 100M node rewards, 200M
// compute-trade rewards, 20M staking rewards, 50M long-term staking.
func DefaultPools() Pools {
	return Pools{
		NodeRewardsWei:     emcWei(NodeRewardsPoolEMC),
		TradeRewardsWei:    emcWei(TradeRewardsPoolEMC),
		StakingWei:         emcWei(StakingPoolEMC),
		LongTermStakingWei: emcWei(LongTermStakingPoolEMC),
	}
}

// Total returns the sum of the four pools.
func (p Pools) Total() *big.Int {
	sum := new(big.Int)
	for _, v := range []*big.Int{p.NodeRewardsWei, p.TradeRewardsWei, p.StakingWei, p.LongTermStakingWei} {
		if v != nil {
			sum.Add(sum, v)
		}
	}
	return sum
}

// DefaultPoolsWei returns the default pools' sum: 370,000,000 EMC in wei.
func DefaultPoolsWei() *big.Int { return DefaultPools().Total() }

// DevTableAccounts returns the dev and testnet ecosystem and reserve
// accounts: test-mnemonic accounts DevEcosystemIndex and DevReserveIndex.
func DevTableAccounts() (ecosystem, reserve common.Address) {
	keys, err := DevAccountKeys(DevReserveIndex + 1)
	if err != nil {
		panic(err) // constant input; covered by tests
	}
	return crypto.PubkeyToAddress(keys[DevEcosystemIndex].PublicKey), crypto.PubkeyToAddress(keys[DevReserveIndex].PublicKey)
}

// FundDevTable gives g the dev and testnet table: the ecosystem account
// EcosystemEMC and the reserve account the rest, that is the total supply
// less g's alloc and the modules' genesis balances (the reward pools and
// any genesis stakes), computed when the chain builds the genesis state.
// Accounts the caller funds come out of the reserve.
func FundDevTable(g *Genesis) {
	eco, res := DevTableAccounts()
	g.Alloc[eco] = types.Account{Balance: emcWei(EcosystemEMC)}
	g.Reserve = &res
	if g.TotalSupplyWei == nil {
		g.TotalSupplyWei = (*math.HexOrDecimal256)(DefaultTotalSupplyWei())
	}
}

func emcWei(emc int64) *big.Int {
	return new(big.Int).Mul(big.NewInt(emc), big.NewInt(params.EMC))
}
