package jsonrpc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/emc-network/emcd/router/heartbeat"
)

// liveBackend is a fakeBackend with a live table (or an error instead).
type liveBackend struct {
	*fakeBackend
	nodes []heartbeat.Node
	err   error
}

func (b *liveBackend) LiveNodes() ([]heartbeat.Node, error) { return b.nodes, b.err }

func callLiveNodes(t *testing.T, b Backend) (json.RawMessage, error) {
	t.Helper()
	srv, err := NewServer(DefaultConfig(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client := rpc.DialInProc(srv.rpc)
	defer client.Close()
	var out json.RawMessage
	err = client.CallContext(context.Background(), &out, "emc_liveNodes")
	return out, err
}

func TestLiveNodes(t *testing.T) {
	node := heartbeat.Node{
		Peer:       "12D3KooWTest",
		Latest:     heartbeat.Heartbeat{Owner: common.Address{0xaa}, Seq: 9, TimeMs: 1_700_000_000_000, FreeGPUs: 2, GPUUtil: []uint32{5, 255}, QueueLen: 1, Images: []common.Hash{{1}}},
		LastSeenMs: 1_700_000_000_010, Missed: 1, RTT: 1500 * time.Microsecond, RTTSamples: 3,
	}
	out, err := callLiveNodes(t, &liveBackend{fakeBackend: newFakeBackend(t), nodes: []heartbeat.Node{node}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"peer":"12D3KooWTest","latest":{"owner":"0xaa00000000000000000000000000000000000000","seq":9,"timeMs":1700000000000,"freeGpus":2,"gpuUtil":[5,255],"queueLen":1,"images":["0x0100000000000000000000000000000000000000000000000000000000000000"]},"lastSeenMs":1700000000010,"missed":1,"rttNs":1500000,"rttSamples":3}]`
	if string(out) != want {
		t.Fatalf("emc_liveNodes:\n got %s\nwant %s", out, want)
	}
	// An empty table is an empty list, not null.
	if out, err := callLiveNodes(t, &liveBackend{fakeBackend: newFakeBackend(t)}); err != nil || string(out) != "[]" {
		t.Fatalf("empty table: %s, %v", out, err)
	}
	// A node with the capability that keeps no table says why.
	_, err = callLiveNodes(t, &liveBackend{fakeBackend: newFakeBackend(t), err: errors.New("node: this node is a validator")})
	if err == nil || !strings.Contains(err.Error(), "validator") {
		t.Fatalf("non-router: %v", err)
	}
}
