package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// Vectors follow RFC 8785 (sections 3.2.2 and 3.2.3), restricted to the
// integer numbers this package supports.
func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"whitespace", " { \"b\" : [ 1 , 2 ] ,\n\"a\" : true } ", `{"a":true,"b":[1,2]}`},
		{"literals", `[null,true,false]`, `[null,true,false]`},
		{"integers", `[0,-0,1.0,1e2,-9007199254740991,9007199254740991,10E0,-0.0]`, `[0,0,1,100,-9007199254740991,9007199254740991,10,0]`},
		// RFC 8785 3.2.3: sorted by UTF-16 code units, so U+1F600 (a
		// surrogate pair) sorts before U+FB33.
		{"utf16 order", `{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"\u00f6":7,"</script>":8}`,
			"{\"\\r\":2,\"1\":4,\"</script>\":8,\"\u0080\":6,\"\u00f6\":7,\"\u20ac\":1,\"\U0001F600\":5,\"\ufb33\":3}"},
		// RFC 8785 3.2.2.2: only '"', '\\' and controls are escaped, controls
		// with short forms where they exist, else lower-case \u00xx.
		{"strings", `["\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","\u2028<>&\u007f"]`,
			"[\"\u20ac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\",\"\u2028<>&\u007f\"]"},
		{"nested", `{"z":{"y":[{"b":1,"a":2}]},"a":[]}`, `{"a":[],"z":{"y":[{"a":2,"b":1}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			again, err := Canonicalize(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("not a fixed point: %s, %v", again, err)
			}
		})
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	for _, in := range []string{
		`1.5`, `1e300`, `9007199254740992`, `9007199254740993`, `9.007199254740993e15`, `{"a":1,"a":2}`, "\"\xff\"", `[1,2`, `{} {}`, `{"a"}`, ``,
		string(bytes.Repeat([]byte("["), maxDepth+2)) + string(bytes.Repeat([]byte("]"), maxDepth+2)),
	} {
		if _, err := Canonicalize([]byte(in)); !errors.Is(err, ErrNotCanonicalizable) {
			t.Errorf("Canonicalize(%.40q) = %v, want ErrNotCanonicalizable", in, err)
		}
	}
}

// FuzzCanonicalize checks that canonical output is valid JSON equal in
// meaning to the input, and a fixed point.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[true,null,"x"]}`, `"\u00e9\n"`, `-0`, `{"\ud83d\ude00":{}}`, `1e2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Canonicalize(data)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out: %q", out)
		}
		again, err := Canonicalize(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point: %q -> %q, %v", out, again, err)
		}
		var a, b any
		if json.Unmarshal(data, &a) != nil || json.Unmarshal(out, &b) != nil {
			t.Fatal("unmarshal failed on canonicalizable input")
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("meaning changed: %v vs %v", a, b)
		}
	})
}
