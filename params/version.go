package params

import (
	"fmt"
	"runtime"
)

// Version is the semantic version of this build. Release builds override
// GitCommit through -ldflags "-X github.com/emc-network/emcd/params.GitCommit=...".
const Version = "0.1.0-dev"

// GitCommit is the commit this binary was built from, if known.
var GitCommit = ""

// ClientName is the name reported by web3_clientVersion.
const ClientName = "emcd"

// VersionWithCommit returns "0.1.0-dev-abcdef12" or just the version.
func VersionWithCommit() string {
	if len(GitCommit) >= 8 {
		return Version + "-" + GitCommit[:8]
	}
	return Version
}

// ClientVersion is the string web3_clientVersion returns, shaped like geth's:
// emcd/v0.1.0-dev/linux-amd64/go1.26.8.
func ClientVersion() string {
	return fmt.Sprintf("%s/v%s/%s-%s/%s", ClientName, VersionWithCommit(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
