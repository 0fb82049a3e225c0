//go:build !cgo || nonvml

package gpu

import "log/slog"

func openNVML(*slog.Logger) (Provider, error) { return nil, ErrNoNVMLSupport }
