package node

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"

	"github.com/emc-network/emcd/config"
)

// ErrNoValidatorKey is returned when a validator's keystore holds no key.
var ErrNoValidatorKey = errors.New("node: no validator key in the keystore")

// LoadValidatorKey decrypts the first account of DATADIR/keystore with the
// password in passwordFile (first line). It is the key a validator signs
// consensus messages and commit seals with.
func LoadValidatorKey(dd *config.DataDir, passwordFile string) (*ecdsa.PrivateKey, error) {
	ks := keystore.NewKeyStore(dd.Keystore(), keystore.StandardScryptN, keystore.StandardScryptP)
	accts := ks.Accounts()
	if len(accts) == 0 {
		return nil, fmt.Errorf("%w %s: create one with `emcd account new --datadir %s`", ErrNoValidatorKey, dd.Keystore(), dd.Path)
	}
	if passwordFile == "" {
		return nil, fmt.Errorf("node: --password FILE is required to unlock validator key %s", accts[0].Address.Hex())
	}
	data, err := os.ReadFile(passwordFile)
	if err != nil {
		return nil, fmt.Errorf("node: read password file: %w", err)
	}
	pw, _, _ := strings.Cut(string(data), "\n")
	keyJSON, err := os.ReadFile(accts[0].URL.Path)
	if err != nil {
		return nil, fmt.Errorf("node: read key file: %w", err)
	}
	key, err := keystore.DecryptKey(keyJSON, strings.TrimRight(pw, "\r"))
	if err != nil {
		return nil, fmt.Errorf("node: unlock validator key %s: %w", accts[0].Address.Hex(), err)
	}
	return key.PrivateKey, nil
}
