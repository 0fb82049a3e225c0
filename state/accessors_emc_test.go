package state

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/ethdb"

	"github.com/emc-network/emcd/consensus/cert"
)

var errDisk = errors.New("disk on fire")

// failingReader fails every read, as a store with a broken disk does.
type failingReader struct{ ethdb.KeyValueReader }

func (failingReader) Has([]byte) (bool, error)   { return false, errDisk }
func (failingReader) Get([]byte) ([]byte, error) { return nil, errDisk }

// The emcd accessors tell "absent" (nil, nil) from a failing store (an
// error), which callers must not mistake for a missing certificate or an
// empty data dir.
func TestAccessorsReturnStoreErrors(t *testing.T) {
	db := rawdb.NewMemoryDatabase()
	hash := common.HexToHash("0x01")

	if c, err := ReadCertificate(db, 1, hash); c != nil || err != nil {
		t.Fatalf("absent certificate: got %v, %v; want nil, nil", c, err)
	}
	want := &cert.Certificate{Round: 3}
	if err := WriteCertificate(db, 1, hash, want); err != nil {
		t.Fatal(err)
	}
	if c, err := ReadCertificate(db, 1, hash); err != nil || c == nil || c.Round != 3 {
		t.Fatalf("stored certificate: got %v, %v", c, err)
	}
	if err := db.Put(certKey(2, hash), []byte{0xff, 0x00}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCertificate(db, 2, hash); err == nil {
		t.Fatal("corrupt certificate decoded without error")
	}

	bad := failingReader{db}
	if _, err := ReadCertificate(bad, 1, hash); !errors.Is(err, errDisk) {
		t.Fatalf("ReadCertificate on a failing store: %v, want %v", err, errDisk)
	}
	if _, err := readGenesisJSON(bad); !errors.Is(err, errDisk) {
		t.Fatalf("readGenesisJSON on a failing store: %v", err)
	}
	if _, _, err := readSchemaVersion(bad); !errors.Is(err, errDisk) {
		t.Fatalf("readSchemaVersion on a failing store: %v", err)
	}
	if _, err := StoredGenesis(bad); !errors.Is(err, errDisk) {
		t.Fatalf("StoredGenesis on a failing store: %v", err)
	}
	if g, err := StoredGenesis(db); g != nil || err != nil {
		t.Fatalf("StoredGenesis of an empty store: %v, %v", g, err)
	}
}
