package libp2p

import (
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/emc-network/emcd/p2p"
)

// gater refuses connections to and from banned peers. Bans expire with the
// scoreboard's clock.
type gater struct{ scores *p2p.Scoreboard }

var _ connmgr.ConnectionGater = gater{}

func (g gater) banned(p peer.ID) bool { return g.scores.Banned(p2p.PeerID(p.String())) }

func (g gater) InterceptPeerDial(p peer.ID) bool                 { return !g.banned(p) }
func (g gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !g.banned(p) }
func (g gater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.banned(p)
}
func (g gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
