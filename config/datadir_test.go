package config

import (
	"errors"
	"testing"
)

func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	a := NewDataDir(dir)
	if err := a.Lock(); err != nil {
		t.Fatal(err)
	}
	b := NewDataDir(dir)
	if err := b.Lock(); !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("second lock: want ErrDataDirInUse, got %v", err)
	}
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	_ = b.Unlock()
}
