package cdp

import (
	"strings"
	"testing"
)

// TestPageEvents: console errors, exceptions and error log entries are
// recorded as problems; other console messages only as console lines.
func TestPageEvents(t *testing.T) {
	p := &Page{}
	p.event("Runtime.consoleAPICalled", []byte(`{"type":"log","args":[{"type":"string","value":"hello"}]}`))
	p.event("Runtime.consoleAPICalled", []byte(`{"type":"error","args":[{"type":"string","value":"boom"},{"type":"object","description":"Error: x"}]}`))
	p.event("Runtime.exceptionThrown", []byte(`{"exceptionDetails":{"text":"Uncaught","url":"http://h/app.js","lineNumber":9,"exception":{"description":"TypeError: y"}}}`))
	p.event("Log.entryAdded", []byte(`{"entry":{"level":"error","source":"network","text":"404","url":"http://h/x.css"}}`))
	p.event("Log.entryAdded", []byte(`{"entry":{"level":"warning","source":"other","text":"meh"}}`))
	p.event("Page.loadEventFired", []byte(`{}`))
	got := p.Problems()
	want := []string{"console.error: boom Error: x", "exception: Uncaught TypeError: y (http://h/app.js:10)", "log network error: 404 http://h/x.css"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := p.Console(); len(c) != 2 || c[0] != "console.log: hello" {
		t.Fatalf("console %q", c)
	}
}

// FuzzPageEvent: whatever the browser sends, recording it never panics.
func FuzzPageEvent(f *testing.F) {
	f.Add("Runtime.consoleAPICalled", []byte(`{"type":"error","args":[{"value":1}]}`))
	f.Add("Runtime.exceptionThrown", []byte(`{"exceptionDetails":{"text":"x"}}`))
	f.Add("Log.entryAdded", []byte(`{"entry":{"level":"error"}}`))
	f.Add("Log.entryAdded", []byte(`null`))
	f.Fuzz(func(t *testing.T, method string, params []byte) {
		p := &Page{}
		p.event(method, params)
		_ = p.Problems()
	})
}
