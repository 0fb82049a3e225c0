package native

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DecodeParams decodes a module's genesis params raw into dst, strictly:
// unknown fields and trailing data are errors. It reports false, and
// leaves dst alone, when raw is empty or JSON null (the module's defaults
// apply). Errors wrap ErrBadParams and name the module.
func DecodeParams(raw json.RawMessage, module string, dst any) (bool, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrBadParams, module, err)
	}
	if dec.More() {
		return false, fmt.Errorf("%w: %s: trailing data after params", ErrBadParams, module)
	}
	return true, nil
}
