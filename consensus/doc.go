// Package consensus is the home of emcd's block agreement: the IBFT 2.0 core
// (consensus/ibft), its quorum math (consensus/quorum), commit certificates
// (consensus/cert) and the drivers that connect them to the chain and the
// network.
package consensus
