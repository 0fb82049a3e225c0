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
// without error when none is stored, an error when the store fails or the
// stored bytes do not decode.
func ReadCertificate(db ethdb.KeyValueReader, number uint64, hash common.Hash) (*cert.Certificate, error) {
	b, err := get(db, certKey(number, hash))
	if err != nil || b == nil {
		return nil, err
	}
	c, err := cert.DecodeCertificate(b)
	if err != nil {
		return nil, fmt.Errorf("state: stored certificate of block %d %s: %w", number, hash, err)
	}
	return c, nil
}

func writeGenesisJSON(db ethdb.KeyValueWriter, data []byte) error {
	return db.Put(genesisJSONKey, data)
}

// readGenesisJSON returns the stored genesis file, nil when the store has
// none.
func readGenesisJSON(db ethdb.KeyValueReader) ([]byte, error) {
	return get(db, genesisJSONKey)
}

func writeSchemaVersion(db ethdb.KeyValueWriter) error {
	return db.Put(schemaVersionKey, binary.BigEndian.AppendUint64(nil, schemaVersion))
}

// readSchemaVersion returns the stored schema version; ok is false when
// none is stored.
func readSchemaVersion(db ethdb.KeyValueReader) (v uint64, ok bool, err error) {
	b, err := get(db, schemaVersionKey)
	if err != nil || b == nil {
		return 0, false, err
	}
	if len(b) != 8 {
		return 0, false, fmt.Errorf("state: stored schema version is %d bytes, want 8", len(b))
	}
	return binary.BigEndian.Uint64(b), true, nil
}

// get reads key: (nil, nil) when it is absent, an error when the store
// fails. ethdb has no common not-found error across backends, so absence is
// asked with Has (a failing Has is an I/O error, not absence).
func get(db ethdb.KeyValueReader, key []byte) ([]byte, error) {
	ok, err := db.Has(key)
	if err != nil {
		return nil, fmt.Errorf("state: read %q: %w", key, err)
	}
	if !ok {
		return nil, nil
	}
	b, err := db.Get(key)
	if err != nil {
		return nil, fmt.Errorf("state: read %q: %w", key, err)
	}
	return b, nil
}

func writeStateScheme(db ethdb.KeyValueWriter, scheme string) error {
	return db.Put(stateSchemeKey, []byte(scheme))
}

// readStateScheme returns the recorded state scheme, "" when none is
// recorded.
func readStateScheme(db ethdb.KeyValueReader) (string, error) {
	b, err := get(db, stateSchemeKey)
	return string(b), err
}
