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

// schemaVersion is bumped on any incompatible change of the layout.
const schemaVersion = 1

func certKey(number uint64, hash common.Hash) []byte {
	k := make([]byte, 0, len(certPrefix)+8+common.HashLength)
	k = append(k, certPrefix...)
	k = binary.BigEndian.AppendUint64(k, number)
	return append(k, hash[:]...)
}
