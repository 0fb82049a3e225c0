// Package params holds the constants every part of emcd agrees on: the
// client version, the fixed dev chain id and the default ports.
//
// It has no dependencies inside emcd, so any package may import it.
package params
