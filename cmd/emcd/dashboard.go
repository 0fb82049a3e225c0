package main

import "github.com/spf13/pflag"

// dashboardOn is whether the node serves the web dashboard: --dashboard
// when it was set (flag, EMCD_DASHBOARD or the config file's dashboard
// key), else on with --dev only.
func dashboardOn(fs *pflag.FlagSet) bool {
	if f := fs.Lookup("dashboard"); f != nil && f.Changed {
		return f.Value.String() == "true"
	}
	dev := fs.Lookup("dev")
	return dev != nil && dev.Value.String() == "true"
}
