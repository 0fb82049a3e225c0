package rewards

// Node-reward distribution and credit tests: golden shares (the worked
// example of docs/economics.md), the eligibility rules, order independence,
// and a property over random node sets: Σ shares + dust + unpaid == reward,
// nothing negative, dust below one wei per eligible node, and each share
// within one wei of the exact rational share.

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

var (
	nodeA = common.HexToAddress("0x0a")
	nodeB = common.HexToAddress("0x0b")
	nodeC = common.HexToAddress("0x0c")
	nodeD = common.HexToAddress("0x0d")
)

// The worked example of docs/economics.md: epoch 0 pays r(1) = 50,000 EMC
// to two validators (1M and 3M EMC staked), a router (100k EMC) and a
// validator that missed its seals.
func nodeExample() (*big.Int, []NodeWork) {
	return EMC(50_000), []NodeWork{
		{Node: nodeD, Credits: 0, StakeWei: EMC(2_000_000)},
		{Node: nodeB, Credits: DefaultValidatorCredits, StakeWei: EMC(3_000_000)},
		{Node: nodeC, Credits: DefaultRouterCredits, StakeWei: EMC(100_000)},
		{Node: nodeA, Credits: DefaultValidatorCredits, StakeWei: EMC(1_000_000)},
	}
}

func TestDistributeNodeRewardsGolden(t *testing.T) {
	reward, nodes := nodeExample()
	got, err := DistributeNodeRewards(reward, nodes)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		node common.Address
		wei  string
	}{
		{nodeA, "12468827930174563591022"},
		{nodeB, "37406483790523690773067"},
		{nodeC, "124688279301745635910"},
	}
	if len(got.Shares) != len(want) {
		t.Fatalf("shares %+v", got.Shares)
	}
	for i, w := range want {
		if got.Shares[i].Node != w.node || got.Shares[i].AmountWei.Cmp(wei(t, w.wei)) != 0 {
			t.Errorf("share %d = %s %v, want %s %s", i, got.Shares[i].Node, got.Shares[i].AmountWei, w.node, w.wei)
		}
	}
	if got.DustWei.Cmp(big.NewInt(1)) != 0 || got.UnpaidWei.Sign() != 0 {
		t.Errorf("dust %v unpaid %v, want 1 and 0", got.DustWei, got.UnpaidWei)
	}

	// Three equal nodes share 100 wei: 33 each, 1 wei of dust.
	three := []NodeWork{{nodeA, 1, big.NewInt(5)}, {nodeB, 5, big.NewInt(1)}, {nodeC, 1, big.NewInt(5)}}
	got, err = DistributeNodeRewards(big.NewInt(100), three)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range got.Shares {
		if s.AmountWei.Cmp(big.NewInt(33)) != 0 {
			t.Errorf("%s gets %v, want 33", s.Node, s.AmountWei)
		}
	}
	if got.DustWei.Cmp(big.NewInt(1)) != 0 {
		t.Errorf("dust %v, want 1", got.DustWei)
	}
}

func TestDistributeNodeRewardsNobodyEligible(t *testing.T) {
	for _, nodes := range [][]NodeWork{
		nil,
		{{nodeA, 0, EMC(1)}, {nodeB, 200, big.NewInt(0)}},
	} {
		got, err := DistributeNodeRewards(EMC(7), nodes)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Shares) != 0 || got.UnpaidWei.Cmp(EMC(7)) != 0 || got.DustWei.Sign() != 0 {
			t.Errorf("%+v: got %+v, want everything unpaid", nodes, got)
		}
	}
	// A zero reward with eligible nodes: zero shares, no dust.
	got, err := DistributeNodeRewards(new(big.Int), []NodeWork{{nodeA, 1, EMC(1)}})
	if err != nil || len(got.Shares) != 1 || got.Shares[0].AmountWei.Sign() != 0 || got.DustWei.Sign() != 0 {
		t.Errorf("zero reward: %+v, %v", got, err)
	}
}

func TestDistributeNodeRewardsErrors(t *testing.T) {
	for _, c := range []struct {
		reward *big.Int
		nodes  []NodeWork
		want   error
	}{
		{nil, nil, ErrNegativeAmount},
		{big.NewInt(-1), nil, ErrNegativeAmount},
		{big.NewInt(1), []NodeWork{{nodeA, 1, nil}}, ErrNegativeAmount},
		{big.NewInt(1), []NodeWork{{nodeA, 1, big.NewInt(-3)}}, ErrNegativeAmount},
		{big.NewInt(1), []NodeWork{{nodeA, 1, big.NewInt(3)}, {nodeB, 0, big.NewInt(0)}, {nodeA, 0, big.NewInt(3)}}, ErrDuplicateNode},
		{big.NewInt(1), make([]NodeWork, MaxNodes+1), ErrTooManyNodes},
	} {
		if _, err := DistributeNodeRewards(c.reward, c.nodes); !errors.Is(err, c.want) {
			t.Errorf("got %v, want %v", err, c.want)
		}
	}
}

