package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSimMarketCmd(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"sim", "market", "--nodes", "8", "--cheaters", "25%", "--epochs", "1", "--seed", "3", "--json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	for _, k := range []string{"cheaters", "caught", "caught_by_epoch", "honest_slashed", "cheater_rewards_wei", "cheater_job_wei", "cheaters_slashed", "jobs_submitted"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no key %q in %s", k, out.String())
		}
	}
	if r["cheaters"] != float64(2) || r["caught"] != float64(2) || r["honest_slashed"] != float64(0) ||
		r["jobs_submitted"] != float64(20) || r["supply_exact"] != true {
		t.Fatalf("report %s", out.String())
	}

	root = newRootCmd()
	out.Reset()
	root.SetOut(&out)
	root.SetArgs([]string{"sim", "market", "--nodes", "4", "--cheaters", "0.25", "--epochs", "1"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "cheaters:        1") || !strings.Contains(out.String(), "honest slashed:  0") {
		t.Fatalf("human output:\n%s", out.String())
	}

	for _, args := range [][]string{
		{"--cheaters", "1.2"}, {"--cheaters", "120%"}, {"--cheaters", "x"}, {"--nodes", "0"},
		{"--epochs", "0"}, {"--colluders", "3"}, {"--down-validators", "3"}, {"--delay-blocks", "-1"}, {"--jobs", "-1"}, {"--jobs", "1001"}, {"stray"},
	} {
		root := newRootCmd()
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(append([]string{"sim", "market"}, args...))
		if err := root.Execute(); err == nil {
			t.Errorf("sim market %s: no error", strings.Join(args, " "))
		}
	}
}

func TestParseFraction(t *testing.T) {
	for in, want := range map[string]float64{"0.2": 0.2, "20%": 0.2, "0": 0, "100%": 1, " 1 ": 1} {
		if got, err := parseFraction(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-0.1", "1.01", "101%", "NaN", "abc", "%"} {
		if _, err := parseFraction(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
