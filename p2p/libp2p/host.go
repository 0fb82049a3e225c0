package libp2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/mclock"
	golibp2p "github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/emc-network/emcd/p2p"
)

var (
	_ p2p.Network     = (*Host)(nil)
	_ p2p.Scorer      = (*Host)(nil)
	_ p2p.AddressBook = (*Host)(nil)
)

// DefaultListenAddr is the TCP address a node listens on when none is set.
const DefaultListenAddr = "/ip4/0.0.0.0/tcp/30310"

// Config configures a Host. ChainID and Status are required.
type Config struct {
	// ChainID names every topic and protocol (p2p.Names).
	ChainID uint64
	// Status returns the local chain status for handshakes.
	Status p2p.StatusFunc
	// Key is the identity key; nil loads or creates KeyFile.
	Key crypto.PrivKey
	// Signer, if set, proves the node's consensus address in every handshake
	// (p2p.Identity): it signs (chain id, genesis, this host's peer id) once
	// at start. Nil: the node proves no address.
	Signer p2p.Signer
	// KeyFile is the persisted identity key (config.DataDir.NodeKey()).
	KeyFile string
	// ListenAddrs are TCP (or QUIC) multiaddrs; empty means DefaultListenAddr.
	ListenAddrs []string
	// QUIC also listens on udp/<port>/quic-v1 beside each TCP listen address.
	QUIC bool
	// AnnounceAddrs, if set, replace the addresses advertised to peers (the
	// public address behind a NAT).
	AnnounceAddrs []string
	// Bootnodes are full multiaddrs with /p2p/<id>; they are dialed at start,
	// seed the DHT and are redialed while the node has too few peers.
	Bootnodes []string
	// LowPeers and HighPeers are the connection manager's watermarks
	// (defaults 32 and 64). Discovery dials while below LowPeers.
	LowPeers, HighPeers int
	// DisableDHT turns peer discovery off (tests of fixed topologies).
	DisableDHT bool
	// DiscoveryInterval is how often discovery runs (default 10s).
	DiscoveryInterval time.Duration
	// HandshakeTimeout bounds the handshake (default 5s).
	HandshakeTimeout time.Duration
	// MaxInflight bounds concurrent inbound requests per protocol (default 64).
	MaxInflight int
	// Clock drives penalty decay and bans; nil is the system clock.
	Clock mclock.Clock
	Log   *slog.Logger
}

