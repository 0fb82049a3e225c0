package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
)

// TestDashboardDefault: the dashboard is on with --dev and off otherwise,
// unless --dashboard (flag, environment or config file) says otherwise.
func TestDashboardDefault(t *testing.T) {
	run := func(t *testing.T, args ...string) bool {
		t.Helper()
		root := newRootCmd()
		var on bool
		root.RunE = func(cmd *cobra.Command, _ []string) error {
			on = dashboardOn(cmd.Flags())
			return nil
		}
		root.SetArgs(append([]string{"--datadir", t.TempDir()}, args...))
		root.SetOut(os.Stderr)
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		return on
	}
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--dev"}, true},
		{[]string{"--dev", "--dashboard=false"}, false},
		{[]string{"--dashboard"}, true},
	} {
		if got := run(t, c.args...); got != c.want {
			t.Errorf("emcd %v: dashboard %t, want %t", c.args, got, c.want)
		}
	}
	t.Run("env", func(t *testing.T) {
		t.Setenv("EMCD_DASHBOARD", "false")
		if run(t, "--dev") {
			t.Error("EMCD_DASHBOARD=false --dev: dashboard on")
		}
	})
	t.Run("config file", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(cfg, []byte("dashboard = true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if !run(t, "--config", cfg) {
			t.Error("dashboard = true in the config file: dashboard off")
		}
	})
}