func TestDistributeNodeRewardsProperty(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 5))
		reward := randBig(rng, rng.IntN(120)+1)
		nodes := make([]NodeWork, rng.IntN(40))
		for i := range nodes {
			nodes[i] = NodeWork{Node: common.BigToAddress(big.NewInt(int64(rng.IntN(1 << 20)))), StakeWei: randBig(rng, rng.IntN(100)+1)}
			nodes[i].Node[0] = byte(i) // distinct addresses
			if rng.IntN(5) > 0 {
				nodes[i].Credits = rng.Uint64N(3000)
			}
			if rng.IntN(10) == 0 {
				nodes[i].Credits = math.MaxUint64
			}
		}
		got, err := DistributeNodeRewards(reward, nodes)
		if err != nil {
			t.Fatalf("SEED=%d: %v", seed, err)
		}
		// Order independence.
		shuffled := slices.Clone(nodes)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		again, err := DistributeNodeRewards(reward, shuffled)
		if err != nil {
			t.Fatalf("SEED=%d: %v", seed, err)
		}
		if len(again.Shares) != len(got.Shares) || again.DustWei.Cmp(got.DustWei) != 0 {
			t.Fatalf("SEED=%d: input order changed the outcome", seed)
		}
		total, sumW := new(big.Int), new(big.Int)
		eligible := map[common.Address]*big.Int{}
		for _, n := range nodes {
			if n.Credits > 0 && n.StakeWei.Sign() > 0 {
				w := new(big.Int).Mul(new(big.Int).SetUint64(n.Credits), n.StakeWei)
				eligible[n.Node] = w
				sumW.Add(sumW, w)
			}
		}
		if len(got.Shares) != len(eligible) {
			t.Fatalf("SEED=%d: %d shares for %d eligible nodes", seed, len(got.Shares), len(eligible))
		}
		for i, s := range got.Shares {
			if i > 0 && s.Node.Cmp(got.Shares[i-1].Node) <= 0 {
				t.Fatalf("SEED=%d: shares not in address order", seed)
			}
			if again.Shares[i].Node != s.Node || again.Shares[i].AmountWei.Cmp(s.AmountWei) != 0 {
				t.Fatalf("SEED=%d: input order changed %s's share", seed, s.Node)
			}
			if s.AmountWei.Sign() < 0 {
				t.Fatalf("SEED=%d: negative share", seed)
			}
			// share ≤ reward·w/Σw < share + 1
			exact := new(big.Int).Mul(reward, eligible[s.Node])
			lo := new(big.Int).Mul(s.AmountWei, sumW)
			hi := new(big.Int).Add(lo, sumW)
			if exact.Cmp(lo) < 0 || exact.Cmp(hi) >= 0 {
				t.Fatalf("SEED=%d: %s's share %v is not the rounded-down exact share", seed, s.Node, s.AmountWei)
			}
			total.Add(total, s.AmountWei)
		}
		total.Add(total, got.DustWei).Add(total, got.UnpaidWei)
		if total.Cmp(reward) != 0 {
			t.Fatalf("SEED=%d: shares + dust + unpaid = %v, reward %v", seed, total, reward)
		}
		if got.DustWei.Sign() < 0 || got.UnpaidWei.Sign() < 0 || got.DustWei.Cmp(big.NewInt(int64(max(len(eligible), 1)))) >= 0 && len(eligible) > 0 {
			t.Fatalf("SEED=%d: dust %v unpaid %v for %d eligible nodes", seed, got.DustWei, got.UnpaidWei, len(eligible))
		}
		if len(eligible) == 0 && got.UnpaidWei.Cmp(reward) != 0 {
			t.Fatalf("SEED=%d: nobody eligible, unpaid %v", seed, got.UnpaidWei)
		}
	}
}

func TestValidatorEarnsCredits(t *testing.T) {
	for _, c := range []struct {
		sealed, total uint64
		want          bool
	}{
		{0, 0, false},
		{0, 1, false},
		{1, 1, true},
		{1, 2, false},
		{2, 3, true}, // exactly two thirds
		{1, 3, false},
		{13, 20, false}, // 0.65 < 2/3
		{14, 20, true},
		{28799, 43200, false}, // a production epoch: 3·28799 < 2·43200
		{28800, 43200, true},  // exactly two thirds
		{28799, 43199, false},
		{666, 1000, false},
		{667, 1000, true},
		{math.MaxUint64, math.MaxUint64, true},
		{math.MaxUint64 / 3 * 2, math.MaxUint64, true}, // exactly 2/3; the products need 128 bits
		{math.MaxUint64/3*2 - 1, math.MaxUint64, false},
	} {
		got, err := ValidatorEarnsCredits(c.sealed, c.total)
		if err != nil {
			t.Fatal(err)
		}
		// Slow check with big integers.
		want := c.total > 0 && new(big.Int).Mul(new(big.Int).SetUint64(c.sealed), big.NewInt(3)).Cmp(new(big.Int).Mul(new(big.Int).SetUint64(c.total), big.NewInt(2))) >= 0
		if got != c.want || got != want {
			t.Errorf("ValidatorEarnsCredits(%d, %d) = %v, want %v (big-integer check: %v)", c.sealed, c.total, got, c.want, want)
		}
	}
	if _, err := ValidatorEarnsCredits(5, 4); !errors.Is(err, ErrSealsExceedCerts) {
		t.Errorf("5 of 4: %v", err)
	}
}

func TestComputeCredits(t *testing.T) {
	p := DefaultCreditParams()
	for _, c := range []struct{ tasks, want uint64 }{
		{0, 0}, {1, 10}, {199, 1990}, {200, 2000}, {201, 2000}, {math.MaxUint64, 2000},
	} {
		if got := p.ComputeCredits(c.tasks); got != c.want {
			t.Errorf("ComputeCredits(%d) = %d, want %d", c.tasks, got, c.want)
		}
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.RouterCredits = maxCredits + 1
	if err := p.Validate(); !errors.Is(err, ErrBadParams) {
		t.Errorf("Validate = %v", err)
	}
}
