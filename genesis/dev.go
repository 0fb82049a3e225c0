package genesis

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/params"
)

// DevTimestamp is the fixed timestamp of the dev genesis (2026-01-01 UTC).
const DevTimestamp = 1767225600

// DevRouterStakeEMC is the dev router's genesis stake: the default
// staking params' router minimum.
const DevRouterStakeEMC = 100_000

// DevNodeGasEMC is what the dev router and the dev compute owner hold at
// genesis for their gas.
const DevNodeGasEMC = 1_000

// Dev returns the fixed genesis of `emcd --dev`: chain id params.DevChainID,
// the dev signer as the only validator, and the mainnet supply table
// (FundDevTable) with the ten test-mnemonic accounts funded from it with
// DevAccountBalanceEMC each, and simulated GPUs allowed in the compute
// registry. The dev node's own accounts (DevRouterKey, DevComputeKey) hold
// DevNodeGasEMC each, and the router a router stake of DevRouterStakeEMC
// in effect from the first block, so that the one dev node routes and
// runs jobs without touching the test-mnemonic accounts. The same binary
// always builds the same dev genesis, so a dev data dir reopens across
// restarts.
func Dev() *Genesis {
	router := crypto.PubkeyToAddress(DevRouterKey().PublicKey)
	g := &Genesis{
		ChainID:    params.DevChainID,
		Timestamp:  DevTimestamp,
		Validators: nil,
		Alloc:      types.GenesisAlloc{},
		Params: map[string]json.RawMessage{
			"registry": DevRegistryParams(),
			"apps":     json.RawMessage(`{}`),
			"staking": json.RawMessage(fmt.Sprintf(`{"genesisStakes":[{"owner":"%s","role":1,"amountWei":"%s"}]}`,
				router.Hex(), new(big.Int).Mul(big.NewInt(DevRouterStakeEMC), big.NewInt(params.EMC)))),
		},
	}
	g.Validators = append(g.Validators, crypto.PubkeyToAddress(DevSignerKey().PublicKey))
	g.ScheduleAllForks()
	FundDevTable(g)
	FundDevAccounts(g)
	gas := new(big.Int).Mul(big.NewInt(DevNodeGasEMC), big.NewInt(params.EMC))
	for _, k := range []*ecdsa.PrivateKey{DevRouterKey(), DevComputeKey()} {
		g.Alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: new(big.Int).Set(gas)}
	}
	if err := g.Validate(); err != nil {
		panic(err) // constant input; covered by tests
	}
	return g
}

// DevRegistryParams are the compute registry's params on dev and testnet
// chains: simulated GPUs may register (the registry module's
// allowSimulatedGPUs; production chains leave it false).
func DevRegistryParams() json.RawMessage {
	return json.RawMessage(`{"allowSimulatedGPUs":true}`)
}

// FundDevAccounts adds the test-mnemonic accounts to g's alloc.
func FundDevAccounts(g *Genesis) {
	bal := new(big.Int).Mul(big.NewInt(DevAccountBalanceEMC), big.NewInt(params.EMC))
	for _, a := range DevAccounts() {
		g.Alloc[a] = types.Account{Balance: new(big.Int).Set(bal)}
	}
}
