// Package cdp drives a headless Chromium over the Chrome DevTools Protocol
// for tests of the node's web pages (the dashboard): it starts the browser
// as a child process on a loopback debugging port, opens pages, evaluates
// JavaScript, records console errors and uncaught exceptions, and takes
// screenshots. It speaks the protocol's JSON messages directly over a
// WebSocket (gorilla/websocket): only the few methods the tests need.
//
// Find locates a Chromium binary (EMCD_CHROMIUM, then chromium,
// chromium-browser, google-chrome, google-chrome-stable on PATH); tests
// skip with its error when there is none.
package cdp

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ErrNoBrowser is returned by Find when no Chromium binary is found.
var ErrNoBrowser = errors.New("cdp: no Chromium binary found (set EMCD_CHROMIUM or install chromium)")

// Find returns the path of a Chromium binary.
func Find() (string, error) {
	if p := os.Getenv("EMCD_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%w: EMCD_CHROMIUM: %w", ErrNoBrowser, err)
		}
		return path, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// message is one CDP message in either direction.
type message struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// Browser is a running Chromium with a DevTools connection.
type Browser struct {
	cmd     *exec.Cmd
	dataDir string
	conn    *websocket.Conn
	stderr  *tail

	writeMu sync.Mutex
	mu      sync.Mutex
	nextID  int64
	calls   map[int64]chan message
	pages   map[string]*Page // by session id
	closed  chan struct{}
	err     error // why the connection ended
	once    sync.Once
}

