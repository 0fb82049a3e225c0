package jsonrpc

import (
	"net/http"
	"net/url"
	"strings"
)

// sameOriginPage reports whether r is a WebSocket upgrade from a page this
// server's host served itself: its Origin is http(s)://HOST where HOST is
// the request's Host header, and that host passes the virtual-host check
// (so a DNS-rebound name, whose Host is the attacker's, is refused).
func (s *Server) sameOriginPage(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || r.Host == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.User != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) && s.vhostAllowed(r.Host)
}

// acceptSameOrigin returns r with its Origin header removed when
// Config.SameOriginWS is set and r comes from a page of this host
// (sameOriginPage); geth's WebSocket handler then skips its origin check,
// as for any client that sends no Origin. Otherwise r is returned as is.
func (s *Server) acceptSameOrigin(r *http.Request) *http.Request {
	if !s.cfg.SameOriginWS || !s.sameOriginPage(r) {
		return r
	}
	r2 := r.Clone(r.Context())
	r2.Header.Del("Origin")
	return r2
}
