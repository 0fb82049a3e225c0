package pow

import (
	"encoding/json"
	"fmt"

	"github.com/emc-network/emcd/state/native"
)

// Params are the proof-of-work genesis parameters: the class table and how
// many chunks each validator checks. They are the "pow" entry of the
// verification module's params (the module is the next slice):
//
//	"pow": {"chunksPerValidator": 8, "defaultClass": "gpu", "cpuClass": "cpu",
//	        "simulatedClass": "simulated",
//	        "classes": [{"name": "h100", "models": ["NVIDIA H100 80GB HBM3"],
//	                     "n": 32768, "deadlineSeconds": 30}, …]}
//
// Absent fields take defaults; a given "classes" replaces the whole
// default table. Unknown fields are an error.
type Params struct {
	// Classes is the class table, at most MaxClasses entries.
	Classes []Class
	// DefaultClass names the class of a GPU model no class lists, so that
	// claiming an unknown model does not escape the challenge.
	DefaultClass string
	// CPUClass names the class of a node with no GPUs.
	CPUClass string
	// SimulatedClass names the class of a node whose inventory is
	// simulated (dev and testnet chains); it takes precedence.
	SimulatedClass string
	// ChunksPerValidator is how many chunks each validator asks for (k in
	// SampleChunks): 1 to MaxOpenings.
	ChunksPerValidator int
}

// Class is one GPU class: the problem size its nodes are challenged with
// and the time they have to commit a root.
type Class struct {
	// Name: 1 to MaxClassNameBytes of [a-z0-9-], distinct in the table.
	Name string
	// Models are registry GPU model strings (as NVML reports them, e.g.
	// "NVIDIA H100 80GB HBM3"), matched ignoring ASCII case; each printable
	// ASCII of 1 to MaxModelBytes, at most MaxModelsPerClass, and no model
	// in two classes.
	Models []string
	// N is the problem size, MinN to MaxN.
	N int
	// DeadlineSeconds: the root must be committed in a block whose time is
	// at most the challenge block's time plus this; 1 to
	// MaxDeadlineSeconds.
	DeadlineSeconds uint64
}

// Table bounds.
const (
	MaxClasses         = 64
	MaxModelsPerClass  = 32
	MaxClassNameBytes  = 32
	MaxModelBytes      = 64 // registry.MaxModelBytes
	MaxDeadlineSeconds = 3600
	// DefaultChunksPerValidator: a node that computed a fraction f of the
	// chunks passes one validator with probability f^8, and two of three
	// with about 3·f^16 (f = 1/2: 4.6·10^-5 per challenge). With 4 chunks
	// the market simulator saw half-wrong nodes pass about 1.1 % of their
	// challenges (3·f^8), and be paid for them.
	DefaultChunksPerValidator = 8
)

// DefaultParams returns the default table. The sizes count n³ int8
// multiply-adds, the tensor-core GEMM: n = 32768 is 3.5·10^13, about 50 ms
// at an H100's int8 peak, with the output C (4·n² bytes = 4 GiB) and the
// inputs (2 GiB) in any class's memory; smaller classes get smaller n.
// They are reasoned from published peaks, not measured: calibrate them,
// and the deadlines, on the hardware before a production genesis. A
// deadline only separates a GPU from a CPU if it is below what CPUs reach
// on the same n: a 16-core AVX-512 VNNI server peaks near 5·10^12
// multiply-adds a second (about 7 s at n = 32768), and one with AMX much
// higher. The deadlines here leave room for generating the inputs,
// hashing C and getting the root on chain.
func DefaultParams() Params {
	return Params{
		Classes: []Class{
			{Name: "h100", Models: []string{"NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H100 NVL",
				"NVIDIA H200", "NVIDIA H200 NVL"}, N: 32768, DeadlineSeconds: 30},
			{Name: "a100", Models: []string{"NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-40GB",
				"NVIDIA A100-PCIE-40GB", "NVIDIA A100 80GB PCIe"}, N: 24576, DeadlineSeconds: 30},
			{Name: "ada", Models: []string{"NVIDIA GeForce RTX 4090", "NVIDIA L40S", "NVIDIA L40"},
				N: 24576, DeadlineSeconds: 30},
			{Name: "gpu", N: 8192, DeadlineSeconds: 30},
			{Name: "cpu", N: 1024, DeadlineSeconds: 120},
			{Name: "simulated", N: 256, DeadlineSeconds: 60},
		},
		DefaultClass:       "gpu",
		CPUClass:           "cpu",
		SimulatedClass:     "simulated",
		ChunksPerValidator: DefaultChunksPerValidator,
	}
}

type paramsJSON struct {
	Classes            *[]classJSON `json:"classes"`
	DefaultClass       *string      `json:"defaultClass"`
	CPUClass           *string      `json:"cpuClass"`
	SimulatedClass     *string      `json:"simulatedClass"`
	ChunksPerValidator *int         `json:"chunksPerValidator"`
}

type classJSON struct {
	Name            string   `json:"name"`
	Models          []string `json:"models"`
	N               int      `json:"n"`
	DeadlineSeconds uint64   `json:"deadlineSeconds"`
}

