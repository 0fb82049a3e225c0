package genesis

import (
	"math/big"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/params"
)

// DevTimestamp is the fixed timestamp of the dev genesis (2026-01-01 UTC).
const DevTimestamp = 1767225600

// Dev returns the fixed genesis of `emcd --dev`: chain id params.DevChainID,
// the dev signer as the only validator, and the mainnet supply table
// (FundDevTable) with the ten test-mnemonic accounts funded from it with
// DevAccountBalanceEMC each. The same binary always builds the
// same dev genesis, so a dev data dir reopens across restarts.
func Dev() *Genesis {
	g := &Genesis{
		ChainID:    params.DevChainID,
		Timestamp:  DevTimestamp,
		Validators: nil,
		Alloc:      types.GenesisAlloc{},
	}
	g.Validators = append(g.Validators, crypto.PubkeyToAddress(DevSignerKey().PublicKey))
	FundDevTable(g)
	FundDevAccounts(g)
	if err := g.Validate(); err != nil {
		panic(err) // constant input; covered by tests
	}
	return g
}

// FundDevAccounts adds the test-mnemonic accounts to g's alloc.
func FundDevAccounts(g *Genesis) {
	bal := new(big.Int).Mul(big.NewInt(DevAccountBalanceEMC), big.NewInt(params.EMC))
	for _, a := range DevAccounts() {
		g.Alloc[a] = types.Account{Balance: new(big.Int).Set(bal)}
	}
}
