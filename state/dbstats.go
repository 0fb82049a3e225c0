package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/pebble"
)

// Data categories of DBStats, in display order.
const (
	CatHeaders      = "headers"       // headers, canonical and hash->number maps
	CatBodies       = "bodies"        // block bodies (transactions)
	CatReceipts     = "receipts"      // receipts
	CatCertificates = "certificates"  // commit certificates
	CatTxIndex      = "tx_index"      // transaction hash -> block lookups
	CatStateTrie    = "state_trie"    // trie nodes (by path or by hash)
	CatStateFlat    = "state_flat"    // flat account and storage table (path scheme)
	CatCode         = "code"          // contract code
	CatHistory      = "history"       // state history files: reverse diffs of accounts and slots (path scheme, ancient/state)
	CatTrieHistory  = "trie_history"  // trie node history files, for proofs (path scheme, ancient/trienode)
	CatHistoryIndex = "history_index" // indexes over the history, state root -> id lookups
	CatMetadata     = "metadata"      // head pointers, genesis, config, journal of in-memory layers
	CatOther        = "other"         // keys of no known category
)

var dbCategories = []string{CatHeaders, CatBodies, CatReceipts, CatCertificates, CatTxIndex, CatStateTrie,
	CatStateFlat, CatCode, CatHistory, CatTrieHistory, CatHistoryIndex, CatMetadata, CatOther}

// DBCategory is the size of one data category.
type DBCategory struct {
	Name  string `json:"name"`
	Bytes uint64 `json:"bytes"` // key and value bytes (file bytes for history), before compression
	Items uint64 `json:"items"`
}

// DBStats is what `emcd db stats` prints.
type DBStats struct {
	Scheme     string       `json:"scheme"`
	Head       uint64       `json:"head"`
	Categories []DBCategory `json:"categories"`
	// LogicalBytes sums the categories; DiskBytes is what the store's
	// directory takes on disk (pebble compresses).
	LogicalBytes uint64 `json:"logical_bytes"`
	DiskBytes    uint64 `json:"disk_bytes"`
}

// ErrNoStore is returned by OpenStoreReadOnly for a directory that holds no
// store.
var ErrNoStore = errors.New("state: no chain data")

// OpenStoreReadOnly opens an existing store without changing it.
func OpenStoreReadOnly(dir string) (ethdb.Database, error) {
	// Read-only pebble would create nothing, but fail obscurely: check for
	// a manifest first.
	if m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*")); len(m) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoStore, dir)
	}
	kv, err := pebble.New(dir, 16, 64, "emcd/chaindata/", true)
	if err != nil {
		return nil, fmt.Errorf("open pebble store %s: %w", dir, err)
	}
	return &ancientDirDB{Database: rawdb.NewDatabase(kv), ancient: filepath.Join(dir, AncientDir)}, nil
}

// CollectDBStats walks every key of db (the store in dir) and the history
// files, and sizes each data category. It reads the whole store: seconds to
// minutes on a large one.
func CollectDBStats(db ethdb.Database, dir string) (*DBStats, error) {
	scheme, err := StoredScheme(db)
	if err != nil {
		return nil, err
	}
	st := &DBStats{Scheme: scheme}
	if h := rawdb.ReadHeadBlockHash(db); h != (common.Hash{}) {
		if n, ok := rawdb.ReadHeaderNumber(db, h); ok {
			st.Head = n
		}
	}
	cats := make(map[string]*DBCategory, len(dbCategories))
	for _, name := range dbCategories {
		cats[name] = &DBCategory{Name: name}
	}
	it := db.NewIterator(nil, nil)
	for it.Next() {
		key, size := it.Key(), uint64(len(it.Key())+len(it.Value()))
		c := cats[classifyKey(key, it.Value())]
		c.Bytes += size
		c.Items++
	}
	it.Release()
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("state: iterate store: %w", err)
	}
	ancient := filepath.Join(dir, AncientDir)
	err = filepath.WalkDir(ancient, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == ancient {
				return filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			cat := cats[CatHistory]
			if rel, _ := filepath.Rel(ancient, path); strings.HasPrefix(rel, rawdb.MerkleTrienodeFreezerName+string(filepath.Separator)) {
				cat = cats[CatTrieHistory]
			}
			cat.Bytes += uint64(info.Size())
			cat.Items++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: size history files: %w", err)
	}
	for _, name := range dbCategories {
		st.Categories = append(st.Categories, *cats[name])
		st.LogicalBytes += cats[name].Bytes
	}
	if st.DiskBytes, err = DirSize(dir); err != nil {
		return nil, err
	}
	return st, nil
}

// DirSize is the disk usage of the regular files under dir.
func DirSize(dir string) (uint64, error) {
	var total uint64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += uint64(info.Size())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("state: size %s: %w", dir, err)
	}
	return total, nil
}

// emcMetadataKeys are emcd's own singleton keys.
var emcMetadataKeys = [][]byte{genesisJSONKey, schemaVersionKey, stateSchemeKey}

// classifyKey names the category of one key (go-ethereum rawdb layout plus
// emcd's own keys, see schema.go).
func classifyKey(key, value []byte) string {
	const h = common.HashLength
	n := len(key)
	switch {
	case bytes.HasPrefix(key, certPrefix):
		return CatCertificates
	case slices.ContainsFunc(emcMetadataKeys, func(k []byte) bool { return bytes.Equal(k, key) }):
		return CatMetadata
	case bytes.HasPrefix(key, rawdbHeaderPrefix) && (n == 1+8+h || n == 1+8+1):
		return CatHeaders
	case bytes.HasPrefix(key, rawdbHeaderNumberPrefix) && n == 1+h:
		return CatHeaders
	case bytes.HasPrefix(key, rawdbBodyPrefix) && n == 1+8+h:
		return CatBodies
	case bytes.HasPrefix(key, rawdbReceiptsPrefix) && n == 1+8+h:
		return CatReceipts
	case bytes.HasPrefix(key, rawdbTxLookupPrefix) && n == 1+h:
		return CatTxIndex
	case rawdb.IsLegacyTrieNode(key, value), rawdb.IsAccountTrieNode(key), rawdb.IsStorageTrieNode(key):
		return CatStateTrie
	case bytes.HasPrefix(key, rawdb.SnapshotAccountPrefix) && n == 1+h,
		bytes.HasPrefix(key, rawdb.SnapshotStoragePrefix) && n == 1+2*h:
		return CatStateFlat
	case bytes.HasPrefix(key, rawdb.CodePrefix) && n == 1+h:
		return CatCode
	case bytes.HasPrefix(key, rawdbStateIDPrefix) && n == 1+h,
		bytes.HasPrefix(key, rawdb.StateHistoryIndexPrefix) && n > 1+h:
		return CatHistoryIndex
	case bytes.HasPrefix(key, rawdbConfigPrefix) && n == len(rawdbConfigPrefix)+h:
		return CatMetadata
	case n < 64 && isPrintable(key):
		// rawdb's singleton keys (LastBlock, TrieJournal, ...) and config.
		return CatMetadata
	}
	return CatOther
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
