// Package config layers the sources of a node's settings: command-line
// flags, EMCD_* environment variables, a TOML config file and built-in
// defaults, in that order of precedence (flag > env > file > default).
//
// Flags are the single source of truth for names and types: a config file key
// is the flag name split at dots into TOML tables (--rpc.addr is
// [rpc] addr = "..."), and the environment variable is EMCD_ followed by the
// upper-cased flag name with dots and dashes turned into underscores
// (--rpc.addr is EMCD_RPC_ADDR). Where a flag name is both a value and a
// table (--dev and --dev.period), write the longer one as a quoted key:
// "dev.period" = "2s". Start reading at Apply.
package config
