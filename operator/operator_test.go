// Tests of the operator API end to end: a real gRPC server and client over
// an in-memory bufconn listener, a fake Backend whose head feed is geth's
// event.Feed (what the node uses, and whose Send blocks until every
// subscriber has taken the value, so a stalled server would stall it).
// Nothing sleeps; waits that should never be reached fail after
// waitTimeout instead of hanging.
package operator_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/event"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/emc-network/emcd/operator"
	pb "github.com/emc-network/emcd/operator/proto/emcd/operator/v1"
)

const waitTimeout = 10 * time.Second

// fakeBackend serves fixed values; feed carries heads.
type fakeBackend struct {
	info   operator.NodeInfo
	status operator.Status
	peers  []operator.Peer
	gpus   operator.GPUs
	// err, when set, is what every unary method returns.
	err error
	// block makes unary methods wait for their context.
	block bool
	// subErr, when set, ends every head subscription at once with it.
	subErr error

	feed event.Feed
	// subscribed and unsubscribed get one value per SubscribeHeads and per
	// Unsubscribe.
	subscribed, unsubscribed chan struct{}
}

func newFake() *fakeBackend {
	return &fakeBackend{subscribed: make(chan struct{}, 64), unsubscribed: make(chan struct{}, 64)}
}

var _ operator.Backend = (*fakeBackend)(nil)

func (f *fakeBackend) answer(ctx context.Context) error {
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.err
}

func (f *fakeBackend) NodeInfo(ctx context.Context) (operator.NodeInfo, error) {
	return f.info, f.answer(ctx)
}
func (f *fakeBackend) Status(ctx context.Context) (operator.Status, error) {
	return f.status, f.answer(ctx)
}
func (f *fakeBackend) Peers(ctx context.Context) ([]operator.Peer, error) {
	return f.peers, f.answer(ctx)
}
func (f *fakeBackend) GPUs(ctx context.Context) (operator.GPUs, error) {
	return f.gpus, f.answer(ctx)
}

func (f *fakeBackend) SubscribeHeads(ch chan<- operator.Head) operator.Subscription {
	var s operator.Subscription = &trackedSub{Subscription: f.feed.Subscribe(ch), unsubscribed: f.unsubscribed}
	if f.subErr != nil {
		s = &failedSub{Subscription: s, err: f.subErr}
	}
	f.subscribed <- struct{}{}
	return s
}

// failedSub is a subscription its producer has already ended with err.
type failedSub struct {
	operator.Subscription
	err error
}

func (s *failedSub) Err() <-chan error {
	ch := make(chan error, 1)
	ch <- s.err
	close(ch)
	return ch
}

// trackedSub reports its Unsubscribe.
type trackedSub struct {
	event.Subscription
	unsubscribed chan struct{}
}

func (s *trackedSub) Unsubscribe() {
	s.Subscription.Unsubscribe()
	s.unsubscribed <- struct{}{}
}

// harness is a running server and a client connected to it.
type harness struct {
	client pb.OperatorClient
	conn   *grpc.ClientConn
	// stop cancels Serve's context and returns what Serve returned.
	stop func() error
}

