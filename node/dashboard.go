package node

import (
	"net/http"

	"github.com/emc-network/emcd/dashboard"
)

// withDashboard serves the web dashboard's paths (dashboard.Prefix) when
// Config.Dashboard is set and passes every other request to next.
func (n *Node) withDashboard(next http.Handler) http.Handler {
	if !n.cfg.Dashboard {
		return next
	}
	dash := dashboard.Handler()
	if n.rpcAddr != nil {
		n.log.Info("dashboard", "url", "http://"+n.rpcAddr.String()+dashboard.Prefix)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dashboard.Owns(r.URL.Path) {
			dash.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
