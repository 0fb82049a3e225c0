package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"
)

// EnvPrefix is the prefix of every environment variable emcd reads.
const EnvPrefix = "EMCD_"

// ErrUnknownKey is returned when a config file names a setting that has no flag.
var ErrUnknownKey = errors.New("config: unknown key")

// EnvName returns the environment variable that sets the flag called name.
func EnvName(name string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return EnvPrefix + strings.ToUpper(r.Replace(name))
}

// Apply fills every flag of fs that was not given on the command line, first
// from the environment (looked up through getenv) and then from file, a
// flattened config file (see LoadFile). Flags given on the command line win.
// Flags named in skip (such as --config itself) are never read from env/file.
// Keys of file that match no flag are ignored here; see CheckKeys.
func Apply(fs *pflag.FlagSet, file map[string]string, getenv func(string) string, skip ...string) error {
	skipped := make(map[string]bool, len(skip))
	for _, s := range skip {
		skipped[s] = true
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || skipped[f.Name] {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("config: %s=%q: %w", EnvName(f.Name), v, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("config: file key %q = %q: %w", f.Name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// CheckKeys reports every key of file that names no flag in fs, so a typo in
// a config file is an error rather than a silently ignored setting.
func CheckKeys(fs *pflag.FlagSet, file map[string]string) error {
	var unknown []string
	for k := range file {
		if fs.Lookup(k) == nil {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	var errs []error
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("%w %q in config file (there is no flag --%s)", ErrUnknownKey, k, k))
	}
	return errors.Join(errs...)
}

// LoadFile reads a TOML config file and flattens it to flag names
// ("rpc.addr" -> "127.0.0.1:8545"). Arrays become comma-separated lists, as
// pflag's slice flags expect. A missing file is an error; callers that treat
// the file as optional check os.IsNotExist first.
func LoadFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return m, nil
}

// Parse flattens TOML bytes the way LoadFile does.
func Parse(data []byte) (map[string]string, error) {
	var tree map[string]any
	if err := toml.Unmarshal(data, &tree); err != nil {
		return nil, fmt.Errorf("parse toml: %w", err)
	}
	out := make(map[string]string)
	if err := flatten("", tree, out); err != nil {
		return nil, err
	}
	return out, nil
}

func flatten(prefix string, tree map[string]any, out map[string]string) error {
	for k, v := range tree {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch val := v.(type) {
		case map[string]any:
			if err := flatten(name, val, out); err != nil {
				return err
			}
		case []any:
			parts := make([]string, 0, len(val))
			for _, e := range val {
				s, err := scalar(name, e)
				if err != nil {
					return err
				}
				parts = append(parts, s)
			}
			out[name] = strings.Join(parts, ",")
		default:
			s, err := scalar(name, val)
			if err != nil {
				return err
			}
			out[name] = s
		}
	}
	return nil
}

func scalar(name string, v any) (string, error) {
	switch val := v.(type) {
	case string:
		return val, nil
	case bool, int64, float64:
		return fmt.Sprint(val), nil
	default:
		return "", fmt.Errorf("key %q: unsupported value type %T", name, v)
	}
}
