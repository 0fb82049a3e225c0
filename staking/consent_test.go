package staking_test

// Signer consent (consent.go): setSigner(signer, signature) needs the
// signer key's signature over (chain id, module, owner, signer, nonce);
// each case is an attacker move against it.

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/emc-network/emcd/staking"
)

// secp256k1N is the curve order.
var secp256k1N = crypto.S256().Params().N

// malleate returns the other valid-looking form of sig: S' = N − S, V
// flipped. Both recover the same key; the module takes only the low-S one.
func malleate(sig []byte) []byte {
	out := append([]byte(nil), sig...)
	s := new(big.Int).SetBytes(sig[32:64])
	new(big.Int).Sub(secp256k1N, s).FillBytes(out[32:64])
	out[64] ^= 1
	return out
}

func TestSetSignerConsent(t *testing.T) {
	f := newFixture(t, "")
	f.at(1, 0)
	f.mustSend(alice, emc(1_000_000), "stake", validator, lockNone)
	f.mustSend(bob, emc(1_000_000), "stake", validator, lockNone)
	if n := f.view("signerNonce", dave)[0].(uint64); n != 0 {
		t.Fatalf("fresh signer nonce %d", n)
	}

	// Refused forms of dave's consent to alice; nothing changes.
	good := f.consent(alice, daveKey)
	short, long, badV := good[:64], append(append([]byte{}, good...), 0), append([]byte{}, good...)
	badV[64] = 2
	zeroR := append([]byte{}, good...)
	clear(zeroR[:32])
	otherChain, err := staking.SignSignerConsent(daveKey, big.NewInt(4242), alice, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		from common.Address
		sig  []byte
		want error
	}{
		{"empty", alice, []byte{}, staking.ErrBadSignature},
		{"64 bytes", alice, short, staking.ErrBadSignature},
		{"66 bytes", alice, long, staking.ErrBadSignature},
		{"V = 2", alice, badV, staking.ErrBadSignature},
		{"R = 0", alice, zeroR, staking.ErrBadSignature},
		{"high S (malleated)", alice, malleate(good), staking.ErrBadSignature},
		{"signed by another key", alice, f.consent(alice, carolKey), staking.ErrNoConsent},
		{"alice's consent sent by bob", bob, good, staking.ErrNoConsent},
		{"another chain's consent", alice, otherChain, staking.ErrNoConsent},
		{"a consent for the next nonce", alice, f.consentAt(alice, daveKey, 1), staking.ErrNoConsent},
	} {
		f.mustRevert(tc.from, nil, tc.want, "setSigner", dave, tc.sig)
		if p := staking.PositionOf(f.State, tc.from); p.Signer != tc.from {
			t.Fatalf("%s: signer became %s", tc.name, p.Signer)
		}
	}
	if _, ok := staking.SignerOwner(f.State, dave); ok || staking.SignerNonce(f.State, dave) != 0 {
		t.Fatal("a refused consent claimed dave or moved his nonce")
	}

	// The genuine consent, V as 27/28: accepted at the declared gas; the
	// nonce moves on.
	v27 := append([]byte{}, good...)
	v27[64] += 27
	data := f.pack("setSigner", dave, v27)
	res, logs := f.Apply(f.Msg(alice, &stakingAddr, nil, data))
	if res.Err != nil {
		t.Fatalf("setSigner: %v", res.Err)
	}
	if want := declared(data, staking.SetSignerGas); res.UsedGas != want {
		t.Errorf("gas used %d, want %d", res.UsedGas, want)
	}
	if len(logs) != 1 || logs[0].Topics[2] != common.BytesToHash(dave[:]) {
		t.Fatalf("SignerSet logs %+v", logs)
	}
	if p := staking.PositionOf(f.State, alice); p.Signer != dave || f.view("signerNonce", dave)[0].(uint64) != 1 {
		t.Fatalf("after the claim: signer %s, nonce %d", p.Signer, staking.SignerNonce(f.State, dave))
	}

	// Replays: the used consent (either V form) again, even after alice
	// released dave, is refused; so is it for bob.
	f.mustRevert(alice, nil, staking.ErrNoConsent, "setSigner", dave, good)
	f.mustSend(alice, nil, "setSigner", alice, []byte{})
	if staking.SignerNonce(f.State, dave) != 1 {
		t.Fatal("clearing moved the signer's nonce")
	}
	f.mustRevert(alice, nil, staking.ErrNoConsent, "setSigner", dave, v27)
	f.mustRevert(bob, nil, staking.ErrNoConsent, "setSigner", dave, good)

	// A consent given to two owners is good for the first claim only: bob
	// uses his, alice's lapses.
	forAlice, forBob := f.consent(alice, daveKey), f.consent(bob, daveKey)
	f.mustSend(bob, nil, "setSigner", dave, forBob)
	f.mustRevert(alice, nil, staking.ErrSignerTaken, "setSigner", dave, forAlice)
	f.mustSend(bob, nil, "setSigner", bob, []byte{})
	f.mustRevert(alice, nil, staking.ErrNoConsent, "setSigner", dave, forAlice)
	f.setSigner(alice, daveKey) // a fresh consent at nonce 2
	if p := staking.PositionOf(f.State, alice); p.Signer != dave || staking.SignerNonce(f.State, dave) != 3 {
		t.Fatalf("fresh consent: signer %s nonce %d", p.Signer, staking.SignerNonce(f.State, dave))
	}
}