// tail keeps the last bytes written to it (the browser's stderr).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 16<<10 {
		t.buf = t.buf[len(t.buf)-16<<10:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// Launch starts the browser at path headless, with a fresh profile, and
// connects to it; ctx bounds the start. Close stops it.
func Launch(ctx context.Context, path string) (*Browser, error) {
	dir, err := os.MkdirTemp("", "emcd-cdp-*")
	if err != nil {
		return nil, fmt.Errorf("cdp: profile dir: %w", err)
	}
	args := []string{
		"--headless=new", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
		"--user-data-dir=" + dir, "--no-first-run", "--no-default-browser-check", "--disable-gpu",
		"--disable-dev-shm-usage", "--disable-extensions", "--disable-background-networking",
		"--disable-sync", "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
		"--window-size=1280,900", "about:blank",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox") // Chromium refuses to run its sandbox as root
	}
	cmd := exec.Command(path, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cdp: %w", err)
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cdp: start %s: %w", path, err)
	}
	b := &Browser{cmd: cmd, dataDir: dir, stderr: &tail{}, calls: map[int64]chan message{},
		pages: map[string]*Page{}, closed: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(b.stderr, line)
			if i := strings.Index(line, "DevTools listening on "); i >= 0 {
				select {
				case found <- strings.TrimSpace(line[i+len("DevTools listening on "):]):
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-ctx.Done():
		b.kill()
		return nil, fmt.Errorf("cdp: browser did not announce its DevTools port: %w; stderr:\n%s", ctx.Err(), b.stderr)
	}
	conn, _, err := (&websocket.Dialer{HandshakeTimeout: 10 * time.Second}).DialContext(ctx, wsURL, nil)
	if err != nil {
		b.kill()
		return nil, fmt.Errorf("cdp: connect %s: %w", wsURL, err)
	}
	conn.SetReadLimit(64 << 20) // screenshots
	b.conn = conn
	go b.read()
	return b, nil
}

// Stderr returns the tail of the browser's standard error.
func (b *Browser) Stderr() string { return b.stderr.String() }

func (b *Browser) read() {
	for {
		var m message
		if err := b.conn.ReadJSON(&m); err != nil {
			b.shut(fmt.Errorf("cdp: connection: %w", err))
			return
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.calls[m.ID]
			delete(b.calls, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		b.mu.Lock()
		p := b.pages[m.SessionID]
		b.mu.Unlock()
		if p != nil {
			p.event(m.Method, m.Params)
		}
	}
}

func (b *Browser) shut(err error) {
	b.once.Do(func() {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
		close(b.closed)
	})
}

// call sends method with params on session ("" for the browser) and
// decodes the result into out (when non-nil).
func (b *Browser) call(ctx context.Context, session, method string, params, out any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("cdp: %s params: %w", method, err)
	}
	if params == nil {
		raw = []byte("{}")
	}
	ch := make(chan message, 1)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	b.calls[id] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.calls, id)
		b.mu.Unlock()
	}()
	b.writeMu.Lock()
	err = b.conn.WriteJSON(message{ID: id, Method: method, Params: raw, SessionID: session})
	b.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("cdp: send %s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("cdp: %s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if out != nil {
			if err := json.Unmarshal(m.Result, out); err != nil {
				return fmt.Errorf("cdp: %s result: %w", method, err)
			}
		}
		return nil
	case <-b.closed:
		b.mu.Lock()
		err := b.err
		b.mu.Unlock()
		return fmt.Errorf("cdp: %s: %w", method, err)
	case <-ctx.Done():
		return fmt.Errorf("cdp: %s: %w", method, ctx.Err())
	}
}

// NewPage opens a blank tab, attaches to it and enables the Page, Runtime
// and Log domains, so that console errors and exceptions are recorded from
// the first navigation on.
func (b *Browser) NewPage(ctx context.Context) (*Page, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return nil, err
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		return nil, err
	}
	p := &Page{b: b, session: att.SessionID, target: target.TargetID}
	b.mu.Lock()
	b.pages[att.SessionID] = p
	b.mu.Unlock()
	for _, domain := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		if err := p.Call(ctx, domain, nil, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Close closes the browser and removes its profile; it is safe to call
// more than once.
func (b *Browser) Close() error {
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = b.call(ctx, "", "Browser.close", nil, nil) // the process may be gone already
		cancel()
		b.conn.Close()
	}
	b.shut(errors.New("cdp: browser closed"))
	b.kill()
	return nil
}

// kill ends the browser process (and waits for it) and removes the profile.
func (b *Browser) kill() {
	if b.cmd.Process != nil && b.cmd.ProcessState == nil {
		done := make(chan struct{})
		go func() { b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			b.cmd.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(b.dataDir)
}

// Page is one attached tab.
type Page struct {
	b       *Browser
	session string
	target  string

	mu       sync.Mutex
	problems []string
	console  []string
}

// event records console messages, uncaught exceptions and error log
// entries.
func (p *Page) event(method string, params json.RawMessage) {
	switch method {
	case "Runtime.consoleAPICalled":
		var ev struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if json.Unmarshal(params, &ev) != nil {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			if a.Value != nil {
				parts = append(parts, fmt.Sprint(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		line := "console." + ev.Type + ": " + strings.Join(parts, " ")
		p.mu.Lock()
		p.console = append(p.console, line)
		if ev.Type == "error" || ev.Type == "assert" {
			p.problems = append(p.problems, line)
		}
		p.mu.Unlock()
	case "Runtime.exceptionThrown":
		var ev struct {
			Details struct {
				Text      string `json:"text"`
				URL       string `json:"url"`
				Line      int    `json:"lineNumber"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		if json.Unmarshal(params, &ev) != nil {
			return
		}
		d := ev.Details
		p.mu.Lock()
		p.problems = append(p.problems, fmt.Sprintf("exception: %s %s (%s:%d)", d.Text, d.Exception.Description, d.URL, d.Line+1))
		p.mu.Unlock()
	case "Log.entryAdded":
		var ev struct {
			Entry struct {
				Level  string `json:"level"`
				Source string `json:"source"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		if json.Unmarshal(params, &ev) != nil || ev.Entry.Level != "error" {
			return
		}
		e := ev.Entry
		p.mu.Lock()
		p.problems = append(p.problems, fmt.Sprintf("log %s error: %s %s", e.Source, e.Text, e.URL))
		p.mu.Unlock()
	}
}

// Problems returns the console errors, uncaught exceptions and error log
// entries (failed loads, CSP violations) the page produced so far.
func (p *Page) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}

// Console returns every console message so far.
func (p *Page) Console() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.console...)
}

// Call sends a CDP method to this page's session.
func (p *Page) Call(ctx context.Context, method string, params, out any) error {
	return p.b.call(ctx, p.session, method, params, out)
}

// Navigate loads url and waits until the document has loaded.
func (p *Page) Navigate(ctx context.Context, url string) error {
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.Call(ctx, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("cdp: navigate %s: %s", url, nav.ErrorText)
	}
	return p.WaitFor(ctx, `document.readyState === "complete"`)
}

// Evaluate runs expr in the page (awaiting a promise) and decodes its
// value into out (when non-nil). A thrown exception is an error.
func (p *Page) Evaluate(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res); err != nil {
		return err
	}
	if res.Exception != nil {
		return fmt.Errorf("cdp: evaluate %q: %s %s", expr, res.Exception.Text, res.Exception.Exception.Description)
	}
	if out == nil || len(res.Result.Value) == 0 {
		return nil
	}
	if err := json.Unmarshal(res.Result.Value, out); err != nil {
		return fmt.Errorf("cdp: evaluate %q: %w", expr, err)
	}
	return nil
}

// WaitFor polls the boolean expression cond until it is true or ctx ends.
func (p *Page) WaitFor(ctx context.Context, cond string) error {
	for {
		var ok bool
		err := p.Evaluate(ctx, "Boolean("+cond+")", &ok)
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("still false")
			}
			return fmt.Errorf("cdp: waiting for %s: %w (%w)", cond, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// SetViewport emulates a window of width × height CSS pixels (mobile: a
// phone's viewport and touch).
func (p *Page) SetViewport(ctx context.Context, width, height int, mobile bool) error {
	scale := 1
	if mobile {
		scale = 2
	}
	return p.Call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile}, nil)
}

// Screenshot returns a PNG of the whole page (beyond the viewport).
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	var m struct {
		Content struct {
			Width  float64 `json:"width"`
			Height float64 `json:"height"`
		} `json:"cssContentSize"`
	}
	if err := p.Call(ctx, "Page.getLayoutMetrics", nil, &m); err != nil {
		return nil, err
	}
	var shot struct {
		Data string `json:"data"`
	}
	if err := p.Call(ctx, "Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": m.Content.Width, "height": m.Content.Height, "scale": 1},
	}, &shot); err != nil {
		return nil, err
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return nil, fmt.Errorf("cdp: screenshot: %w", err)
	}
	return png, nil
}
