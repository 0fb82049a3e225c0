// Package genesis owns the genesis file: its JSON format, validation with
// defaults (Validate), loading (FromJSON, FromFile), the go-ethereum chain
// configuration it implies (ChainConfig), the supply table (table.go: the
// total supply, the reward pools, the ecosystem account, FundDevTable) and
// the fixed dev genesis (Dev).
//
// The genesis block itself is built and committed by the state package,
// which adds the accounts of the chain-native modules to Alloc, credits the
// Reserve with the rest of the table, and refuses balances that do not add
// up to TotalSupplyWei.
package genesis