// TestSquatRefused is the defect the consent closes: mallory, a staked
// validator, cannot claim the consensus key of an operator that has not
// staked yet, so she neither takes its rewards nor blocks it.
func TestSquatRefused(t *testing.T) {
	f := newFixture(t, "")
	mallory, opKey := carol, testKey(t, 30)
	op := keyAddr(opKey)
	f.mustSend(mallory, emc(1_000_000), "stake", validator, lockNone)
	for _, sig := range [][]byte{{}, make([]byte, 65), f.consent(mallory, carolKey), f.consent(dave, opKey)} {
		f.mustRevert(mallory, nil, errAny{}, "setSigner", op, sig)
	}
	if _, ok := staking.SignerOwner(f.State, op); ok {
		t.Fatal("mallory claimed the operator's key")
	}
	// The operator's real owner gets its consent and claims it.
	f.mustSend(dave, emc(1_000_000), "stake", validator, lockNone)
	f.setSigner(dave, opKey)
	if o, ok := staking.SignerOwner(f.State, op); !ok || o != dave {
		t.Fatalf("SignerOwner(op) = %s %t", o, ok)
	}
}

// errAny matches any revert reason in mustRevert (every reason has the
// empty prefix).
type errAny struct{}

func (errAny) Error() string { return "" }

// TestVerifySignerConsent pins the Go helpers against each other and the
// digest's layout.
func TestVerifySignerConsent(t *testing.T) {
	id := big.NewInt(1337)
	sig, err := staking.SignSignerConsent(daveKey, id, alice, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := staking.VerifySignerConsent(id, alice, dave, 5, sig); err != nil {
		t.Fatalf("own signature refused: %v", err)
	}
	pre := append([]byte("emcd:setSigner"), common.LeftPadBytes(id.Bytes(), 32)...)
	pre = append(pre, stakingAddr[:]...)
	pre = append(pre, alice[:]...)
	pre = append(pre, dave[:]...)
	pre = append(pre, 0, 0, 0, 0, 0, 0, 0, 5)
	if d, err := staking.SignerConsentDigest(id, alice, dave, 5); err != nil || d != crypto.Keccak256Hash(pre) {
		t.Fatalf("digest %x %v, want keccak256 of the documented preimage", d, err)
	}
	for _, bad := range []*big.Int{nil, big.NewInt(0), big.NewInt(-1), new(big.Int).Lsh(big.NewInt(1), 256)} {
		if _, err := staking.SignerConsentDigest(bad, alice, dave, 0); err == nil {
			t.Errorf("chain id %v accepted", bad)
		}
	}
	if err := staking.VerifySignerConsent(id, alice, dave, 6, sig); !errors.Is(err, staking.ErrNoConsent) {
		t.Errorf("other nonce: %v", err)
	}
	if err := staking.VerifySignerConsent(id, alice, dave, 5, malleate(sig)); !errors.Is(err, staking.ErrBadSignature) {
		t.Errorf("high S: %v", err)
	}
	if _, err := staking.SetSignerData(dave, sig); err != nil {
		t.Fatal(err)
	}
}
