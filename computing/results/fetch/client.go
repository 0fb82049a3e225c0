package fetch

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/holiman/uint256"

	"github.com/emc-network/emcd/computing/job"
)

// Client downloads results through a router's HTTP surface (see Handler)
// and checks every byte itself: it trusts neither the router nor the node.
type Client struct {
	// BaseURL is the router's RPC URL, e.g. http://127.0.0.1:8545.
	BaseURL string
	HTTP    *http.Client
}

// Get fetches path of job id (RecordPath for the record) into w, at most
// limit bytes, and returns what the router said it is. The caller checks
// the hash.
func (c *Client) Get(ctx context.Context, id uint64, p string, auth Auth, w io.Writer, limit int64) (int64, error) {
	u := strings.TrimRight(c.BaseURL, "/") + HTTPPrefix + strconv.FormatUint(id, 10)
	if p == RecordPath {
		u += "/record"
	} else {
		segs := strings.Split(p, "/")
		for i := range segs {
			segs[i] = url.PathEscape(segs[i])
		}
		u += "/files/" + strings.Join(segs, "/")
	}
	q := url.Values{"expiry": {strconv.FormatUint(auth.Expiry, 10)}, "sig": {hexutil.Encode(auth.Sig)}}
	if auth.Probe {
		q.Set("probe", strconv.FormatUint(auth.Epoch, 10))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"?"+q.Encode(), nil)
	if err != nil {
		return 0, fmt.Errorf("fetch: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("fetch: router %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, errorFromBody(resp.StatusCode, body)
	}
	if resp.ContentLength > limit {
		return 0, fmt.Errorf("%w: router offers %d bytes for %q, expected at most %d", ErrMismatch, resp.ContentLength, p, limit)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		// A router that found a mismatch after sending headers aborts the
		// body: the download is short, never complete.
		return n, fmt.Errorf("fetch: %q: download cut short after %d bytes (the router aborts a file it could not verify): %w", p, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("fetch: %q: %d of %d bytes arrived", p, n, resp.ContentLength)
	}
	return n, nil
}

// DownloadConfig is one download of a job's result.
type DownloadConfig struct {
	Client  *Client
	Key     *ecdsa.PrivateKey
	ChainID *uint256.Int
	JobID   uint64
	// RecordSHA256 is the record hash on chain (emc_getJob).
	RecordSHA256 common.Hash
	// Dir receives record.json and outputs/<path> for every output.
	Dir string
	// Validity is how long each signed request lasts (default 5 minutes,
	// at most MaxValidity).
	Validity time.Duration
	Now      func() time.Time
}

// Summary is what Download wrote.
type Summary struct {
	JobID        uint64        `json:"id"`
	RecordSHA256 string        `json:"recordSHA256"`
	Status       string        `json:"status"`
	ExitCode     int           `json:"exitCode"`
	Dir          string        `json:"dir"`
	Record       string        `json:"record"`
	Files        []SummaryFile `json:"files"`
}

// SummaryFile is one output written.
type SummaryFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	File   string `json:"file"`
}

// Download fetches the record and every output file of a job, checks the
// record against the hash on chain and each file against the record, and
// writes each atomically (a temporary file renamed into place) under Dir,
// never outside it: record.json and outputs/<path>.
func Download(ctx context.Context, cfg DownloadConfig) (*Summary, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Validity <= 0 {
		cfg.Validity = 5 * time.Minute
	}
	cfg.Validity = min(cfg.Validity, MaxValidity)
	sign := func(p string) (Auth, error) {
		return Sign(cfg.Key, cfg.ChainID, cfg.JobID, p, cfg.Now().Add(cfg.Validity))
	}
	auth, err := sign(RecordPath)
	if err != nil {
		return nil, err
	}
	var rec strings.Builder
	if _, err := cfg.Client.Get(ctx, cfg.JobID, RecordPath, auth, &rec, job.MaxResultBytes); err != nil {
		return nil, err
	}
	res, err := CheckRecord(cfg.RecordSHA256, []byte(rec.String()))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	defer root.Close()
	sum := &Summary{JobID: cfg.JobID, RecordSHA256: res.RecordSHA256, Status: string(res.Status), ExitCode: res.ExitCode,
		Dir: cfg.Dir, Record: "record.json", Files: []SummaryFile{}}
	for _, o := range res.Outputs {
		if err := job.ValidPath(o.Path); err != nil {
			return nil, fmt.Errorf("%w: record names output %q: %w", ErrMismatch, o.Path, err)
		}
		auth, err := sign(o.Path)
		if err != nil {
			return nil, err
		}
		dst := path.Join("outputs", o.Path)
		err = writeAtomic(root, dst, func(w io.Writer) error {
			h := sha256.New()
			n, err := cfg.Client.Get(ctx, cfg.JobID, o.Path, auth, io.MultiWriter(w, h), o.SizeBytes)
			if err != nil {
				return err
			}
			if got := hex.EncodeToString(h.Sum(nil)); n != o.SizeBytes || got != o.SHA256 {
				return fmt.Errorf("%w: %q: got %d bytes with sha256 %s, the record says %d bytes, %s", ErrMismatch, o.Path, n, got, o.SizeBytes, o.SHA256)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sum.Files = append(sum.Files, SummaryFile{Path: o.Path, Size: o.SizeBytes, SHA256: o.SHA256, File: dst})
	}
	// The record last: its presence says every file listed arrived whole.
	if err := writeAtomic(root, "record.json", func(w io.Writer) error {
		_, err := io.WriteString(w, rec.String())
		return err
	}); err != nil {
		return nil, err
	}
	return sum, nil
}

// writeAtomic writes name under root through a temporary file in the same
// directory, synced and renamed into place; on error nothing is left.
func writeAtomic(root *os.Root, name string, fill func(io.Writer) error) (err error) {
	dir := path.Dir(name)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(dir, ".emc-"+hex.EncodeToString(rnd[:])+".tmp")
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = root.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	if err = root.Rename(tmp, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("fetch: %s exists and is not a file: %w", name, err)
		}
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}
