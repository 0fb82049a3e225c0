package native

// EncodeRevert returns the ABI encoding of Error(reason), the revert data
// Solidity's revert("reason") produces; go-ethereum's abi.UnpackRevert
// decodes it.
func EncodeRevert(reason string) []byte {
	// Hand-rolled so it cannot fail: selector, offset 0x20, length, bytes
	// padded up to a whole word.
	n := len(reason)
	padded := (n + 31) / 32 * 32 // rounds up
	out := make([]byte, 4+32+32+padded)
	copy(out, []byte{0x08, 0xc3, 0x79, 0xa0}) // keccak256("Error(string)")[:4]
	out[4+31] = 0x20
	putUint64(out[4+32:4+64], uint64(n))
	copy(out[4+64:], reason)
	return out
}

// putUint64 writes v big-endian into the last 8 bytes of the 32-byte word w.
func putUint64(w []byte, v uint64) {
	for i := range 8 {
		w[31-i] = byte(v >> (8 * i))
	}
}
