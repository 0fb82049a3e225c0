package challenge

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/verify"
)

// ErrNotVerifier is returned for an address that is not a drawn verifier
// of the challenge.
var ErrNotVerifier = errors.New("challenge: not a verifier of this challenge")

// IsVerifier reports whether v is one of ch's drawn verifiers.
func IsVerifier(ch *verify.Challenge, v common.Address) bool {
	for _, x := range ch.Verifiers {
		if x == v {
			return true
		}
	}
	return false
}

// Due is the chunks verifier v is due for ch: pow.SampleChunks of the
// sample seed (the hash of ch's deadline block), the root, v, ch's N and
// k chunks.
func Due(ch *verify.Challenge, sampleSeed common.Hash, v common.Address, k int) ([]int, error) {
	if !IsVerifier(ch, v) {
		return nil, fmt.Errorf("%w: %s", ErrNotVerifier, v)
	}
	return pow.SampleChunks(sampleSeed, ch.Root, v, ch.N, k)
}

// OpeningsFor encodes the openings verifier v is due from prover p for
// ch: what the server answers and what a rebut carries. The prover's root
// need not be ch's root (a wrong one fails at the verifier and the chain).
func OpeningsFor(p *pow.Prover, ch *verify.Challenge, sampleSeed common.Hash, v common.Address, k int) ([]byte, error) {
	if p.Workload().N != ch.N {
		return nil, fmt.Errorf("challenge: prover has n %d, the challenge %d", p.Workload().N, ch.N)
	}
	idx, err := Due(ch, sampleSeed, v, k)
	if err != nil {
		return nil, err
	}
	ops, err := p.Open(idx)
	if err != nil {
		return nil, err
	}
	return pow.EncodeOpenings(ch.N, ops)
}

// CheckOpenings is the verifier's local check of a node's answer, the
// same the chain runs at attest: the openings decode, declare ch's n, are
// exactly the chunks v is due, prove to ch's root and equal the chunks
// recomputed from the node's workload seed (pow.ChallengeSeed of the
// epoch seed and the node).
func CheckOpenings(epochSeed common.Hash, node common.Address, ch *verify.Challenge, sampleSeed common.Hash, v common.Address, k int, openings []byte) error {
	n, ops, err := pow.DecodeOpenings(openings)
	if err != nil {
		return err
	}
	if n != ch.N {
		return fmt.Errorf("%w: openings declare n %d, the challenge %d", pow.ErrMalformed, n, ch.N)
	}
	want, err := Due(ch, sampleSeed, v, k)
	if err != nil {
		return err
	}
	w := pow.Workload{Seed: pow.ChallengeSeed(epochSeed, node), N: ch.N}
	return pow.Verify(w, ch.Root, want, ops)
}
