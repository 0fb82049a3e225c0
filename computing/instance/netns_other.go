//go:build !linux

package instance

import (
	"context"
	"errors"
	"net"
	"os"
)

var errNoNetns = errors.New("instance: the docker runner needs Linux network namespaces")

func dialInNetns(context.Context, *os.File, string) (net.Conn, error) { return nil, errNoNetns }

func checkNetns() error { return errNoNetns }
