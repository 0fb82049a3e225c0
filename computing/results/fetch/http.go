package fetch

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common/hexutil"
)

// HTTP surface of a Relay, mounted on the router's RPC listener:
//
//	GET /results/{id}/record            the job's result record (canonical JSON)
//	GET /results/{id}/files/{path...}   one output file
//
// id is decimal. The submitter's authorisation for exactly that path (the
// record's is RecordPath, "") travels as the query parameters expiry (Unix
// seconds, decimal) and sig (0x-hex, 65 bytes), or as the headers
// Emc-Expiry and Emc-Signature; a validator's probe of the record adds its
// epoch as probe (or Emc-Probe-Epoch). A success carries Content-Length and the
// verified hash in Emc-Sha256; a refusal is a JSON object {"code", "error"}
// with the status ErrorStatus gives. A mismatch found after the headers
// went out aborts the connection: the body ends short of Content-Length.
const (
	HTTPPrefix      = "/results/"
	HeaderExpiry    = "Emc-Expiry"
	HeaderSignature = "Emc-Signature"
	HeaderSHA256    = "Emc-Sha256"
	// HeaderProbeEpoch (or the query parameter probe) marks a validator's
	// probe signature (SignProbe) and names its epoch.
	HeaderProbeEpoch = "Emc-Probe-Epoch"
)

// WriteError writes a refusal body as the relay does (for a node that
// mounts the routes without a relay).
func WriteError(w http.ResponseWriter, status int, code string, err error) {
	writeError(w, status, code, err)
}

// Handler serves the relay's HTTP surface.
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+HTTPPrefix+"{id}/record", func(w http.ResponseWriter, req *http.Request) {
		r.serve(w, req, RecordPath)
	})
	mux.HandleFunc("GET "+HTTPPrefix+"{id}/files/{path...}", func(w http.ResponseWriter, req *http.Request) {
		r.serve(w, req, req.PathValue("path"))
	})
	return mux
}

func (r *Relay) serve(w http.ResponseWriter, req *http.Request, path string) {
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	default:
		writeError(w, http.StatusServiceUnavailable, "busy", fmt.Errorf("%w: too many downloads in progress; retry later", ErrBusy))
		return
	}
	id, err := strconv.ParseUint(req.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed", fmt.Errorf("job id %q: want a decimal number", req.PathValue("id")))
		return
	}
	auth, err := authFromHTTP(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed", err)
		return
	}
	started := false
	err = r.Copy(req.Context(), id, path, auth, w, func(f File) error {
		h := w.Header()
		h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
		h.Set(HeaderSHA256, hex.EncodeToString(f.SHA256[:]))
		if path == RecordPath {
			h.Set("Content-Type", "application/json")
		} else {
			h.Set("Content-Type", "application/octet-stream")
		}
		w.WriteHeader(http.StatusOK)
		started = true
		return nil
	})
	if err == nil {
		return
	}
	if started {
		r.log.Warn("download aborted", "job", id, "path", path, "err", err)
		// The client sees a body shorter than Content-Length: never a
		// complete file that was not verified.
		panic(http.ErrAbortHandler)
	}
	status, code := ErrorStatus(err)
	writeError(w, status, code, err)
}

// authFromHTTP reads the authorisation from the query or the headers.
func authFromHTTP(req *http.Request) (Auth, error) {
	q := req.URL.Query()
	exp, sig := q.Get("expiry"), q.Get("sig")
	if exp == "" {
		exp = req.Header.Get(HeaderExpiry)
	}
	if sig == "" {
		sig = req.Header.Get(HeaderSignature)
	}
	if exp == "" || sig == "" {
		return Auth{}, fmt.Errorf("%w: no signed request: give expiry and sig (or the %s and %s headers)", ErrMalformed, HeaderExpiry, HeaderSignature)
	}
	e, err := strconv.ParseUint(exp, 10, 64)
	if err != nil {
		return Auth{}, fmt.Errorf("%w: expiry %q: want Unix seconds", ErrMalformed, exp)
	}
	s, err := hexutil.Decode(sig)
	if err != nil || len(s) != sigLen {
		return Auth{}, fmt.Errorf("%w: sig: want 0x-hex of %d bytes", ErrMalformed, sigLen)
	}
	a := Auth{Expiry: e, Sig: s}
	probe := q.Get("probe")
	if probe == "" {
		probe = req.Header.Get(HeaderProbeEpoch)
	}
	if probe != "" {
		ep, err := strconv.ParseUint(probe, 10, 64)
		if err != nil {
			return Auth{}, fmt.Errorf("%w: probe epoch %q: want a decimal number", ErrMalformed, probe)
		}
		a.Probe, a.Epoch = true, ep
	}
	return a, nil
}

// ErrorStatus maps a Copy error to an HTTP status and the code named in
// the error body.
func ErrorStatus(err error) (int, string) {
	var re *RefusedError
	switch {
	case errors.Is(err, ErrMismatch):
		return http.StatusBadGateway, "mismatch"
	case errors.Is(err, ErrUnreachable):
		return http.StatusBadGateway, "unreachable"
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable, "busy"
	case errors.As(err, &re):
		switch re.Code {
		case CodeMalformed, CodeBadOffset:
			return http.StatusBadRequest, re.Code.String()
		case CodeBadSignature, CodeExpired:
			return http.StatusUnauthorized, re.Code.String()
		case CodeNotSubmitter, CodeNotProber:
			return http.StatusForbidden, re.Code.String()
		case CodeUnknownJob, CodeNotFound, CodeNotOurs:
			return http.StatusNotFound, re.Code.String()
		case CodeNotFinished:
			return http.StatusConflict, re.Code.String()
		case CodeRateLimited:
			return http.StatusTooManyRequests, re.Code.String()
		}
		return http.StatusBadGateway, re.Code.String()
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest, CodeMalformed.String()
	case errors.Is(err, ErrBadSignature):
		return http.StatusUnauthorized, CodeBadSignature.String()
	case errors.Is(err, ErrExpired):
		return http.StatusUnauthorized, CodeExpired.String()
	}
	return http.StatusInternalServerError, "internal"
}

// errorBody is a refusal's JSON body.
type errorBody struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Code: code, Error: err.Error()})
}

// errorFromBody turns a refusal body back into an error a client can test
// with errors.Is.
func errorFromBody(status int, body []byte) error {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil || eb.Code == "" {
		return fmt.Errorf("fetch: HTTP %d: %s", status, strings.TrimSpace(string(body)))
	}
	switch eb.Code {
	case "mismatch":
		return fmt.Errorf("%w (at the router): %s", ErrMismatch, eb.Error)
	case "unreachable":
		return fmt.Errorf("%w: %s", ErrUnreachable, eb.Error)
	case "too_large":
		return fmt.Errorf("%w: %s", ErrTooLarge, eb.Error)
	case "busy":
		return fmt.Errorf("%w: %s", ErrBusy, eb.Error)
	}
	for c := CodeOK + 1; c < codeEnd; c++ {
		if c.String() == eb.Code {
			return &RefusedError{Code: c, Message: eb.Error}
		}
	}
	return fmt.Errorf("fetch: HTTP %d (%s): %s", status, eb.Code, eb.Error)
}