func (c *Config) fill() error {
	if c.Status == nil {
		return errors.New("libp2p: Config.Status is required")
	}
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = []string{DefaultListenAddr}
	}
	if c.LowPeers <= 0 {
		c.LowPeers = 32
	}
	if c.HighPeers <= c.LowPeers {
		c.HighPeers = 2 * c.LowPeers
	}
	if c.DiscoveryInterval <= 0 {
		c.DiscoveryInterval = 10 * time.Second
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 64
	}
	if c.Clock == nil {
		c.Clock = mclock.System{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Host is a libp2p node implementing p2p.Network.
type Host struct {
	cfg    Config
	names  p2p.Names
	log    *slog.Logger
	host   host.Host
	ps     *pubsub.PubSub
	dht    *dht.IpfsDHT
	scores *p2p.Scoreboard
	boot   []peer.AddrInfo

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// discoveryDone closes when the discovery loop has returned (nil until it
	// starts).
	discoveryDone chan struct{}

	// identity is the signed proof of cfg.Signer's address, for the
	// network it was signed for; nil without a Signer.
	identity *p2p.Identity
	idChain  uint64
	idGen    common.Hash

	mu     sync.Mutex
	closed bool
	peers  map[peer.ID]*peerState
	// failed holds the last handshake error of peers dialled by
	// ConnectPeer whose state is gone (the connection dropped after the
	// handshake failed), so the dialler gets the cause, not "disconnected".
	// Bounded by maxFailed; guarded by mu.
	failed   map[peer.ID]error
	topics   map[string]*topic
	handlers map[string]bool
}

// peerState is the handshake state of one connected peer.
type peerState struct {
	done     chan struct{} // closed when the handshake finished
	err      error
	status   p2p.Status
	verified bool
	// address is the consensus address the peer proved (hasAddress).
	address    common.Address
	hasAddress bool
}

// New starts a host listening on cfg.ListenAddrs, joins gossipsub and (unless
// disabled) the DHT, and dials the bootnodes in the background.
func New(cfg Config) (*Host, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	key := cfg.Key
	if key == nil {
		if cfg.KeyFile == "" {
			return nil, errors.New("libp2p: Config.Key or Config.KeyFile is required")
		}
		var err error
		if key, err = LoadOrCreateKey(cfg.KeyFile); err != nil {
			return nil, err
		}
	}
	boot, err := ParseBootnodes(cfg.Bootnodes)
	if err != nil {
		return nil, err
	}
	listen := cfg.ListenAddrs
	if cfg.QUIC {
		listen = withQUIC(listen)
	}
	var announce []ma.Multiaddr
	for _, s := range cfg.AnnounceAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("libp2p: announce address %q: %w", s, err)
		}
		announce = append(announce, a)
	}
	scores := p2p.NewScoreboard(cfg.Clock, 0, 0)
	cm, err := connmgr.NewConnManager(cfg.LowPeers, cfg.HighPeers, connmgr.WithGracePeriod(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("libp2p: connection manager: %w", err)
	}
	opts := []golibp2p.Option{
		golibp2p.Identity(key),
		golibp2p.ListenAddrStrings(listen...),
		golibp2p.Transport(tcp.NewTCPTransport),
		golibp2p.ConnectionManager(cm),
		golibp2p.ConnectionGater(gater{scores}),
		golibp2p.DisableRelay(),
		// The default resource manager (autoscaled limits per peer,
		// protocol and system) stays on: it bounds streams and memory.
	}
	if cfg.QUIC {
		opts = append(opts, golibp2p.Transport(quic.NewTransport))
	}
	if len(announce) > 0 {
		opts = append(opts, golibp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return announce }))
	}
	hst, err := golibp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("libp2p: start host: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{
		cfg: cfg, names: p2p.Names{ChainID: cfg.ChainID}, log: cfg.Log.With("component", "p2p"),
		host: hst, scores: scores, boot: boot, ctx: ctx, cancel: cancel,
		peers: make(map[peer.ID]*peerState), failed: make(map[peer.ID]error), topics: make(map[string]*topic), handlers: make(map[string]bool),
	}
	if cfg.Signer != nil {
		st := cfg.Status()
		h.idChain, h.idGen = st.ChainID, st.Genesis
		if h.identity, err = p2p.SignIdentity(cfg.Signer, st.ChainID, st.Genesis, h.Self()); err != nil {
			hst.Close()
			cancel()
			return nil, fmt.Errorf("libp2p: %w", err)
		}
	}
	hst.SetStreamHandler(protocol.ID(h.names.Handshake()), h.handleHandshake)
	hst.Network().Notify(&network.NotifyBundle{ConnectedF: h.connected, DisconnectedF: h.disconnected})

	if h.ps, err = pubsub.NewGossipSub(ctx, hst, gossipOptions(h)...); err != nil {
		h.Close()
		return nil, fmt.Errorf("libp2p: gossipsub: %w", err)
	}
	if !cfg.DisableDHT {
		h.dht, err = dht.New(hst,
			dht.Mode(dht.ModeServer),
			dht.ProtocolPrefix(protocol.ID(h.names.Prefix())),
			dht.BootstrapPeers(boot...),
		)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("libp2p: dht: %w", err)
		}
	}
	h.discoveryDone = make(chan struct{})
	go h.discoveryLoop()
	h.log.Info("p2p started", "peer_id", hst.ID(), "addrs", h.Addrs())
	return h, nil
}

// ID returns the host's peer id.
func (h *Host) ID() peer.ID { return h.host.ID() }

// Self returns the host's peer id as a p2p.PeerID.
func (h *Host) Self() p2p.PeerID { return p2p.PeerID(h.host.ID().String()) }

// Addrs returns the full multiaddrs (with /p2p/<id>) peers can dial: what to
// print at startup and to put in other nodes' bootnodes.
func (h *Host) Addrs() []string {
	info := peer.AddrInfo{ID: h.host.ID(), Addrs: h.host.Addrs()}
	full, err := peer.AddrInfoToP2pAddrs(&info)
	if err != nil {
		return nil
	}
	out := make([]string, len(full))
	for i, a := range full {
		out[i] = a.String()
	}
	return out
}

