package jsonrpc

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/rpc"
)

// TestSameOriginWebsocket: with SameOriginWS a page served by this port
// (Origin == Host) may open the WebSocket without a CORS entry, while a
// rebound name (Origin == Host, but the host fails the virtual-host check)
// and foreign origins are still refused; without it geth's rule holds.
func TestSameOriginWebsocket(t *testing.T) {
	for _, same := range []bool{true, false} {
		srv, err := NewServer(Config{SameOriginWS: same, VHosts: []string{"localhost", "node.example"}}, newFakeBackend(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		port := hs.URL[strings.LastIndex(hs.URL, ":")+1:]
		url := "ws" + strings.TrimPrefix(hs.URL, "http")
		cases := []struct {
			host, origin string
			want         bool
		}{
			{"", "http://127.0.0.1:" + port, same},                         // the dashboard loaded by IP
			{"localhost:" + port, "http://localhost:" + port, true},        // geth allows localhost anyway
			{"node.example:" + port, "http://node.example:" + port, same},  // a listed virtual host
			{"evil.example:" + port, "http://evil.example:" + port, false}, // DNS rebinding
			{"", "http://evil.example:" + port, false},
			{"", "http://127.0.0.1:1", false},
			{"", "ftp://127.0.0.1:" + port, false},
			{"", "", true}, // non-browser clients send no Origin
		}
		for _, c := range cases {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var opts []rpc.ClientOption
			if c.origin != "" {
				opts = append(opts, rpc.WithHeader("Origin", c.origin))
			}
			if c.host != "" {
				opts = append(opts, rpc.WithHeader("Host", c.host))
			}
			cl, err := rpc.DialOptions(ctx, url, opts...)
			var n string
			if err == nil {
				err = cl.CallContext(ctx, &n, "eth_blockNumber")
				cl.Close()
			}
			if got := err == nil; got != c.want {
				t.Errorf("SameOriginWS=%t host %q origin %q: accepted %t (err %v), want %t", same, c.host, c.origin, got, err, c.want)
			}
			cancel()
		}
		hs.Close()
		srv.Close()
	}
}
