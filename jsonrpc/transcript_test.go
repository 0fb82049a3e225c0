package jsonrpc

// Golden transcripts, in the manner of geth's rpc/testdata: each file in
// testdata/*.txt is a conversation with a server over a fakeBackend.
// "-->" lines are sent as-is over an in-process pipe; each "<--" line is
// one expected response, compared as JSON. "//" lines are comments.
// Run `go test ./jsonrpc -run TestTranscripts -rewrite` to regenerate the
// responses, then review the diff as code.

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	ethstate "github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/tracing"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/staking/credits"
	"github.com/emc-network/emcd/state/native"
)

var rewrite = flag.Bool("rewrite", false, "rewrite golden transcripts in testdata/")

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runTranscript(t, file)
		})
	}
}

// newTestServer returns a server over a fresh fakeBackend with small limits
// so the limit paths are reachable from transcripts.
func newTestServer(t testing.TB) (*Server, *fakeBackend) {
	b := newFakeBackend(t)
	cfg := DefaultConfig()
	cfg.BatchItemLimit = 5
	cfg.LogBlockRange = 100
	srv, err := NewServer(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, b
}

// transcriptSetup prepares the fake chain of one transcript (by file name
// without .txt) beyond newFakeBackend's common blocks, so the others keep
// their hashes.
var transcriptSetup = map[string]func(*fakeBackend){
	// Block 3 runs the staking module: see stakeSetup.
	"emc_stake": stakeSetup,
	// Block 3 registers a compute node and a router: see computeSetup.
	"emc_compute": computeSetup,
	// Block 3 submits jobs 1 and 2 and cancels job 2: see jobsSetup.
	"emc_jobs": jobsSetup,
	// Block 3 holds a committed proof-of-work challenge: see verifySetup.
	"emc_verify": verifySetup,
	// Block 3 gives devAddr 250 Credits and otherAddr 2^256-1 (the widest
	// value the hex encoding must carry).
	// Block 3 counts burns in the supply ledger (7 ether: 4 base fee, 2
	// rent, 1 slash) and gives the fake's one module 5 ether; block 4
	// breaks the invariant (a burned total above the supply).
	"emc_supply": func(f *fakeBackend) {
		ether := func(n int64) common.Hash {
			return common.BigToHash(new(big.Int).Mul(big.NewInt(n), big.NewInt(params.Ether)))
		}
		echo := f.SystemContracts()[0].Address
		f.mineState(func(st *ethstate.StateDB) {
			st.SetNonce(native.SupplyAddress, 1, tracing.NonceChangeGenesis)
			for slot, v := range map[uint64]int64{0: 7, uint64(native.BurnBaseFee): 4, uint64(native.BurnRent): 2, uint64(native.BurnSlash): 1} {
				st.SetState(native.SupplyAddress, native.Slot(slot), ether(v))
			}
			st.SubBalance(devAddr, uint256.MustFromBig(ether(12).Big()), tracing.BalanceChangeUnspecified)
			st.SetBalance(echo, uint256.MustFromBig(ether(5).Big()), tracing.BalanceChangeUnspecified)
		})
		f.mineState(func(st *ethstate.StateDB) {
			st.SetState(native.SupplyAddress, native.Slot(0), ether(20_000))
		})
	},
	"emc_credits": func(f *fakeBackend) {
		f.mineState(func(st *ethstate.StateDB) {
			st.SetNonce(native.CreditsAddress, 1, tracing.NonceChangeGenesis) // as the module's genesis account: never EIP-161 empty
			st.SetState(native.CreditsAddress, credits.CreditsKey(devAddr), common.BigToHash(big.NewInt(250)))
			st.SetState(native.CreditsAddress, credits.CreditsKey(otherAddr), new(uint256.Int).SetAllOne().Bytes32())
		})
	},
}

func runTranscript(t *testing.T, file string) {
	srv, b := newTestServer(t)
	if setup := transcriptSetup[strings.TrimSuffix(filepath.Base(file), ".txt")]; setup != nil {
		setup(b)
	}
	content, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	clientConn, serverConn := net.Pipe()
	defer clientConn.Close()
	go srv.rpc.ServeCodec(rpc.NewCodec(serverConn), 0)
	dec := json.NewDecoder(clientConn)

	lines := strings.Split(strings.TrimRight(string(content), "\n"), "\n")
	var out bytes.Buffer
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case strings.HasPrefix(line, "-->"):
			out.WriteString(line + "\n")
			req := strings.TrimSpace(line[3:])
			clientConn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := clientConn.Write([]byte(req + "\n")); err != nil {
				t.Fatalf("line %d: write: %v", i+1, err)
			}
			// Count expected responses; when rewriting, expect at least one.
			n := 0
			for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], "<--"); j++ {
				n++
			}
			if *rewrite && n == 0 {
				n = 1
			}
			for k := 0; k < n; k++ {
				clientConn.SetReadDeadline(time.Now().Add(10 * time.Second))
				var got json.RawMessage
				if err := dec.Decode(&got); err != nil {
					t.Fatalf("line %d: read response: %v", i+1, err)
				}
				out.WriteString("<-- " + string(got) + "\n")
				if !*rewrite {
					want := strings.TrimSpace(lines[i+1+k][3:])
					if !jsonEqual(t, want, string(got)) {
						t.Errorf("line %d: response mismatch\nrequest: %s\nwant:    %s\ngot:     %s", i+2+k, req, want, got)
					}
				}
			}
			i += countPrefix(lines[i+1:], "<--")
		case strings.HasPrefix(line, "<--"):
			t.Fatalf("line %d: response without request", i+1)
		default:
			out.WriteString(line + "\n")
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			break
		}
		n++
	}
	return n
}

func jsonEqual(t *testing.T, a, b string) bool {
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Errorf("bad golden JSON %q: %v", a, err)
		return false
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}