func start(t *testing.T, b operator.Backend, cfg operator.Config) *harness {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := operator.NewServer(b, cfg, log)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// A fixed window (it turns off BDP window growth) bounds how many
		// heads fit in flight to an unread stream.
		grpc.WithInitialWindowSize(64<<10),
		grpc.WithInitialConnWindowSize(64<<10),
	)
	if err != nil {
		t.Fatal(err)
	}
	var stopped bool
	var serveErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			serveErr = wait(t, served, "Serve to return")
		}
		return serveErr
	}
	t.Cleanup(func() {
		conn.Close()
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &harness{client: pb.NewOperatorClient(conn), conn: conn, stop: stop}
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

var (
	hashA = common.HexToHash("0xaa00000000000000000000000000000000000000000000000000000000000001")
	hashB = common.HexToHash("0xbb00000000000000000000000000000000000000000000000000000000000002")
	addrA = common.HexToAddress("0x00000000000000000000000000000000000000a1")
	addrB = common.HexToAddress("0x00000000000000000000000000000000000000b2")
)

func head(n uint64) operator.Head {
	return operator.Head{Number: n, Hash: common.BytesToHash(binary.BigEndian.AppendUint64(nil, n)), Time: 1_700_000_000 + n, TxCount: int(n % 7), GasUsed: 21000 * (n % 7)}
}

func TestUnary(t *testing.T) {
	commit := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	f := newFake()
	f.info = operator.NodeInfo{
		Version: "0.1.0-abc", Role: "validator", ChainID: 7, GenesisHash: hashA, ValidatorAddress: addrA,
		PeerID: "12D3KooW", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/20000/p2p/12D3KooW"},
		Forks: []operator.Fork{{Name: "a", Description: "first", Scheduled: true, Block: 5, Active: true}, {Name: "b", Description: "second"}},
	}
	f.status = operator.Status{
		Head:    operator.Head{Number: 42, Hash: hashB, Time: 1_700_000_042, TxCount: 3, GasUsed: 63000},
		Syncing: true, SyncTarget: 100,
		Consensus: operator.Consensus{
			Engine: "ibft", Height: 43, Round: 1, Proposer: addrB,
			Validators: []common.Address{addrA, addrB}, IsValidator: true, LastCommitTime: commit,
		},
		PeerCount: 3, TxPoolPending: 10, TxPoolQueued: 2,
	}
	f.peers = []operator.Peer{
		{ID: "peer1", Addrs: []string{"/ip4/10.0.0.1/tcp/1"}, HeadNumber: 41, HeadHash: hashA},
		{ID: "peer2"}, // nothing known but the ID
	}
	f.gpus = operator.GPUs{
		Source: "simulated", Simulated: true, DriverVersion: "sim",
		Devices: []operator.GPU{{Index: 0, UUID: "GPU-0", Name: "H100", MemoryTotalBytes: 80 << 30, Simulated: true}},
	}
	c := start(t, f, operator.Config{}).client
	ctx := context.Background()

	tests := []struct {
		name string
		call func() (proto.Message, error)
		want proto.Message
	}{
		{"GetNodeInfo", func() (proto.Message, error) { return c.GetNodeInfo(ctx, &pb.GetNodeInfoRequest{}) },
			&pb.GetNodeInfoResponse{
				Version: "0.1.0-abc", Role: "validator", ChainId: 7, GenesisHash: hashA.Hex(), ValidatorAddress: addrA.Hex(),
				PeerId: "12D3KooW", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/20000/p2p/12D3KooW"},
				Forks: []*pb.Fork{{Name: "a", Description: "first", Scheduled: true, Block: 5, Active: true}, {Name: "b", Description: "second"}},
			}},
		{"GetStatus", func() (proto.Message, error) { return c.GetStatus(ctx, &pb.GetStatusRequest{}) },
			&pb.GetStatusResponse{
				Head:    &pb.Head{Number: 42, Hash: hashB.Hex(), Time: 1_700_000_042, TxCount: 3, GasUsed: 63000},
				Syncing: true, SyncTarget: 100,
				Consensus: &pb.Consensus{
					Engine: "ibft", Height: 43, Round: 1, Proposer: addrB.Hex(),
					Validators: []string{addrA.Hex(), addrB.Hex()}, IsValidator: true, LastCommitTime: timestamppb.New(commit),
				},
				PeerCount: 3, TxpoolPending: 10, TxpoolQueued: 2,
			}},
		{"ListPeers", func() (proto.Message, error) { return c.ListPeers(ctx, &pb.ListPeersRequest{}) },
			&pb.ListPeersResponse{Peers: []*pb.Peer{
				{Id: "peer1", Addrs: []string{"/ip4/10.0.0.1/tcp/1"}, HeadNumber: 41, HeadHash: hashA.Hex()},
				{Id: "peer2"},
			}}},
		{"GetGPUs", func() (proto.Message, error) { return c.GetGPUs(ctx, &pb.GetGPUsRequest{}) },
			&pb.GetGPUsResponse{
				Source: "simulated", Simulated: true, DriverVersion: "sim",
				Devices: []*pb.GPU{{Index: 0, Uuid: "GPU-0", Name: "H100", MemoryTotalBytes: 80 << 30, Simulated: true}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("got  %s\nwant %s", protojson.Format(got), protojson.Format(tt.want))
			}
		})
	}
}

// TestEmptyValues pins how unknowns go on the wire: the zero address and
// hash become "", the zero commit time is unset, and a node without GPUs
// answers with a reason, not an error.
func TestEmptyValues(t *testing.T) {
	f := newFake()
	f.info = operator.NodeInfo{Version: "v", Role: "compute", ChainID: 1, GenesisHash: hashA}
	f.status = operator.Status{Consensus: operator.Consensus{Engine: "dev"}}
	f.gpus = operator.GPUs{Source: "none", Reason: "gpu: no NVIDIA driver"}
	c := start(t, f, operator.Config{}).client
	ctx := context.Background()

	info, err := c.GetNodeInfo(ctx, &pb.GetNodeInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.ValidatorAddress != "" || info.PeerId != "" || len(info.ListenAddrs) != 0 {
		t.Errorf("node info: %s", protojson.Format(info))
	}
	st, err := c.GetStatus(ctx, &pb.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Head.GetHash() != "" || st.Consensus.GetProposer() != "" || st.Consensus.GetLastCommitTime() != nil {
		t.Errorf("status: %s", protojson.Format(st))
	}
	peers, err := c.ListPeers(ctx, &pb.ListPeersRequest{})
	if err != nil || len(peers.Peers) != 0 {
		t.Errorf("peers: %v, %v", peers, err)
	}
	gpus, err := c.GetGPUs(ctx, &pb.GetGPUsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if gpus.Reason != "gpu: no NVIDIA driver" || len(gpus.Devices) != 0 || gpus.Source != "none" {
		t.Errorf("gpus: %s", protojson.Format(gpus))
	}
}

func TestListsTruncated(t *testing.T) {
	f := newFake()
	f.peers = []operator.Peer{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	f.status.Consensus.Validators = []common.Address{addrA, addrB, addrA}
	f.gpus.Devices = []operator.GPU{{Index: 0}, {Index: 1}}
	c := start(t, f, operator.Config{MaxListItems: 2}).client
	ctx := context.Background()

	peers, err := c.ListPeers(ctx, &pb.ListPeersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(peers.Peers) != 2 || !peers.Truncated {
		t.Errorf("peers: %d truncated=%v, want 2 true", len(peers.Peers), peers.Truncated)
	}
	st, err := c.GetStatus(ctx, &pb.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Consensus.Validators) != 2 || !st.Consensus.ValidatorsTruncated {
		t.Errorf("validators: %d truncated=%v, want 2 true", len(st.Consensus.Validators), st.Consensus.ValidatorsTruncated)
	}
	gpus, err := c.GetGPUs(ctx, &pb.GetGPUsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(gpus.Devices) != 2 || gpus.Truncated {
		t.Errorf("gpus: %d truncated=%v, want 2 false (exactly at the cap)", len(gpus.Devices), gpus.Truncated)
	}
}

// TestUnaryErrors checks the error table at the boundary.
func TestUnaryErrors(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		block bool
		want  codes.Code
	}{
		{"not ready", fmt.Errorf("p2p: %w", operator.ErrNotReady), false, codes.Unavailable},
		{"other", errors.New("disk on fire"), false, codes.Internal},
		{"call timeout", nil, true, codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.err, f.block = tt.err, tt.block
			c := start(t, f, operator.Config{CallTimeout: 10 * time.Millisecond}).client
			calls := map[string]func() error{
				"GetNodeInfo": func() error { _, err := c.GetNodeInfo(context.Background(), &pb.GetNodeInfoRequest{}); return err },
				"GetStatus":   func() error { _, err := c.GetStatus(context.Background(), &pb.GetStatusRequest{}); return err },
				"ListPeers":   func() error { _, err := c.ListPeers(context.Background(), &pb.ListPeersRequest{}); return err },
				"GetGPUs":     func() error { _, err := c.GetGPUs(context.Background(), &pb.GetGPUsRequest{}); return err },
			}
			for name, call := range calls {
				if got := status.Code(call()); got != tt.want {
					t.Errorf("%s: code %v, want %v", name, got, tt.want)
				}
			}
		})
	}
}

// TestWatchHeadsInOrderEndsOnCancel: heads arrive in order; a client's
// cancel ends the server side (it unsubscribes and frees its watcher slot).
func TestWatchHeadsInOrderEndsOnCancel(t *testing.T) {
	f := newFake()
	c := start(t, f, operator.Config{MaxWatchers: 1}).client
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.WatchHeads(ctx, &pb.WatchHeadsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, f.subscribed, "subscription")
	const n = 20
	for i := uint64(1); i <= n; i++ {
		if f.feed.Send(head(i)) != 1 {
			t.Fatalf("head %d not delivered to the watcher", i)
		}
	}
	for i := uint64(1); i <= n; i++ {
		got, err := stream.Recv()
		if err != nil {
			t.Fatalf("head %d: %v", i, err)
		}
		if want := headPB(head(i)); !proto.Equal(got.Head, want) {
			t.Fatalf("got %s, want %s", protojson.Format(got.Head), protojson.Format(want))
		}
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("Recv after cancel: %v, want Canceled", err)
	}
	wait(t, f.unsubscribed, "server to unsubscribe after cancel")

	// The slot is free again: a new watcher (MaxWatchers 1) gets heads.
	stream, err = c.WatchHeads(context.Background(), &pb.WatchHeadsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, f.subscribed, "second subscription")
	f.feed.Send(head(n + 1))
	if got, err := stream.Recv(); err != nil || got.Head.Number != n+1 {
		t.Fatalf("second watcher: %v, %v", got, err)
	}
}

// TestWatchHeadsSlowConsumerDropped: a client that stops reading is
// dropped, and the producer (a blocking event.Feed, as in the node) is never
// held up: it keeps sending until the feed has no subscriber left. With a
// small buffer the producer's burst alone overflows it; with a buffer many
// times what a 64 KiB window lets through, the server's Send is (in
// practice) blocked on flow control when the queue overflows, and the drop
// reaches the client once it reads again.
func TestWatchHeadsSlowConsumerDropped(t *testing.T) {
	for _, buf := range []int{4, 1 << 15} {
		t.Run(fmt.Sprintf("buffer=%d", buf), func(t *testing.T) {
			f := newFake()
			c := start(t, f, operator.Config{HeadBuffer: buf}).client
			stream, err := c.WatchHeads(context.Background(), &pb.WatchHeadsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			wait(t, f.subscribed, "subscription")

			// Produce without reading. Each Send returns once the server's
			// pump has taken the head; after the drop Send reaches no one.
			const limit = 1_000_000
			produced := make(chan uint64, 1)
			go func() {
				var n uint64
				for n = 1; n < limit && f.feed.Send(head(n)) == 1; n++ {
				}
				produced <- n
			}()
			last := wait(t, produced, "the producer (it must never block on a slow client)")
			if last >= limit {
				t.Fatal("the slow watcher was never dropped")
			}
			if last <= uint64(buf) {
				t.Fatalf("dropped after %d heads, within the %d-head buffer", last, buf)
			}
			wait(t, f.unsubscribed, "server to unsubscribe the slow watcher")

			// The client gets what was in flight, in order, then the drop.
			var want uint64 = 1
			for {
				got, err := stream.Recv()
				if err != nil {
					if status.Code(err) != codes.ResourceExhausted {
						t.Fatalf("stream ended with %v, want ResourceExhausted", err)
					}
					break
				}
				if got.Head.Number != want {
					t.Fatalf("got head %d, want %d", got.Head.Number, want)
				}
				want++
			}
			if want >= last {
				t.Errorf("client got all %d heads; the drop should cut the stream short", last-1)
			}
			t.Logf("producer sent %d heads; client got %d before the drop", last, want-1)
		})
	}
}

// TestWatchHeadsSubscriptionEnded: when the backend ends the subscription,
// the stream ends with Unavailable (the client should reconnect).
func TestWatchHeadsSubscriptionEnded(t *testing.T) {
	f := newFake()
	f.subErr = errors.New("feed closed")
	c := start(t, f, operator.Config{}).client
	stream, err := c.WatchHeads(context.Background(), &pb.WatchHeadsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("Recv: %v, want Unavailable", err)
	}
	wait(t, f.unsubscribed, "unsubscribe")
}

func TestWatchHeadsTooManyWatchers(t *testing.T) {
	f := newFake()
	c := start(t, f, operator.Config{MaxWatchers: 1}).client
	first, err := c.WatchHeads(context.Background(), &pb.WatchHeadsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, f.subscribed, "first subscription")
	second, err := c.WatchHeads(context.Background(), &pb.WatchHeadsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second watcher: %v, want ResourceExhausted", err)
	}
	f.feed.Send(head(1))
	if got, err := first.Recv(); err != nil || got.Head.Number != 1 {
		t.Fatalf("first watcher: %v, %v", got, err)
	}
}

// TestWatchHeadsEndsOnServerStop: stopping the server ends open streams
// with Unavailable and Serve returns nil, without waiting for the graceful
// stop's timeout.
func TestWatchHeadsEndsOnServerStop(t *testing.T) {
	f := newFake()
	h := start(t, f, operator.Config{ShutdownTimeout: time.Hour})
	stream, err := h.client.WatchHeads(context.Background(), &pb.WatchHeadsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, f.subscribed, "subscription")
	f.feed.Send(head(1))
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("Recv after stop: %v, want Unavailable", err)
	}
	wait(t, f.unsubscribed, "unsubscribe on stop")
}

// headPB is the wire form of h, written out independently of the server.
func headPB(h operator.Head) *pb.Head {
	return &pb.Head{Number: h.Number, Hash: h.Hash.Hex(), Time: h.Time, TxCount: uint32(h.TxCount), GasUsed: h.GasUsed}
}