// Connect dials a full multiaddr and waits for the handshake.
func (h *Host) Connect(ctx context.Context, addr string) error {
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return fmt.Errorf("libp2p: peer address %q: %w", addr, err)
	}
	return h.ConnectPeer(ctx, *info)
}

// ConnectPeer dials info and waits for the handshake; it returns the
// handshake error (ErrNetworkMismatch) for a peer of another network.
func (h *Host) ConnectPeer(ctx context.Context, info peer.AddrInfo) error {
	if h.scores.Banned(p2p.PeerID(info.ID.String())) {
		return fmt.Errorf("%w: %s", p2p.ErrBanned, info.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.HandshakeTimeout+5*time.Second)
	defer cancel()
	h.mu.Lock()
	delete(h.failed, info.ID)
	h.mu.Unlock()
	if err := h.host.Connect(ctx, info); err != nil {
		return fmt.Errorf("libp2p: dial %s: %w", info.ID, err)
	}
	st := h.stateIfConnected(info.ID)
	if st == nil {
		if h.scores.Banned(p2p.PeerID(info.ID.String())) {
			return fmt.Errorf("%w: %s", p2p.ErrBanned, info.ID)
		}
		// The handshake may have failed and the peer been dropped before
		// this call looked: report why.
		h.mu.Lock()
		err, ok := h.failed[info.ID]
		h.mu.Unlock()
		if ok {
			return err
		}
		return fmt.Errorf("%w: %s disconnected", p2p.ErrNotConnected, info.ID)
	}
	select {
	case <-st.done:
		return st.err
	case <-ctx.Done():
		return fmt.Errorf("libp2p: handshake with %s: %w", info.ID, ctx.Err())
	}
}

// Peers returns the connected peers that completed the handshake.
func (h *Host) Peers() []p2p.PeerID {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]p2p.PeerID, 0, len(h.peers))
	for id, st := range h.peers {
		if st.verified {
			out = append(out, p2p.PeerID(id.String()))
		}
	}
	return out
}

// PeerCount returns the number of handshaked peers.
func (h *Host) PeerCount() int { return len(h.Peers()) }

