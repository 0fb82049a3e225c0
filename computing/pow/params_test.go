package pow_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/emc-network/emcd/computing/pow"
	"github.com/emc-network/emcd/computing/registry"
	"github.com/emc-network/emcd/state/native"
)

func TestParamsDefaults(t *testing.T) {
	for _, raw := range []string{"", "null", " {} ", `{"classes": null}`} {
		p, err := pow.ParseParams(json.RawMessage(raw))
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if len(p.Classes) != len(pow.DefaultParams().Classes) || p.ChunksPerValidator != pow.DefaultChunksPerValidator {
			t.Fatalf("%q: %+v", raw, p)
		}
	}
	if err := pow.DefaultParams().Validate(); err != nil {
		t.Fatal(err)
	}
	if pow.MaxModelBytes != registry.MaxModelBytes {
		t.Fatalf("MaxModelBytes %d, registry's %d", pow.MaxModelBytes, registry.MaxModelBytes)
	}
}

func TestParamsPartial(t *testing.T) {
	p, err := pow.ParseParams(json.RawMessage(`{"chunksPerValidator": 8}`))
	if err != nil || p.ChunksPerValidator != 8 || len(p.Classes) != len(pow.DefaultParams().Classes) {
		t.Fatalf("%+v %v", p, err)
	}
	p, err = pow.ParseParams(json.RawMessage(`{"classes": [
		{"name": "big", "models": ["NVIDIA H100 80GB HBM3"], "n": 65536, "deadlineSeconds": 3600},
		{"name": "small", "n": 64, "deadlineSeconds": 1}],
		"defaultClass": "small", "cpuClass": "small", "simulatedClass": "small"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Classes) != 2 || p.Classes[0].N != 65536 || p.Classes[1].DeadlineSeconds != 1 {
		t.Fatalf("%+v", p)
	}
}

func TestParamsRefusals(t *testing.T) {
	cls := func(body string) string {
		return `{"classes": [` + body + `], "defaultClass": "a", "cpuClass": "a", "simulatedClass": "a"}`
	}
	for name, raw := range map[string]string{
		"not json":               `{`,
		"unknown field":          `{"rowz": 1}`,
		"unknown class field":    cls(`{"name": "a", "n": 64, "deadlineSeconds": 1, "x": 1}`),
		"trailing data":          `{} {}`,
		"rows 0":                 `{"chunksPerValidator": 0}`,
		"rows 17":                `{"chunksPerValidator": 17}`,
		"no classes":             `{"classes": []}`,
		"65 classes":             `{"classes": [` + strings.Repeat(`{"name": "a", "n": 64, "deadlineSeconds": 1},`, 64) + `{"name": "a", "n": 64, "deadlineSeconds": 1}]}`,
		"n 0":                    cls(`{"name": "a", "n": 0, "deadlineSeconds": 1}`),
		"n above MaxN":           cls(`{"name": "a", "n": 65537, "deadlineSeconds": 1}`),
		"n not a chunk multiple": cls(`{"name": "a", "n": 100, "deadlineSeconds": 1}`),
		"n negative":             cls(`{"name": "a", "n": -8, "deadlineSeconds": 1}`),
		"deadline 0":             cls(`{"name": "a", "n": 64, "deadlineSeconds": 0}`),
		"deadline too long":      cls(`{"name": "a", "n": 64, "deadlineSeconds": 3601}`),
		"deadline negative":      cls(`{"name": "a", "n": 64, "deadlineSeconds": -1}`),
		"empty name":             `{"classes": [{"name": "", "n": 64, "deadlineSeconds": 1}], "defaultClass": "", "cpuClass": "", "simulatedClass": ""}`,
		"upper-case name":        `{"classes": [{"name": "A", "n": 64, "deadlineSeconds": 1}], "defaultClass": "A", "cpuClass": "A", "simulatedClass": "A"}`,
		"long name":              cls(`{"name": "a", "n": 64, "deadlineSeconds": 1}, {"name": "` + strings.Repeat("b", 33) + `", "n": 64, "deadlineSeconds": 1}`),
		"duplicate name":         cls(`{"name": "a", "n": 64, "deadlineSeconds": 1}, {"name": "a", "n": 128, "deadlineSeconds": 1}`),
		"empty model":            cls(`{"name": "a", "models": [""], "n": 64, "deadlineSeconds": 1}`),
		"non-ASCII model":        cls(`{"name": "a", "models": ["GPU\u00e9"], "n": 64, "deadlineSeconds": 1}`),
		"control in model":       cls(`{"name": "a", "models": ["GPU\n"], "n": 64, "deadlineSeconds": 1}`),
		"long model":             cls(`{"name": "a", "models": ["` + strings.Repeat("x", 65) + `"], "n": 64, "deadlineSeconds": 1}`),
		"model in two":           cls(`{"name": "a", "models": ["NVIDIA L4"], "n": 64, "deadlineSeconds": 1}, {"name": "b", "models": ["nvidia l4"], "n": 64, "deadlineSeconds": 1}`),
		"33 models":              cls(`{"name": "a", "models": [` + strings.TrimSuffix(strings.Repeat(`"m",`, 33), ",") + `], "n": 64, "deadlineSeconds": 1}`),
		"default not a class":    `{"defaultClass": "nope"}`,
		"cpu not a class":        `{"cpuClass": "nope"}`,
		"sim not a class":        `{"simulatedClass": ""}`,
	} {
		if _, err := pow.ParseParams(json.RawMessage(raw)); !errors.Is(err, native.ErrBadParams) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestClassFor(t *testing.T) {
	p := pow.DefaultParams()
	for _, tc := range []struct {
		model string
		count uint32
		sim   bool
		want  string
	}{
		{"NVIDIA H100 80GB HBM3", 8, false, "h100"},
		{"nvidia h100 80gb hbm3", 1, false, "h100"},
		{"NVIDIA H200", 8, false, "h100"},
		{"NVIDIA A100-SXM4-80GB", 8, false, "a100"},
		{"NVIDIA GeForce RTX 4090", 1, false, "ada"},
		{"Some Future GPU", 1, false, "gpu"},
		{"", 0, false, "cpu"},
		{"NVIDIA H100 80GB HBM3", 0, false, "cpu"},
		{"Simulated NVIDIA H100 80GB HBM3", 2, true, "simulated"},
		{"NVIDIA H100 80GB HBM3", 2, true, "simulated"},
	} {
		c, ok := p.ClassFor(tc.model, tc.count, tc.sim)
		if !ok || c.Name != tc.want {
			t.Errorf("%q ×%d sim %v: %q %v, want %q", tc.model, tc.count, tc.sim, c.Name, ok, tc.want)
		}
	}
	if _, ok := (pow.Params{}).ClassFor("x", 1, false); ok {
		t.Error("invalid params give a class")
	}
}

// FuzzParseParams: parsing genesis bytes never panics, and accepted params
// work for every node: each class can be sampled with chunksPerValidator
// rows, and ClassFor finds a class for any listing.
func FuzzParseParams(f *testing.F) {
	f.Add([]byte(`{"chunksPerValidator": 8}`))
	f.Add([]byte(`{"classes": [{"name": "a", "models": ["X"], "n": 64, "deadlineSeconds": 1}], "defaultClass": "a", "cpuClass": "a", "simulatedClass": "a", "chunksPerValidator": 4}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := pow.ParseParams(raw)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted params fail Validate: %v", err)
		}
		for _, c := range p.Classes {
			if _, err := pow.SampleChunks([32]byte{}, [32]byte{}, [20]byte{}, c.N, p.ChunksPerValidator); err != nil {
				t.Fatalf("class %q cannot be sampled: %v", c.Name, err)
			}
		}
		for _, l := range []struct {
			model string
			count uint32
			sim   bool
		}{{"X", 1, false}, {"", 0, false}, {"x", 1, true}, {string(raw), 1, false}} {
			if _, ok := p.ClassFor(l.model, l.count, l.sim); !ok {
				t.Fatalf("no class for %+v", l)
			}
		}
	})
}
