package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrNotCanonicalizable is returned by Canonicalize for input outside the
// subset of JSON this package canonicalizes: invalid UTF-8, duplicate object
// keys, numbers that are not integers of magnitude at most 2^53-1, nesting
// deeper than maxDepth, or trailing data.
var ErrNotCanonicalizable = errors.New("job: JSON not canonicalizable")

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

// maxSafeInteger is 2^53-1 (ECMAScript's Number.MAX_SAFE_INTEGER): every
// integer up to it is exact in an IEEE double, so ES6 formats it as its
// decimal digits.
const maxSafeInteger = 1<<53 - 1

// Canonicalize returns the RFC 8785 (JCS) form of a JSON text: no
// insignificant whitespace, object members sorted by the UTF-16 code units of
// their names, strings escaped as ECMAScript's JSON.stringify does, and
// numbers in ES6 form. Only integral numbers are accepted (1.0 and 1e2 are,
// and become 1 and 100); see ErrNotCanonicalizable.
func Canonicalize(data []byte) ([]byte, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: invalid UTF-8", ErrNotCanonicalizable)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out bytes.Buffer
	out.Grow(len(data))
	if err := canonValue(dec, &out, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", ErrNotCanonicalizable)
	}
	return out.Bytes(), nil
}

// canonValue reads one value from dec and writes its canonical form.
func canonValue(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrNotCanonicalizable, maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotCanonicalizable, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return canonObject(dec, out, depth)
		case '[':
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := canonValue(dec, out, depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // ']'
				return fmt.Errorf("%w: %w", ErrNotCanonicalizable, err)
			}
			out.WriteByte(']')
			return nil
		}
		return fmt.Errorf("%w: unexpected %q", ErrNotCanonicalizable, t)
	case string:
		writeString(out, t)
	case json.Number:
		s, err := canonNumber(t)
		if err != nil {
			return err
		}
		out.WriteString(s)
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	default:
		return fmt.Errorf("%w: unexpected token %v", ErrNotCanonicalizable, tok)
	}
	return nil
}

func canonObject(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	type member struct {
		key   string
		units []uint16
		value []byte
	}
	var members []member
	seen := make(map[string]struct{})
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotCanonicalizable, err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%w: object key %v", ErrNotCanonicalizable, tok)
		}
		if _, dup := seen[key]; dup {
			return fmt.Errorf("%w: duplicate key %q", ErrNotCanonicalizable, key)
		}
		seen[key] = struct{}{}
		var v bytes.Buffer
		if err := canonValue(dec, &v, depth+1); err != nil {
			return err
		}
		members = append(members, member{key, utf16.Encode([]rune(key)), v.Bytes()})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fmt.Errorf("%w: %w", ErrNotCanonicalizable, err)
	}
	slices.SortFunc(members, func(a, b member) int { return slices.Compare(a.units, b.units) })
	out.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			out.WriteByte(',')
		}
		writeString(out, m.key)
		out.WriteByte(':')
		out.Write(m.value)
	}
	out.WriteByte('}')
	return nil
}

// canonNumber formats n as ES6 does, for integers within ±2^53.
func canonNumber(n json.Number) (string, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i > maxSafeInteger || i < -maxSafeInteger {
			return "", fmt.Errorf("%w: number %s is not an integer within ±(2^53-1)", ErrNotCanonicalizable, n)
		}
		return strconv.FormatInt(i, 10), nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("%w: number %s", ErrNotCanonicalizable, n)
	}
	if f != math.Trunc(f) || math.Abs(f) > maxSafeInteger {
		return "", fmt.Errorf("%w: number %s is not an integer within ±(2^53-1)", ErrNotCanonicalizable, n)
	}
	if f == 0 {
		return "0", nil // also -0, as ES6 prints it
	}
	return strconv.FormatInt(int64(f), 10), nil
}

// writeString writes s quoted as ECMAScript JSON.stringify does (RFC 8785
// section 3.2.2.2): only '"', '\\' and control characters are escaped.
func writeString(out *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	out.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			out.WriteByte('\\')
			out.WriteByte(c)
		case c == '\b':
			out.WriteString(`\b`)
		case c == '\t':
			out.WriteString(`\t`)
		case c == '\n':
			out.WriteString(`\n`)
		case c == '\f':
			out.WriteString(`\f`)
		case c == '\r':
			out.WriteString(`\r`)
		case c < 0x20:
			out.WriteString(`\u00`)
			out.WriteByte(hex[c>>4])
			out.WriteByte(hex[c&0xf])
		default:
			out.WriteByte(c)
		}
	}
	out.WriteByte('"')
}

// CanonicalJSON marshals v with encoding/json and canonicalizes the result.
// v must only hold integers as numbers.
func CanonicalJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("job: marshal: %w", err)
	}
	return Canonicalize(raw)
}