// PeerStatus returns the status peer sent in its handshake.
func (h *Host) PeerStatus(id p2p.PeerID) (p2p.Status, bool) {
	pid, err := peer.Decode(string(id))
	if err != nil {
		return p2p.Status{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.peers[pid]
	if st == nil || !st.verified {
		return p2p.Status{}, false
	}
	return st.status, true
}

// PeerAddress returns the consensus address peer proved in its handshake.
func (h *Host) PeerAddress(id p2p.PeerID) (common.Address, bool) {
	pid, err := peer.Decode(string(id))
	if err != nil {
		return common.Address{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.peers[pid]
	if st == nil || !st.verified || !st.hasAddress {
		return common.Address{}, false
	}
	return st.address, true
}

// PeerByAddress returns the connected peer that proved addr (the smallest
// peer id if several did). It scans the peer table, which the connection
// manager bounds (HighPeers).
func (h *Host) PeerByAddress(addr common.Address) (p2p.PeerID, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var best p2p.PeerID
	for id, st := range h.peers {
		if st.verified && st.hasAddress && st.address == addr {
			if pid := p2p.PeerID(id.String()); best == "" || pid < best {
				best = pid
			}
		}
	}
	return best, best != ""
}

// localStatus is the status this host sends in handshakes: cfg.Status with
// the identity attached.
func (h *Host) localStatus() p2p.Status {
	st := h.cfg.Status()
	if h.identity != nil {
		if st.ChainID == h.idChain && st.Genesis == h.idGen {
			st.Identity = h.identity
		} else {
			// Status must not change networks under a running host; if it
			// does, proving nothing beats proving it for the wrong one.
			h.log.Error("status changed network since the identity was signed", "chain_id", st.ChainID, "genesis", st.Genesis)
		}
	}
	return st
}

// Penalize records misbehaviour; a ban disconnects the peer and the gater
// refuses it until the ban expires.
func (h *Host) Penalize(id p2p.PeerID, pen p2p.Penalty, reason string) {
	if id == h.Self() {
		return
	}
	h.log.Debug("peer penalised", "peer", id, "penalty", int(pen), "reason", reason)
	if h.scores.Penalize(id, pen) {
		h.log.Warn("peer banned", "peer", id, "reason", reason)
		if pid, err := peer.Decode(string(id)); err == nil {
			_ = h.host.Network().ClosePeer(pid)
		}
	}
}

// Score returns peer's penalty score.
func (h *Host) Score(id p2p.PeerID) float64 { return h.scores.Score(id) }

// Banned reports whether peer is banned.
func (h *Host) Banned(id p2p.PeerID) bool { return h.scores.Banned(id) }

// Close stops discovery, leaves every topic and shuts the host down.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	topics := make([]*topic, 0, len(h.topics))
	for _, t := range h.topics {
		topics = append(topics, t)
	}
	h.mu.Unlock()
	for _, t := range topics {
		t.Close()
	}
	h.cancel()
	// The discovery loop uses the DHT: it must be out before the DHT
	// closes (kad-dht's RefreshRoutingTable races its Close).
	if h.discoveryDone != nil {
		<-h.discoveryDone
	}
	var errs []error
	if h.dht != nil {
		errs = append(errs, h.dht.Close())
	}
	errs = append(errs, h.host.Close())
	h.wg.Wait()
	return errors.Join(errs...)
}

func (h *Host) state(id peer.ID) *peerState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peers[id]
}

// stateIfConnected returns the handshake state of a connected peer, creating
// it if the connection notification has not run yet.
func (h *Host) stateIfConnected(id peer.ID) *peerState {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.peers[id]
	if st == nil && h.host.Network().Connectedness(id) == network.Connected {
		st = &peerState{done: make(chan struct{})}
		h.peers[id] = st
	}
	return st
}

func (h *Host) isVerified(id peer.ID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.peers[id]
	return st != nil && st.verified
}

// awaitVerified reports whether a connected peer completes its handshake
// within wait: a peer's first stream can arrive before this side has
// finished accepting the handshake the peer already finished, and must
// not be refused for that.
func (h *Host) awaitVerified(id peer.ID, wait time.Duration) bool {
	st := h.stateIfConnected(id)
	if st == nil {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-st.done: // finish sets verified before it closes done
		return st.verified
	case <-t.C:
		return false
	case <-h.ctx.Done():
		return false
	}
}

// ParseBootnodes parses full multiaddrs (with /p2p/<id>), merging addresses
// of the same peer.
func ParseBootnodes(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("libp2p: bootnode %q: %w", s, err)
		}
		mas = append(mas, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("libp2p: bootnodes (each needs /p2p/<peer id>): %w", err)
	}
	return infos, nil
}

// withQUIC adds /udp/<port>/quic-v1 beside each /tcp/<port> address.
func withQUIC(addrs []string) []string {
	out := append([]string(nil), addrs...)
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		var ip, port string
		ma.ForEach(a, func(c ma.Component) bool {
			switch c.Protocol().Code {
			case ma.P_IP4:
				ip = "/ip4/" + c.Value()
			case ma.P_IP6:
				ip = "/ip6/" + c.Value()
			case ma.P_TCP:
				port = c.Value()
			}
			return true
		})
		if ip != "" && port != "" {
			out = append(out, ip+"/udp/"+port+"/quic-v1")
		}
	}
	return out
}

// discoveryLoop keeps the node connected: while below LowPeers it redials
// bootnodes and peers from the DHT routing table.
func (h *Host) discoveryLoop() {
	defer close(h.discoveryDone)
	h.discover()
	t := time.NewTicker(h.cfg.DiscoveryInterval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			h.discover()
		}
	}
}

func (h *Host) discover() {
	if h.PeerCount() >= h.cfg.LowPeers {
		return
	}
	candidates := append([]peer.AddrInfo(nil), h.boot...)
	if h.dht != nil {
		for _, id := range h.dht.RoutingTable().ListPeers() {
			candidates = append(candidates, h.host.Peerstore().PeerInfo(id))
		}
	}
	for _, info := range candidates {
		if info.ID == h.host.ID() || h.host.Network().Connectedness(info.ID) == network.Connected {
			continue
		}
		if h.scores.Banned(p2p.PeerID(info.ID.String())) {
			continue
		}
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		if err := h.ConnectPeer(ctx, info); err != nil {
			h.log.Debug("dial failed", "peer", info.ID, "err", err)
		}
		cancel()
		if h.ctx.Err() != nil || h.PeerCount() >= h.cfg.LowPeers {
			return
		}
	}
	if h.dht != nil {
		// Refresh in the background; results land in the routing table.
		_ = h.dht.RefreshRoutingTable()
	}
}
