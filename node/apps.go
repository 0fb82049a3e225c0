package node

import (
	"errors"
	"net/http"

	"github.com/emc-network/emcd/router/relay"
)

// SetAppRelay mounts a router's EMC Hub relay (router/relay) under
// relay.Prefix on the RPC port; until one is set, the prefix answers 404
// no_relay. The relay needs the chain-backed instance directory (the apps
// module), which is wired next to it.
func (n *Node) SetAppRelay(h http.Handler) { n.appRelay.Store(&h) }

// errNoAppRelay is the answer under relay.Prefix on a node without one.
var errNoAppRelay = errors.New("node: only router nodes relay app calls (/apps/<instance>/<path>)")

// appsHandler serves relay.Prefix.
func (n *Node) appsHandler() http.Handler {
	if h := n.appRelay.Load(); h != nil && *h != nil {
		return *h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		relay.WriteError(w, http.StatusNotFound, "no_relay", errNoAppRelay.Error())
	})
}
