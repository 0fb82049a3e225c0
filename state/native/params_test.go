package native

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDecodeParams(t *testing.T) {
	type P struct {
		A *uint64 `json:"a"`
	}
	for _, raw := range []string{"", "  ", "null", " null\n"} {
		var p P
		present, err := DecodeParams(json.RawMessage(raw), "m", &p)
		if present || err != nil || p.A != nil {
			t.Fatalf("%q: present %v err %v", raw, present, err)
		}
	}
	var p P
	if present, err := DecodeParams(json.RawMessage(` {"a": 7} `), "m", &p); !present || err != nil || p.A == nil || *p.A != 7 {
		t.Fatalf("valid params: present %v err %v", present, err)
	}
	for _, raw := range []string{`{"b": 1}`, `{"a": 1} {"a": 2}`, `{"a": 1} x`, `{"a": -1}`, `[1]`, `{`} {
		var p P
		present, err := DecodeParams(json.RawMessage(raw), "m", &p)
		if present || !errors.Is(err, ErrBadParams) {
			t.Fatalf("%q: present %v err %v, want ErrBadParams", raw, present, err)
		}
	}
}