// ParseParams decodes and validates raw (nil or JSON null means all
// defaults). Errors wrap native.ErrBadParams.
func ParseParams(raw json.RawMessage) (Params, error) {
	p := DefaultParams()
	var j paramsJSON
	present, err := native.DecodeParams(raw, "pow", &j)
	if err != nil {
		return Params{}, err
	}
	if !present {
		return p, nil
	}
	if j.Classes != nil {
		if len(*j.Classes) > MaxClasses {
			return Params{}, fmt.Errorf("%w: pow: %d classes (at most %d)", native.ErrBadParams, len(*j.Classes), MaxClasses)
		}
		p.Classes = make([]Class, len(*j.Classes))
		for i, c := range *j.Classes {
			p.Classes[i] = Class(c)
		}
	}
	for _, x := range []struct {
		src *string
		dst *string
	}{{j.DefaultClass, &p.DefaultClass}, {j.CPUClass, &p.CPUClass}, {j.SimulatedClass, &p.SimulatedClass}} {
		if x.src != nil {
			*x.dst = *x.src
		}
	}
	if j.ChunksPerValidator != nil {
		p.ChunksPerValidator = *j.ChunksPerValidator
	}
	return p, p.Validate()
}

// Validate checks p against the rules on its fields.
func (p Params) Validate() error {
	if len(p.Classes) == 0 || len(p.Classes) > MaxClasses {
		return fmt.Errorf("%w: pow: %d classes (1 to %d)", native.ErrBadParams, len(p.Classes), MaxClasses)
	}
	if p.ChunksPerValidator < 1 || p.ChunksPerValidator > MaxOpenings {
		return fmt.Errorf("%w: pow: chunksPerValidator %d (1 to %d)", native.ErrBadParams, p.ChunksPerValidator, MaxOpenings)
	}
	names := map[string]bool{}
	models := map[string]string{}
	for i, c := range p.Classes {
		if err := checkClassName(c.Name); err != nil {
			return fmt.Errorf("%w: pow: classes[%d]: name %q: %w", native.ErrBadParams, i, c.Name, err)
		}
		if names[c.Name] {
			return fmt.Errorf("%w: pow: class %q listed twice", native.ErrBadParams, c.Name)
		}
		names[c.Name] = true
		if checkN(c.N) != nil {
			return fmt.Errorf("%w: pow: class %q: n %d (%d to %d, a multiple of %d)", native.ErrBadParams, c.Name, c.N, MinN, MaxN, ChunkEntries)
		}
		if c.DeadlineSeconds == 0 || c.DeadlineSeconds > MaxDeadlineSeconds {
			return fmt.Errorf("%w: pow: class %q: deadlineSeconds %d (1 to %d)", native.ErrBadParams, c.Name, c.DeadlineSeconds, MaxDeadlineSeconds)
		}
		if len(c.Models) > MaxModelsPerClass {
			return fmt.Errorf("%w: pow: class %q: %d models (at most %d)", native.ErrBadParams, c.Name, len(c.Models), MaxModelsPerClass)
		}
		for _, m := range c.Models {
			if err := checkModel(m); err != nil {
				return fmt.Errorf("%w: pow: class %q: model %q: %w", native.ErrBadParams, c.Name, m, err)
			}
			key := lowerASCII(m)
			if prev, ok := models[key]; ok {
				return fmt.Errorf("%w: pow: model %q in classes %q and %q", native.ErrBadParams, m, prev, c.Name)
			}
			models[key] = c.Name
		}
	}
	for _, x := range []struct{ field, name string }{
		{"defaultClass", p.DefaultClass}, {"cpuClass", p.CPUClass}, {"simulatedClass", p.SimulatedClass},
	} {
		if !names[x.name] {
			return fmt.Errorf("%w: pow: %s %q is not a class", native.ErrBadParams, x.field, x.name)
		}
	}
	return nil
}

// ClassFor is the class of a registered node: SimulatedClass for a
// simulated inventory, CPUClass for one without GPUs, else the class
// listing gpuModel (ignoring ASCII case), else DefaultClass. It reports
// false only for params that fail Validate.
func (p Params) ClassFor(gpuModel string, gpuCount uint32, simulated bool) (Class, bool) {
	name := p.DefaultClass
	switch {
	case simulated:
		name = p.SimulatedClass
	case gpuCount == 0:
		name = p.CPUClass
	default:
		key := lowerASCII(gpuModel)
		for _, c := range p.Classes {
			for _, m := range c.Models {
				if lowerASCII(m) == key {
					return c, true
				}
			}
		}
	}
	for _, c := range p.Classes {
		if c.Name == name {
			return c, true
		}
	}
	return Class{}, false
}

func checkClassName(s string) error {
	if len(s) == 0 || len(s) > MaxClassNameBytes {
		return fmt.Errorf("%d bytes (1 to %d)", len(s), MaxClassNameBytes)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return fmt.Errorf("byte %d is not [a-z0-9-]", i)
		}
	}
	return nil
}

func checkModel(s string) error {
	if len(s) == 0 || len(s) > MaxModelBytes {
		return fmt.Errorf("%d bytes (1 to %d)", len(s), MaxModelBytes)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("byte %d is not printable ASCII", i)
		}
	}
	return nil
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
