package operator

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorCodes is the one table from our errors to gRPC codes; anything else
// is INTERNAL.
var errorCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrNotReady, codes.Unavailable},
	{ErrNotFound, codes.NotFound},
	{ErrInvalidArgument, codes.InvalidArgument},
	{ErrStopped, codes.Unavailable},
	{ErrSubscriptionEnded, codes.Unavailable},
	{ErrSlowConsumer, codes.ResourceExhausted},
	{ErrTooManyWatchers, codes.ResourceExhausted},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// toStatus turns a handler's error into a gRPC status error; status errors
// (from the gRPC stream itself) pass through.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

// unaryInterceptor bounds each call by CallTimeout, maps its error and
// logs it.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	resp, err := handler(ctx, req)
	err = toStatus(err)
	s.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

// streamInterceptor maps a stream's final error and logs it.
func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := toStatus(handler(srv, ss))
	s.logCall(ss.Context(), info.FullMethod, start, err)
	return err
}

func (s *Server) logCall(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	lvl := slog.LevelDebug
	if code == codes.Internal || code == codes.Unknown {
		lvl = slog.LevelWarn
	}
	s.log.Log(ctx, lvl, "operator call", "method", method, "code", code.String(), "duration", time.Since(start), "err", err)
}
