package node

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAppsMount: /apps/ goes to the app relay when one is set (404
// no_relay before), everything else stays JSON-RPC's.
func TestAppsMount(t *testing.T) {
	n := &Node{backend: &backend{}}
	rec := httptest.NewRecorder()
	n.rpcHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/apps/1/health", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"code":"no_relay"`) {
		t.Fatalf("HTTP %d %s, want 404 no_relay", rec.Code, rec.Body)
	}
	var got string
	n.SetAppRelay(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path
		w.WriteHeader(http.StatusTeapot)
	}))
	rec = httptest.NewRecorder()
	n.rpcHandler().ServeHTTP(rec, httptest.NewRequest("POST", "/apps/7/v1/chat", nil))
	if rec.Code != http.StatusTeapot || got != "/apps/7/v1/chat" {
		t.Fatalf("HTTP %d, relay saw %q", rec.Code, got)
	}
}
