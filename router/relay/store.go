package relay

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/emc-network/emcd/computing/apps"
	"github.com/emc-network/emcd/internal/atomicfile"
)

// FileReceiptStore is a ReceiptStore of one small file per instance in
// Dir, <instance>.receipt, holding the signed receipt's encoding
// (apps.SignedReceipt.Encode), replaced atomically and synced before the
// receipt leaves. Without Writer every Save is a synced write of its own;
// with one, the Countersigner hands receipts to the Writer under its lock
// and waits outside it (SaveDeferred, group commit), so concurrent
// metered calls share fsyncs instead of queueing for one each.
type FileReceiptStore struct {
	Dir    string
	Writer *atomicfile.Coalescer
}

var _ ReceiptStore = FileReceiptStore{}

const receiptFileExt = ".receipt"

func (f FileReceiptStore) path(id uint64) string {
	return filepath.Join(f.Dir, strconv.FormatUint(id, 10)+receiptFileExt)
}

// Save implements ReceiptStore.
func (f FileReceiptStore) Save(s *apps.SignedReceipt) error {
	if f.Writer != nil {
		return f.SaveDeferred(s)()
	}
	if err := atomicfile.Write(f.path(s.Instance), s.Encode()); err != nil {
		return fmt.Errorf("relay: store receipt of instance %d: %w", s.Instance, err)
	}
	return nil
}

// SaveDeferred implements DeferredStore: with a Writer, s is handed to
// it and the returned func waits until it (or a newer receipt of the
// instance) is on disk, sharing the flush with concurrent calls; without
// one, s is saved at once.
func (f FileReceiptStore) SaveDeferred(s *apps.SignedReceipt) func() error {
	if f.Writer == nil {
		err := f.Save(s)
		return func() error { return err }
	}
	t := f.Writer.Put(f.path(s.Instance), s.Encode())
	return func() error {
		if err := f.Writer.Wait(t); err != nil {
			return fmt.Errorf("relay: store receipt of instance %d: %w", s.Instance, err)
		}
		return nil
	}
}

// Delete implements ReceiptStore.
func (f FileReceiptStore) Delete(id uint64) error {
	if f.Writer != nil {
		if err := f.Writer.Remove(f.path(id)); err != nil {
			return fmt.Errorf("relay: delete stored receipt: %w", err)
		}
		return nil
	}
	if err := os.Remove(f.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("relay: delete stored receipt: %w", err)
	}
	return nil
}

// Load implements ReceiptStore: the receipts of the files that decode
// (DecodeStoredReceipt); a file that does not is removed (it cannot be
// settled) and reported in the error, after the others are loaded.
func (f FileReceiptStore) Load() ([]apps.SignedReceipt, error) {
	ents, err := os.ReadDir(f.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relay: stored receipts: %w", err)
	}
	var out []apps.SignedReceipt
	var bad []error
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), receiptFileExt) {
			continue
		}
		p := filepath.Join(f.Dir, e.Name())
		s, err := readStoredReceipt(p, e.Name())
		if err != nil {
			bad = append(bad, err)
			_ = os.Remove(p)
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(bad...)
}

func readStoredReceipt(path, name string) (apps.SignedReceipt, error) {
	fh, err := os.Open(path)
	if err != nil {
		return apps.SignedReceipt{}, fmt.Errorf("relay: stored receipt: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, apps.ReceiptLen+1))
	if err != nil {
		return apps.SignedReceipt{}, fmt.Errorf("relay: stored receipt %s: %w", name, err)
	}
	return DecodeStoredReceipt(name, b)
}

// DecodeStoredReceipt decodes a FileReceiptStore file: its name must be
// <instance>.receipt (decimal, canonical) and its content a signed
// receipt's encoding for that instance (who signed is Load's check).
func DecodeStoredReceipt(name string, b []byte) (apps.SignedReceipt, error) {
	num, ok := strings.CutSuffix(name, receiptFileExt)
	id, err := strconv.ParseUint(num, 10, 64)
	if !ok || err != nil || strconv.FormatUint(id, 10) != num {
		return apps.SignedReceipt{}, fmt.Errorf("%w: stored receipt file name %q", apps.ErrBadReceipt, name)
	}
	s, err := apps.DecodeSignedReceipt(b)
	if err != nil {
		return apps.SignedReceipt{}, fmt.Errorf("stored receipt %s: %w", name, err)
	}
	if s.Instance != id {
		return apps.SignedReceipt{}, fmt.Errorf("%w: stored receipt %s is for instance %d", apps.ErrBadReceipt, name, s.Instance)
	}
	return s, nil
}
