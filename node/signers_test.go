package node

// emc_signers on a real chain: four staked validators, each block sealed
// by a quorum of three with a different validator missing in turn, read
// over the JSON-RPC server while more blocks are inserted.

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/consensus/cert"
	"github.com/emc-network/emcd/genesis"
	"github.com/emc-network/emcd/jsonrpc"
	"github.com/emc-network/emcd/state"
)

// mineQuorum builds an empty block on c and inserts it with the seals of
// its whole set except skip's.
func mineQuorum(t *testing.T, c *state.Chain, keys map[common.Address]*ecdsa.PrivateKey, skip common.Address) {
	t.Helper()
	head := c.Head()
	number := head.Number.Uint64() + 1
	set, err := c.ValidatorsFor(number)
	if err != nil {
		t.Fatal(err)
	}
	var parent *cert.Certificate
	if number > 1 {
		if parent, err = c.Certificate(head.Number.Uint64(), head.Hash()); err != nil {
			t.Fatal(err)
		}
	}
	b, err := c.BuildBlock(context.Background(), &txList{}, state.BuildParams{Coinbase: set[0], Time: time.Unix(int64(head.Time)+1, 0), ParentCommit: parent})
	if err != nil {
		t.Fatal(err)
	}
	cc := &cert.Certificate{}
	for _, v := range set {
		if v == skip {
			continue
		}
		s, err := cert.SignCommit(b.Hash(), 0, func(d []byte) ([]byte, error) { return crypto.Sign(d, keys[v]) })
		if err != nil {
			t.Fatal(err)
		}
		cc.Seals = append(cc.Seals, s)
	}
	if err := c.InsertBlock(context.Background(), b, cc); err != nil {
		t.Fatalf("insert block %d: %v", number, err)
	}
}

func TestSignersRPC(t *testing.T) {
	keys := map[common.Address]*ecdsa.PrivateKey{}
	var addrs []common.Address
	million := new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(params.Ether))
	var stakes []string
	g := genesis.Dev()
	g.EpochLength = 4 // boundaries inside the run: the set is re-elected (unchanged)
	for i := range 4 {
		k, _ := crypto.ToECDSA(crypto.Keccak256([]byte(fmt.Sprintf("signer %d", i))))
		a := crypto.PubkeyToAddress(k.PublicKey)
		keys[a] = k
		addrs = append(addrs, a)
		stakes = append(stakes, `{"owner":"`+a.Hex()+`","amountWei":"`+million.String()+`"}`)
		g.Alloc[a] = types.Account{Balance: new(big.Int).Set(million)}
	}
	g.Params = map[string]json.RawMessage{"staking": json.RawMessage(`{"genesisStakes":[` + strings.Join(stakes, ",") + `]}`)}
	g.Validators = slices.Clone(addrs)
	mods, err := LoadModules(g)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := state.Open(state.OpenMemoryStore(), g, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	set, err := ch.ValidatorsFor(1)
	if err != nil {
		t.Fatal(err)
	}
	// Block k is sealed by everyone but set[k%4].
	const blocks = 13
	for k := uint64(1); k <= blocks; k++ {
		mineQuorum(t, ch, keys, set[k%4])
	}

	srv, err := jsonrpc.NewServer(jsonrpc.Config{}, &backend{chain: ch, contracts: mods.contracts()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	client, err := rpc.Dial(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// want: certificates of blocks from−1 … to−1 (block 1's certificate is
	// the first one carried, by block 2).
	check := func(from, to uint64, got *jsonrpc.Signers) error {
		first := max(from, 2) - 1
		if uint64(got.FromBlock) != from || uint64(got.ToBlock) != to || uint64(got.Certificates) != to-first {
			return fmt.Errorf("range %d..%d: got from %d to %d certificates %d", from, to, got.FromBlock, got.ToBlock, got.Certificates)
		}
		if got.Certificates == 0 && len(got.Signers) == 0 {
			return nil
		}
		if len(got.Signers) != len(set) {
			return fmt.Errorf("range %d..%d: %d signers, want %d", from, to, len(got.Signers), len(set))
		}
		for _, e := range got.Signers {
			i := slices.Index(set, e.Address)
			if i < 0 {
				return fmt.Errorf("signer %s is not in the set", e.Address)
			}
			var signed uint64
			for k := first; k < to; k++ {
				if k%4 != uint64(i) {
					signed++
				}
			}
			if uint64(e.Signed) != signed || uint64(e.Eligible) != to-first {
				return fmt.Errorf("range %d..%d: %s signed %d of %d, want %d of %d", from, to, e.Address, e.Signed, e.Eligible, signed, to-first)
			}
		}
		if !slices.IsSortedFunc(got.Signers, func(a, b jsonrpc.SignerEntry) int { return a.Address.Cmp(b.Address) }) {
			return fmt.Errorf("signers not sorted by address")
		}
		return nil
	}
	for _, r := range [][2]uint64{{0, blocks}, {2, 2}, {5, 9}, {1, 1}} {
		var got jsonrpc.Signers
		if err := client.CallContext(ctx, &got, "emc_signers", hexU(r[0]), hexU(r[1])); err != nil {
			t.Fatal(err)
		}
		if err := check(r[0], r[1], &got); err != nil {
			t.Error(err)
		}
	}
	// "latest" and a toBlock past the head resolve to the head.
	for _, to := range []any{"latest", hexU(blocks + 100)} {
		var got jsonrpc.Signers
		if err := client.CallContext(ctx, &got, "emc_signers", "0x3", to); err != nil {
			t.Fatal(err)
		}
		if err := check(3, blocks, &got); err != nil {
			t.Errorf("toBlock %v: %v", to, err)
		}
	}
	// Bad ranges are invalid params, never a panic or a long scan.
	for _, r := range [][2]any{{"0x5", "0x4"}, {"0x0", hexU(jsonrpc.MaxSignersRange + 5)}, {"0x20", "latest"}} {
		var got jsonrpc.Signers
		err := client.CallContext(ctx, &got, "emc_signers", r[0], r[1])
		var de rpc.Error
		if err == nil || !asRPCError(err, &de) || de.ErrorCode() != -32602 {
			t.Errorf("emc_signers(%v, %v): err %v, want invalid params", r[0], r[1], err)
		}
	}

	// Concurrent readers while the chain grows: every answer is consistent
	// with the range it reports.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				var got jsonrpc.Signers
				if err := client.CallContext(ctx, &got, "emc_signers", "0x0", "latest"); err != nil {
					errs <- err
					return
				}
				if err := check(0, uint64(got.ToBlock), &got); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for k := uint64(blocks + 1); k <= blocks+8; k++ {
		mineQuorum(t, ch, keys, set[k%4])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func hexU(v uint64) string { return fmt.Sprintf("0x%x", v) }

func asRPCError(err error, target *rpc.Error) bool {
	e, ok := err.(rpc.Error)
	if ok {
		*target = e
	}
	return ok
}
