package state

import (
	"encoding/binary"

	"github.com/ethereum/go-ethereum/common"
)

// emcd keeps go-ethereum's rawdb key layout for headers, bodies, receipts,
// canonical hashes, the tx lookup index, head pointers, trie nodes and code.
// The keys below are emcd's own; every one starts with "emc-" so they cannot
// collide with rawdb's single-byte prefixes.
var (
	certPrefix       = []byte("emc-cert-")   // certPrefix + num (uint64 big endian) + hash -> RLP(cert.Certificate)
	genesisJSONKey   = []byte("emc-genesis") // genesisJSONKey -> genesis file bytes the chain was created from
	schemaVersionKey = []byte("emc-schema")  // schemaVersionKey -> uint64 big endian schema version
	stateSchemeKey   = []byte("emc-scheme")  // stateSchemeKey -> "path" or "hash"; absent: hash (stores made before schemes)
)

// go-ethereum rawdb prefixes that rawdb does not export, mirrored here only
// to classify keys in DBStats (rawdb's own layout; emcd never writes them
// directly).
var (
	rawdbHeaderPrefix       = []byte("h")                // h + num (uint64 big endian) + hash -> header; h + num + "n" -> canonical hash
	rawdbHeaderNumberPrefix = []byte("H")                // H + hash -> num (uint64 big endian)
	rawdbBodyPrefix         = []byte("b")                // b + num (uint64 big endian) + hash -> body
	rawdbReceiptsPrefix     = []byte("r")                // r + num (uint64 big endian) + hash -> receipts
	rawdbTxLookupPrefix     = []byte("l")                // l + tx hash -> block number
	rawdbStateIDPrefix      = []byte("L")                // L + state root -> path-scheme state id
	rawdbConfigPrefix       = []byte("ethereum-config-") // ethereum-config- + genesis hash -> chain config JSON
)

// schemaVersion is bumped on any incompatible change of the layout.
const schemaVersion = 1

func certKey(number uint64, hash common.Hash) []byte {
	k := make([]byte, 0, len(certPrefix)+8+common.HashLength)
	k = append(k, certPrefix...)
	k = binary.BigEndian.AppendUint64(k, number)
	return append(k, hash[:]...)
}
