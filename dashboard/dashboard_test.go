package dashboard

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	h := Handler()
	for _, c := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{http.MethodGet, "/dashboard/", 200, "text/html"},
		{http.MethodHead, "/dashboard/", 200, "text/html"},
		{http.MethodGet, "/dashboard/app.js", 200, "text/javascript"},
		{http.MethodGet, "/dashboard/style.css", 200, "text/css"},
		{http.MethodGet, "/dashboard", 301, ""},
		{http.MethodGet, "/dashboard/missing.js", 404, ""},
		{http.MethodGet, "/dashboard/../go.mod", 404, ""},
		{http.MethodPost, "/dashboard/", 405, ""},
	} {
		resp := get(t, h, c.method, c.path)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, resp.StatusCode, c.status)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); c.ctype != "" && !strings.HasPrefix(ct, c.ctype) {
			t.Errorf("%s %s: Content-Type %q, want %s", c.method, c.path, ct, c.ctype)
		}
		if c.status == 200 {
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("%s %s: CSP %q", c.method, c.path, csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s %s: no nosniff", c.method, c.path)
			}
		}
	}
	if loc := get(t, h, http.MethodGet, "/dashboard").Header.Get("Location"); loc != Prefix {
		t.Errorf("redirect to %q, want %q", loc, Prefix)
	}
	body, _ := io.ReadAll(get(t, h, http.MethodGet, "/dashboard/").Body)
	for _, want := range []string{`src="app.js"`, `href="style.css"`, `id="head-number"`, `id="jobs"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
}

// TestOffline: the assets load nothing from elsewhere (no CDN, no font, no
// analytics): the only URL schemes in them are the WebSocket's, built from
// the page's own location, and the page has no inline script or style
// (the CSP forbids both).
func TestOffline(t *testing.T) {
	scheme := regexp.MustCompile(`[a-z]+://`)
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b, err := fs.ReadFile(Assets(), name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range scheme.FindAllString(string(b), -1) {
			if m != "ws://" && m != "wss://" {
				t.Errorf("%s refers to %s… (the dashboard must work offline)", name, m)
			}
		}
		if name == "index.html" {
			if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).Match(b) || strings.Contains(string(b), "<style") || strings.Contains(string(b), " style=") {
				t.Errorf("index.html has inline script or style")
			}
		}
	}
}

func TestOwns(t *testing.T) {
	for path, want := range map[string]bool{"/dashboard": true, "/dashboard/": true, "/dashboard/app.js": true,
		"/": false, "/dashboards": false, "/apps/": false} {
		if Owns(path) != want {
			t.Errorf("Owns(%q) = %t", path, !want)
		}
	}
}
