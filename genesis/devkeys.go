package genesis

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// TestMnemonic is the well-known mnemonic of the funded dev accounts (the same
// as anvil's and hardhat's). Its keys are public: never hold real value with them.
const TestMnemonic = "test test test test test test test test test test test junk"

// DevAccountCount is the number of test-mnemonic accounts funded in dev mode.
const DevAccountCount = 10

// DevAccountBalanceEMC is what each dev account holds at genesis.
const DevAccountBalanceEMC = 10_000

// devSignerSeed derives the fixed dev-mode block signer. Public, insecure.
const devSignerSeed = "emcd dev signer (public key, insecure, dev mode only)"

// devRouterSeed and devComputeSeed derive the dev node's router and
// compute owner accounts. Public, insecure.
const (
	devRouterSeed  = "emcd dev router (public key, insecure, dev mode only)"
	devComputeSeed = "emcd dev compute owner (public key, insecure, dev mode only)"
)

// DevSignerKey returns the fixed key that seals dev-mode blocks.
func DevSignerKey() *ecdsa.PrivateKey { return seedKey(devSignerSeed) }

// DevRouterKey returns the fixed key of the dev node's router account: it
// holds a router stake from the dev genesis and assigns the dev chain's
// jobs.
func DevRouterKey() *ecdsa.PrivateKey { return seedKey(devRouterSeed) }

// DevComputeKey returns the fixed key of the dev node's own wallet: the
// owner of its compute node, which accepts and reports jobs and is paid
// for them.
func DevComputeKey() *ecdsa.PrivateKey { return seedKey(devComputeSeed) }

func seedKey(seed string) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte(seed)))
	if err != nil {
		panic(fmt.Sprintf("genesis: dev key %q: %v", seed, err)) // a constant input; cannot fail
	}
	return k
}

// DevAccountKeys returns the first n keys of TestMnemonic on the path
// m/44'/60'/0'/0/i (BIP-39 seed, BIP-32 derivation).
func DevAccountKeys(n int) ([]*ecdsa.PrivateKey, error) {
	seed, err := pbkdf2.Key(sha512.New, TestMnemonic, []byte("mnemonic"), 2048, 64)
	if err != nil {
		return nil, fmt.Errorf("genesis: bip39 seed: %w", err)
	}
	const hardened = 0x80000000
	base, err := derivePath(seed, []uint32{44 + hardened, 60 + hardened, 0 + hardened, 0})
	if err != nil {
		return nil, err
	}
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		k, err := deriveChild(base, uint32(i))
		if err != nil {
			return nil, err
		}
		if keys[i], err = crypto.ToECDSA(k.key); err != nil {
			return nil, fmt.Errorf("genesis: dev key %d: %w", i, err)
		}
	}
	return keys, nil
}

// DevAccounts returns the addresses of DevAccountKeys(DevAccountCount).
func DevAccounts() []common.Address {
	keys, err := DevAccountKeys(DevAccountCount)
	if err != nil {
		panic(err) // constant input; covered by tests
	}
	out := make([]common.Address, len(keys))
	for i, k := range keys {
		out[i] = crypto.PubkeyToAddress(k.PublicKey)
	}
	return out
}

type extKey struct {
	key   []byte // 32-byte private key
	chain []byte // 32-byte chain code
}

func derivePath(seed []byte, path []uint32) (extKey, error) {
	mac := hmac.New(sha512.New, []byte("Bitcoin seed"))
	mac.Write(seed)
	sum := mac.Sum(nil)
	k := extKey{key: sum[:32], chain: sum[32:]}
	for _, idx := range path {
		var err error
		if k, err = deriveChild(k, idx); err != nil {
			return extKey{}, err
		}
	}
	return k, nil
}

// deriveChild is BIP-32 CKDpriv.
func deriveChild(parent extKey, index uint32) (extKey, error) {
	mac := hmac.New(sha512.New, parent.chain)
	if index >= 0x80000000 {
		mac.Write([]byte{0})
		mac.Write(parent.key)
	} else {
		priv, err := crypto.ToECDSA(parent.key)
		if err != nil {
			return extKey{}, fmt.Errorf("genesis: bip32: %w", err)
		}
		mac.Write(crypto.CompressPubkey(&priv.PublicKey))
	}
	var ib [4]byte
	binary.BigEndian.PutUint32(ib[:], index)
	mac.Write(ib[:])
	sum := mac.Sum(nil)
	n := crypto.S256().Params().N
	il := new(big.Int).SetBytes(sum[:32])
	if il.Cmp(n) >= 0 {
		return extKey{}, errors.New("genesis: bip32: invalid child (IL >= n)")
	}
	child := il.Add(il, new(big.Int).SetBytes(parent.key))
	child.Mod(child, n)
	if child.Sign() == 0 {
		return extKey{}, errors.New("genesis: bip32: invalid child (zero key)")
	}
	return extKey{key: common.LeftPadBytes(child.Bytes(), 32), chain: sum[32:]}, nil
}
