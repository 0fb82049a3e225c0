package state

import (
	"fmt"

	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/pebble"
)

// Store cache and file-handle budgets for pebble.
const (
	storeCacheMB = 256
	storeHandles = 512
)

// OpenStore opens (creating if needed) the pebble database in dir.
func OpenStore(dir string) (ethdb.Database, error) {
	kv, err := pebble.New(dir, storeCacheMB, storeHandles, "emcd/chaindata/", false)
	if err != nil {
		return nil, fmt.Errorf("open pebble store %s: %w", dir, err)
	}
	return rawdb.NewDatabase(kv), nil
}

// OpenMemoryStore returns an in-memory database for tests.
func OpenMemoryStore() ethdb.Database { return rawdb.NewMemoryDatabase() }

// syncStore flushes pebble's write-ahead log to disk when the store supports it.
func syncStore(db ethdb.Database) error {
	if s, ok := db.(ethdb.KeyValueSyncer); ok {
		if err := s.SyncKeyValue(); err != nil {
			return fmt.Errorf("sync store: %w", err)
		}
	}
	return nil
}
