package state

import (
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethdb"

	"github.com/emc-network/emcd/consensus/cert"
)

// WriteCertificate stores the commit certificate of block (number, hash).
func WriteCertificate(db ethdb.KeyValueWriter, number uint64, hash common.Hash, c *cert.Certificate) error {
	b, err := c.Encode()
	if err != nil {
		return fmt.Errorf("encode certificate: %w", err)
	}
	return db.Put(certKey(number, hash), b)
}

// ReadCertificate loads the commit certificate of block (number, hash); nil
// without error when none is stored.
func ReadCertificate(db ethdb.KeyValueReader, number uint64, hash common.Hash) (*cert.Certificate, error) {
	b, err := db.Get(certKey(number, hash))
	if err != nil || len(b) == 0 {
		return nil, nil
	}
	return cert.DecodeCertificate(b)
}

func writeGenesisJSON(db ethdb.KeyValueWriter, data []byte) error {
	return db.Put(genesisJSONKey, data)
}

func readGenesisJSON(db ethdb.KeyValueReader) []byte {
	b, _ := db.Get(genesisJSONKey)
	return b
}

func writeSchemaVersion(db ethdb.KeyValueWriter) error {
	return db.Put(schemaVersionKey, binary.BigEndian.AppendUint64(nil, schemaVersion))
}

func readSchemaVersion(db ethdb.KeyValueReader) (uint64, bool) {
	b, err := db.Get(schemaVersionKey)
	if err != nil || len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}
