package state

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"

	"github.com/emc-network/emcd/genesis"
	emcparams "github.com/emc-network/emcd/params"
)

// TestForkScheduleChange: a data dir takes a genesis that differs from
// its own only in the fork schedule when the changed forks activate
// after its head, stores it (a later open without a genesis uses it), and
// refuses one that would change the rules of a stored block, or any other
// difference, leaving the stored genesis as it was.
func TestForkScheduleChange(t *testing.T) {
	dir := t.TempDir()
	withFork := func(block *uint64) *genesis.Genesis {
		g := genesis.Dev()
		g.Forks = nil
		if block != nil {
			g.Forks = map[string]math.HexOrDecimal64{emcparams.ForkVerifyPrune: math.HexOrDecimal64(*block)}
		}
		return g
	}
	at := func(b uint64) *uint64 { return &b }
	open := func(g *genesis.Genesis) (*Chain, error) {
		db, err := OpenStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Open(db, g, nil, nil)
		if err != nil {
			db.Close()
			return nil, err
		}
		return c, nil // closed by closeChain
	}
	closeChain := func(c *Chain) {
		t.Helper()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.DB().Close(); err != nil {
			t.Fatal(err)
		}
	}
	storedFork := func() (uint64, bool) {
		t.Helper()
		db, err := OpenStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		g, err := StoredGenesis(db)
		if err != nil {
			t.Fatal(err)
		}
		return g.ForkBlock(emcparams.ForkVerifyPrune)
	}

	c, err := open(withFork(at(1000)))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := genesis.DevAccountKeys(1)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testChain{Chain: c, t: t, signer: genesis.DevSignerKey(), keys: keys}
	tc.mine(tc.transfer(0, 0, common.Address{7}, big.NewInt(5)))
	tc.mine(tc.transfer(0, 1, common.Address{7}, big.NewInt(5)))
	closeChain(c) // head: block 2

	steps := []struct {
		name   string
		g      *genesis.Genesis
		ok     bool
		stored *uint64 // the stored schedule afterwards (nil: none)
	}{
		{"move a future fork earlier", withFork(at(500)), true, at(500)},
		{"no genesis given: the stored one", nil, true, at(500)},
		{"remove a future fork", withFork(nil), true, nil},
		{"schedule it again", withFork(at(3)), true, at(3)},
		{"move it onto a stored block", withFork(at(2)), false, at(3)},
		{"schedule it at genesis", withFork(at(0)), false, at(3)},
	}
	for _, s := range steps {
		c, err := open(s.g)
		switch {
		case s.ok && err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case !s.ok && (!errors.Is(err, ErrGenesisMismatch) || !errors.Is(err, genesis.ErrForkChange)):
			t.Fatalf("%s: %v, want ErrGenesisMismatch and ErrForkChange", s.name, err)
		}
		if c != nil {
			if c.Head().Number.Uint64() != 2 {
				t.Fatalf("%s: head %d", s.name, c.Head().Number)
			}
			closeChain(c)
		}
		b, ok := storedFork()
		if ok != (s.stored != nil) || (ok && b != *s.stored) {
			t.Fatalf("%s: stored fork %d %v, want %v", s.name, b, ok, s.stored)
		}
	}
	// Anything else that differs is another chain, schedule or not.
	g := withFork(at(3))
	g.EpochLength++
	if _, err := open(g); !errors.Is(err, ErrGenesisMismatch) || errors.Is(err, genesis.ErrForkChange) {
		t.Fatalf("other settings: %v", err)
	}
}
