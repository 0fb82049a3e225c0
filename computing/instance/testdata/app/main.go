// Command app is the test app of computing/instance and router/relay: a
// static HTTP server with a health path, a plain endpoint and a
// server-sent events endpoint. It listens on $HOST:$PORT (HOST defaults to
// all interfaces, as in a container).
//
//	GET  /health        200 once READY_AFTER_MS passed since start
//	ANY  /echo          the request's method, query and body as JSON
//	GET  /sse?n=N       N events "data: event i t" (t: send time, Unix ns), each
//	                    flushed, GAP_MS apart (or gap_ms=G from the query)
//	GET  /dial?addr=A   "connected" if a TCP dial to A works (isolation checks)
//	POST /exit          exits with status 3
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	start := time.Now()
	readyAfter, _ := strconv.Atoi(os.Getenv("READY_AFTER_MS"))
	gap, _ := strconv.Atoi(os.Getenv("GAP_MS"))
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		if time.Since(start) < time.Duration(readyAfter)*time.Millisecond {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"method": r.Method, "query": r.URL.RawQuery, "body": string(body)})
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		gap := gap
		if g, err := strconv.Atoi(r.URL.Query().Get("gap_ms")); err == nil && g >= 0 {
			gap = g
		}
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range n {
			fmt.Fprintf(w, "data: event %d %d\n\n", i, time.Now().UnixNano())
			_ = rc.Flush()
			select {
			case <-time.After(time.Duration(gap) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.URL.Query().Get("addr"), time.Second)
		if err != nil {
			fmt.Fprint(w, "error: ", err)
			return
		}
		c.Close()
		fmt.Fprint(w, "connected")
	})
	mux.HandleFunc("POST /exit", func(http.ResponseWriter, *http.Request) { os.Exit(3) })
	addr := net.JoinHostPort(os.Getenv("HOST"), os.Getenv("PORT"))
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
