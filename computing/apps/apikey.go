package apps

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// API keys. The owner of an instance gets a key at deploy time, made on
// their own machine ([NewAPIKey]); only its hash ([APIKeyHash]) goes on
// chain (deploy's apiKeyHash), and callers send the key as
// "Authorization: Bearer KEY" to the router, which compares the hash.

// APIKeyPrefix starts every key [NewAPIKey] makes.
const APIKeyPrefix = "emck_"

// NewAPIKey returns a fresh key: APIKeyPrefix and 32 random bytes in hex.
func NewAPIKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("apps: api key: %w", err)
	}
	return APIKeyPrefix + hex.EncodeToString(b[:]), nil
}

// APIKeyHash is the on-chain hash of key: keccak256 of its bytes, after
// trimming surrounding spaces (as a Bearer header is read).
func APIKeyHash(key string) common.Hash {
	return crypto.Keccak256Hash([]byte(strings.TrimSpace(key)))
}
