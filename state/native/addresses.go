package native

import "github.com/ethereum/go-ethereum/common"

// Reserved module addresses. This is the one table of chain-native module
// addresses; a new module takes the next free entry and never reuses one.
// The values are fixed by consensus: treat them as constants and never
// assign to them.
//
//	address                                     module    status
//	0x0000000000000000000000000000000000001000  staking   live
//	0x0000000000000000000000000000000000001001  registry  live (compute node and router registry)
//	0x0000000000000000000000000000000000001002  jobs      live (compute jobs, escrow and settlement)
//	0x0000000000000000000000000000000000001003  credits   reserved (compute credits)
//	0x0000000000000000000000000000000000001004  rewards   reserved (block and compute rewards)
//	0x0000000000000000000000000000000000001005  supply    live (burn ledger; an account, not a module)
//	0x0000000000000000000000000000000000001006  verify    live (proof-of-work challenges of compute nodes)
//	0x0000000000000000000000000000000000001007  apps      live (EMC Hub apps, instances, leases, metered usage)
var (
	StakingAddress  = common.HexToAddress("0x0000000000000000000000000000000000001000")
	RegistryAddress = common.HexToAddress("0x0000000000000000000000000000000000001001")
	JobsAddress     = common.HexToAddress("0x0000000000000000000000000000000000001002")
	CreditsAddress  = common.HexToAddress("0x0000000000000000000000000000000000001003")
	RewardsAddress  = common.HexToAddress("0x0000000000000000000000000000000000001004")
	SupplyAddress   = common.HexToAddress("0x0000000000000000000000000000000000001005")
	VerifyAddress   = common.HexToAddress("0x0000000000000000000000000000000000001006")
	AppsAddress     = common.HexToAddress("0x0000000000000000000000000000000000001007")
)

// The reserved range is [firstReserved, lastReserved]: 256 addresses, well
// clear of Ethereum's precompiles (0x01–0x11 and 0x100 up to Osaka).
const (
	firstReserved = 0x1000
	lastReserved  = 0x10ff
)

// IsReserved reports whether addr lies in the range reserved for chain-native
// modules, whether or not a module is registered there.
func IsReserved(addr common.Address) bool {
	for _, b := range addr[:18] {
		if b != 0 {
			return false
		}
	}
	n := uint16(addr[18])<<8 | uint16(addr[19])
	return n >= firstReserved && n <= lastReserved
}
