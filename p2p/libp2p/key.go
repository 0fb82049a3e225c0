package libp2p

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// ErrBadNodeKey is returned by LoadOrCreateKey when the key file exists but
// does not hold a valid key.
var ErrBadNodeKey = errors.New("libp2p: node key file is corrupt")

// maxKeyFile bounds the node key file we read.
const maxKeyFile = 4 << 10

// LoadOrCreateKey loads the node identity key from path, creating an Ed25519
// key (file mode 0600) on first use. The file holds the libp2p protobuf
// encoding of the private key.
func LoadOrCreateKey(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(data) > maxKeyFile {
			return nil, fmt.Errorf("%w: %s: %d bytes", ErrBadNodeKey, path, len(data))
		}
		key, err := crypto.UnmarshalPrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v (delete it to get a new peer identity)", ErrBadNodeKey, path, err)
		}
		return key, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("libp2p: read node key: %w", err)
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, fmt.Errorf("libp2p: generate node key: %w", err)
	}
	data, err = crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("libp2p: encode node key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("libp2p: node key dir: %w", err)
	}
	// Write to a temporary file and rename, so a crash never leaves a
	// half-written key behind.
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("libp2p: create node key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("libp2p: write node key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("libp2p: sync node key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("libp2p: close node key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("libp2p: install node key: %w", err)
	}
	return key, nil
}
