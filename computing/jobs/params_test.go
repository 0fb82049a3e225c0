package jobs_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/jobs"
	"github.com/emc-network/emcd/state/native"
)

// TestParseParams: absent means the defaults; the re-execution params
// parse (the bond in decimal or hex wei) and every bound has its error.
func TestParseParams(t *testing.T) {
	p, err := jobs.ParseParams(nil)
	if err != nil || p.SampleBps != jobs.DefaultSampleBps || p.NewNodeSampleBps != jobs.DefaultNewNodeSampleBps ||
		p.NewNodeJobs != jobs.DefaultNewNodeJobs || !p.DisputeBondWei.Eq(jobs.DefaultDisputeBondWei()) ||
		p.ComputeSlashBps != jobs.DefaultComputeSlashBps || p.JailBlocks != jobs.DefaultJailBlocks || p.DisputeTieBreak {
		t.Fatalf("defaults %+v %v", p, err)
	}
	// A genesis written before disputeTieBreak existed parses as before,
	// the tie break off; it is asked for explicitly.
	p, err = jobs.ParseParams(json.RawMessage(`{"sampleBps":10000,"jailBlocks":2000}`))
	if err != nil || p.DisputeTieBreak || p.SampleBps != 10_000 {
		t.Fatalf("old genesis %+v %v", p, err)
	}
	if p, err = jobs.ParseParams(json.RawMessage(`{"disputeTieBreak":true}`)); err != nil || !p.DisputeTieBreak {
		t.Fatalf("disputeTieBreak on: %+v %v", p, err)
	}
	p, err = jobs.ParseParams(json.RawMessage(`{"sampleBps":0,"newNodeSampleBps":10000,"newNodeJobs":0,
		"disputeBondWei":"0x10","computeSlashBps":10000,"jailBlocks":1}`))
	if err != nil || p.SampleBps != 0 || p.NewNodeSampleBps != 10_000 || p.NewNodeJobs != 0 ||
		!p.DisputeBondWei.Eq(uint256.NewInt(16)) || p.ComputeSlashBps != 10_000 || p.JailBlocks != 1 {
		t.Fatalf("parsed %+v %v", p, err)
	}
	for name, raw := range map[string]string{
		"sample above 100 %":      `{"sampleBps":10001}`,
		"new-node above 100 %":    `{"newNodeSampleBps":10001}`,
		"no slash":                `{"computeSlashBps":0}`,
		"slash above 100 %":       `{"computeSlashBps":10001}`,
		"no jail":                 `{"jailBlocks":0}`,
		"long jail":               `{"jailBlocks":1000001}`,
		"zero bond":               `{"disputeBondWei":"0"}`,
		"negative bond":           `{"disputeBondWei":"-1"}`,
		"bond past uint256":       `{"disputeBondWei":"0x10000000000000000000000000000000000000000000000000000000000000000"}`,
		"new-node jobs too large": `{"newNodeJobs":1000001}`,
		"unknown field":           `{"sampleRate":5}`,
		"bond not a number":       `{"disputeBondWei":"lots"}`,
		"tie break not a bool":    `{"disputeTieBreak":1}`,
	} {
		if _, err := jobs.ParseParams(json.RawMessage(raw)); !errors.Is(err, native.ErrBadParams) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// FuzzParseParams: any params JSON gives valid params or an error wrapping
// native.ErrBadParams, never a panic.
func FuzzParseParams(f *testing.F) {
	f.Add([]byte(`{"sampleBps":500,"disputeBondWei":"1000000000000000000","jailBlocks":10}`))
	f.Add([]byte(`{"computeSlashBps":0}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"disputeTieBreak":true}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := jobs.ParseParams(json.RawMessage(raw))
		if err != nil {
			if !errors.Is(err, native.ErrBadParams) {
				t.Fatalf("error %v does not wrap ErrBadParams", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed params do not validate: %v", err)
		}
	})
}
