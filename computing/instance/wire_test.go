package instance

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/rlp"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/p2p"
)

func sampleRequest() *RequestHeader {
	return &RequestHeader{
		Instance: 7, Method: "POST", Path: "/v1/chat", Query: "stream=1",
		Headers: []Header{{"Accept", "text/event-stream"}, {"Content-Type", "application/json"}},
		Key:     "k3y", ContentLength: 12, HasLength: true,
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	enc, err := sampleRequest().Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRequestHeader(enc)
	if err != nil || got.Path != "/v1/chat" || got.Key != "k3y" || len(got.Headers) != 2 || !got.HasLength {
		t.Fatalf("%+v %v", got, err)
	}
	rh := &ResponseHeader{Status: 200, Headers: []Header{{"Content-Type", "text/plain"}}, ContentLength: 3, HasLength: true}
	enc, err = rh.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeResponseHeader(enc); err != nil || got.Status != 200 || got.ContentLength != 3 {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestHeaderChecks(t *testing.T) {
	bad := []func(*RequestHeader){
		func(h *RequestHeader) { h.Method = "CONNECT" },
		func(h *RequestHeader) { h.Path = "v1" },
		func(h *RequestHeader) { h.Path = "/a b" },
		func(h *RequestHeader) { h.Path = "/" + strings.Repeat("a", MaxPath) },
		func(h *RequestHeader) { h.Query = "a\r\nb" },
		func(h *RequestHeader) { h.Headers = append(h.Headers, Header{"Authorization", "x"}) },
		func(h *RequestHeader) { h.Headers = append(h.Headers, Header{"Accept", "x\r\nSet-Cookie: y"}) },
		func(h *RequestHeader) { h.Key = strings.Repeat("k", MaxKey+1) },
		func(h *RequestHeader) { h.HasLength = false },
	}
	for i, mut := range bad {
		h := sampleRequest()
		mut(h)
		if _, err := h.Encode(); !errors.Is(err, p2p.ErrMalformed) {
			t.Errorf("case %d: encode %v, want ErrMalformed", i, err)
		}
	}
	for i, rh := range []*ResponseHeader{
		{Status: 99}, {Status: 600}, {Code: "bad_key", Status: 200}, {Code: "Bad Key"},
		{Status: 200, Headers: []Header{{"Set-Cookie", "a"}}},
	} {
		if _, err := rh.Encode(); !errors.Is(err, p2p.ErrMalformed) {
			t.Errorf("response case %d: %v, want ErrMalformed", i, err)
		}
	}
}

func TestFilterHeaders(t *testing.T) {
	h := http.Header{"Content-Type": {"a"}, "Authorization": {"Bearer x"}, "Cookie": {"c"}, "Accept": {"b\nc", "d"}}
	got := FilterHeaders(h, RequestHeaders)
	if len(got) != 2 || got[0] != (Header{"Accept", "d"}) || got[1] != (Header{"Content-Type", "a"}) {
		t.Fatalf("%v", got)
	}
}

func TestBodyReader(t *testing.T) {
	var buf bytes.Buffer
	for _, c := range []string{"hello ", "relayed ", "world"} {
		if err := WriteChunk(&buf, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	whole := append([]byte(nil), buf.Bytes()...)
	_ = WriteEnd(&buf)
	b, err := io.ReadAll(&BodyReader{R: bufio.NewReader(&buf)})
	if err != nil || string(b) != "hello relayed world" {
		t.Fatalf("%q %v", b, err)
	}
	// Cut before the end frame: an error, never a short whole body.
	if _, err := io.ReadAll(&BodyReader{R: bufio.NewReader(bytes.NewReader(whole))}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut body: %v", err)
	}
	if _, err := io.ReadAll(&BodyReader{R: bufio.NewReader(bytes.NewReader(whole)), Limit: 10}); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("over limit: %v", err)
	}
	var big bytes.Buffer
	_ = p2p.WriteFrame(&big, make([]byte, MaxChunk+1))
	if _, err := io.ReadAll(&BodyReader{R: bufio.NewReader(&big)}); !errors.Is(err, p2p.ErrTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
}

func TestHeaderSync(t *testing.T) {
	h := sampleRequest()
	h.SyncToken = 42
	enc, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRequestHeader(enc)
	if err != nil || got.SyncToken != 42 || len(got.SyncBase) != 0 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// Without a sync, the header encodes as before the fields existed.
	plain, _ := sampleRequest().Encode()
	type before struct {
		Instance      uint64
		Method, Path  string
		Query         string
		Headers       []Header
		Key           string
		ContentLength uint64
		HasLength     bool
	}
	s := sampleRequest()
	old, _ := rlp.EncodeToBytes(before{s.Instance, s.Method, s.Path, s.Query, s.Headers, s.Key, s.ContentLength, s.HasLength})
	if !bytes.Equal(plain, old) {
		t.Fatal("a header without a sync does not encode as before")
	}
	for name, bad := range map[string]*RequestHeader{
		"base without token": func() *RequestHeader { h := sampleRequest(); h.SyncBase = make([]byte, apps.ReceiptLen); return h }(),
		"short base":         func() *RequestHeader { h := sampleRequest(); h.SyncToken = 1; h.SyncBase = []byte{1}; return h }(),
	} {
		if _, err := bad.Encode(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzDecodeRequestHeader(f *testing.F) {
	enc, _ := sampleRequest().Encode()
	f.Add(enc)
	sync := sampleRequest()
	sync.SyncToken = 7
	enc, _ = sync.Encode()
	f.Add(enc)
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeRequestHeader(b)
		if err != nil {
			if !errors.Is(err, p2p.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		// What decodes re-encodes and decodes to the same checks.
		again, err := h.Encode()
		if err != nil {
			t.Fatalf("decoded header does not re-encode: %v", err)
		}
		if _, err := DecodeRequestHeader(again); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeResponseHeader(f *testing.F) {
	enc, _ := (&ResponseHeader{Status: 200, Headers: []Header{{"Content-Type", "text/plain"}}}).Encode()
	f.Add(enc)
	enc, _ = (&ResponseHeader{Code: CodeBadKey, Message: "no"}).Encode()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeResponseHeader(b)
		if err != nil {
			if !errors.Is(err, p2p.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if h.Code == "" && (h.Status < 200 || h.Status > 599) {
			t.Fatalf("accepted status %d", h.Status)
		}
	})
}

func FuzzBodyReader(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteChunk(&buf, []byte("abc"))
	_ = WriteEnd(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &BodyReader{R: bufio.NewReader(bytes.NewReader(b)), Limit: 1 << 16}
		got, err := io.ReadAll(r)
		if int64(len(got)) > 1<<16 || int64(len(got)) != r.Total() && err == nil {
			t.Fatalf("read %d bytes, total %d, err %v", len(got), r.Total(), err)
		}
	})
}
