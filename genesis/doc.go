// Package genesis owns the genesis file: its JSON format, validation with
// defaults (Validate), loading (FromJSON, FromFile), the go-ethereum chain
// configuration it implies (ChainConfig) and the fixed dev genesis (Dev).
//
// The genesis block itself is built and committed by the state package,
// which adds the accounts of the chain-native modules to Alloc.
package genesis
