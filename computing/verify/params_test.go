package verify_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/emc-network/emcd/computing/verify"
	"github.com/emc-network/emcd/state/native"
)

func TestParamsDefaults(t *testing.T) {
	for _, raw := range []string{"", "null", "{}"} {
		p, err := verify.ParseParams(json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if p.AttestBlocks != 20 || p.Verifiers != 3 || p.PassesNeeded != 2 || len(p.PoW.Classes) == 0 {
			t.Fatalf("%q: %+v", raw, p)
		}
	}
	// The defaults fit the default chain (43,200-block epochs of 2 s).
	if _, err := verify.NewModule(verify.DefaultParams(), 43_200, 2_000); err != nil {
		t.Fatal(err)
	}
	p, err := verify.ParseParams(json.RawMessage(`{"pow": {"chunksPerValidator": 8}, "attestBlocks": 5, "verifiers": 5, "passesNeeded": 3}`))
	if err != nil || p.PoW.ChunksPerValidator != 8 || p.AttestBlocks != 5 || p.Verifiers != 5 || p.PassesNeeded != 3 {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestParamsRefusals(t *testing.T) {
	for name, raw := range map[string]string{
		"not json":          `{`,
		"unknown field":     `{"attest": 1}`,
		"trailing":          `{} {}`,
		"attestBlocks 0":    `{"attestBlocks": 0}`,
		"attestBlocks huge": `{"attestBlocks": 1000001}`,
		"verifiers 0":       `{"verifiers": 0, "passesNeeded": 0}`,
		"verifiers 6":       `{"verifiers": 6}`,
		"passes 0":          `{"passesNeeded": 0}`,
		"passes above":      `{"verifiers": 2, "passesNeeded": 3}`,
		"bad pow":           `{"pow": {"chunksPerValidator": 0}}`,
		"pow n not chunked": `{"pow": {"classes": [{"name": "a", "n": 100, "deadlineSeconds": 1}], "defaultClass": "a", "cpuClass": "a", "simulatedClass": "a"}}`,
		"pow unknown":       `{"pow": {"rows": 1}}`,
	} {
		if _, err := verify.ParseParams(json.RawMessage(raw)); !errors.Is(err, native.ErrBadParams) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestTimeline: every class's window must close inside its epoch.
func TestTimeline(t *testing.T) {
	p, err := verify.ParseParams(json.RawMessage(testParams))
	if err != nil {
		t.Fatal(err)
	}
	// CPU class: 20 s = 10 blocks; 1 + 10 + 10 = 21 must be below L.
	for _, tc := range []struct {
		epoch, periodMs uint64
		ok              bool
	}{{22, 2000, true}, {21, 2000, false}, {40, 1000, true}, {31, 1000, false}, {100, 0, false}} {
		err := p.CheckTimeline(tc.epoch, tc.periodMs)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, native.ErrBadParams)) {
			t.Errorf("epoch %d period %d: %v", tc.epoch, tc.periodMs, err)
		}
		if _, err := verify.NewModule(p, tc.epoch, tc.periodMs); (err == nil) != tc.ok {
			t.Errorf("NewModule epoch %d period %d: %v", tc.epoch, tc.periodMs, err)
		}
	}
}

// FuzzParseParams: any input is parsed or refused with ErrBadParams,
// never a panic, and what parses validates.
func FuzzParseParams(f *testing.F) {
	f.Add([]byte(testParams))
	f.Add([]byte(`{"verifiers": 5, "passesNeeded": 5}`))
	f.Add([]byte(`{"pow": null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := verify.ParseParams(b)
		if err != nil {
			if !errors.Is(err, native.ErrBadParams) {
				t.Fatalf("error not ErrBadParams: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed params do not validate: %v", err)
		}
	})
}
