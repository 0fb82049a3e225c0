package native

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"
)

// StateReader is the read-only view of state that module accessors need;
// *state.StateDB and vm.StateDB both satisfy it.
type StateReader interface {
	GetState(addr common.Address, key common.Hash) common.Hash
	GetBalance(addr common.Address) *uint256.Int
}

// Slot returns the storage key of the plain variable at slot n.
func Slot(n uint64) common.Hash {
	return common.BigToHash(new(uint256.Int).SetUint64(n).ToBig())
}

// MapSlot returns the storage key of entry key of the mapping at slot p:
// keccak256(key ‖ p), both 32 bytes, as Solidity lays out mapping(k => v)
// for value-type keys (addresses are left-padded to 32 bytes).
func MapSlot(p, key common.Hash) common.Hash {
	return crypto.Keccak256Hash(key[:], p[:])
}

// AddressKey left-pads an address to a 32-byte mapping key.
func AddressKey(a common.Address) common.Hash {
	return common.BytesToHash(a[:])
}

// ArraySlot returns the storage key of element i of the dynamic array whose
// length is stored at slot p: keccak256(p) + i, as Solidity lays out T[] for
// 32-byte elements. The addition wraps modulo 2^256, as in Solidity.
func ArraySlot(p common.Hash, i uint64) common.Hash {
	base := new(uint256.Int).SetBytes32(crypto.Keccak256(p[:]))
	base.Add(base, new(uint256.Int).SetUint64(i))
	return base.Bytes32()
}

// LoadUint reads the uint256 stored at key of addr.
func LoadUint(s StateReader, addr common.Address, key common.Hash) *uint256.Int {
	v := s.GetState(addr, key)
	return new(uint256.Int).SetBytes32(v[:])
}
