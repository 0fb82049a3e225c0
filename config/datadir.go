package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse is returned by DataDir.Lock when another process holds the
// data dir.
var ErrDataDirInUse = errors.New("data dir is in use by another emcd process")

// DataDir is the on-disk home of one node. Its layout:
//
//	DIR/LOCK          flock held while a process uses the dir (holds its pid)
//	DIR/config.toml   loaded automatically when present
//	DIR/genesis.json  the genesis this dir was initialised with
//	DIR/chaindata/    pebble store: chain, state, receipts, indexes
//	DIR/keystore/     scrypt-encrypted account keys (go-ethereum keystore)
//	DIR/nodekey       libp2p identity key
//	DIR/consensus/    consensus write-ahead log
//	DIR/compute/      compute role: job scratch dirs and the result store
type DataDir struct {
	Path string
	lock *os.File
}

// DefaultDataDir is $HOME/.emcd, or $HOME/.emcd/dev in dev mode.
func DefaultDataDir(dev bool) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "."
	}
	if dev {
		return filepath.Join(home, ".emcd", "dev")
	}
	return filepath.Join(home, ".emcd")
}

// NewDataDir returns the data dir at path, expanding a leading "~/".
func NewDataDir(path string) *DataDir {
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, path[2:])
		}
	}
	return &DataDir{Path: path}
}

func (d *DataDir) ConfigFile() string  { return filepath.Join(d.Path, "config.toml") }
func (d *DataDir) GenesisFile() string { return filepath.Join(d.Path, "genesis.json") }
func (d *DataDir) ChainData() string   { return filepath.Join(d.Path, "chaindata") }
func (d *DataDir) Keystore() string    { return filepath.Join(d.Path, "keystore") }
func (d *DataDir) NodeKey() string     { return filepath.Join(d.Path, "nodekey") }
func (d *DataDir) Consensus() string   { return filepath.Join(d.Path, "consensus") }
func (d *DataDir) Compute() string     { return filepath.Join(d.Path, "compute") }

// Lock creates the data dir if needed and takes an exclusive, non-blocking
// flock on DIR/LOCK. The lock dies with the process, so a crash never leaves
// a stale lock behind.
func (d *DataDir) Lock() error {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(d.Path, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(f.Name())
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			if pid != "" {
				return fmt.Errorf("%w (%s, pid %s)", ErrDataDirInUse, d.Path, pid)
			}
			return fmt.Errorf("%w (%s)", ErrDataDirInUse, d.Path)
		}
		return fmt.Errorf("lock data dir %s: %w", d.Path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	d.lock = f
	return nil
}

// Unlock releases the lock taken by Lock.
func (d *DataDir) Unlock() error {
	if d.lock == nil {
		return nil
	}
	err := d.lock.Close()
	d.lock = nil
	return err
}
