// Package node reads what only the node's admin decides: the directory
// /etc/cni/qinq (node.json, the node's settings; policy.json, see package
// policy) and the node's log directory. Nothing in a network configuration
// can change where these are: their locations come from constants, or, in
// tests, from the runtime's environment (QINQ_ETC_DIR, QINQ_LOG_DIR), which
// DESIGN.md trusts as it trusts QINQ_STATE_DIR and CNI_NETNS.
package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const (
	// DefaultDir is the admin's directory: node.json and policy.json.
	DefaultDir = "/etc/cni/qinq"
	// DefaultLogDir is where logFile may point unless node.json says otherwise.
	DefaultLogDir = "/var/log/qinq"
	// SettingsFile is the node's settings in Dir.
	SettingsFile = "node.json"
	// MaxFileSize bounds every file read from Dir.
	MaxFileSize = 1 << 20
	// Version is the only format version of node.json and policy.json.
	Version = 1
	// PolicyLog is the node's log of policy decisions, in the log directory;
	// no logFile may name it.
	PolicyLog = "qinq-policy.log"
)

// Dir is the admin's directory: DefaultDir, or QINQ_ETC_DIR (tests).
func Dir() string { return envPath("QINQ_ETC_DIR", DefaultDir) }

func envPath(key, def string) string {
	if d := os.Getenv(key); filepath.IsAbs(d) {
		return filepath.Clean(d)
	}
	return def
}

// Present reports whether Dir exists at all (as anything): its absence is
// "no policy", anything else must hold a valid policy.
func Present() bool {
	_, err := os.Lstat(Dir())
	return !errors.Is(err, fs.ErrNotExist)
}

// Settings are node.json's: the node's own, not any tenant's.
type Settings struct {
	// LogDir is the only directory logFile may name a file in.
	LogDir string
	// OVSDBEndpoints are ovsdbSocket values allowed besides unix sockets
	// under Open vSwitch's run directories.
	OVSDBEndpoints []string
	// IPAM bounds what a network config's ipam object may make root run
	// and touch (ipam.go).
	IPAM IPAMBounds
}

type settingsFile struct {
	Version        int      `json:"version"`
	LogDir         string   `json:"logDir"`
	OVSDBEndpoints []string `json:"ovsdbEndpoints"`
	IPAMTypes      []string `json:"ipamTypes"`
	IPAMDataDirs   []string `json:"ipamDataDirs"`
	IPAMFiles      []string `json:"ipamFiles"`
	IPAMEndpoints  []string `json:"ipamEndpoints"`
}

// Load reads node.json (the plugin once per invocation, and keeps it).
// Without the file the defaults hold; with a bad one the defaults hold too
// (the strictest settings) and err says what is wrong, for the verbs that
// build to refuse.
func Load() (Settings, error) { return load(filepath.Join(Dir(), SettingsFile)) }

func defaults() Settings {
	return Settings{LogDir: envPath("QINQ_LOG_DIR", DefaultLogDir), IPAM: DefaultIPAMBounds()}
}

func load(path string) (Settings, error) {
	s := defaults()
	data, err := ReadTrusted(path, MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	parsed, err := Parse(data)
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return parsed, nil
}

// Parse decodes and checks node.json strictly; what it omits keeps the
// defaults. The installer checks a ConfigMap's node.json with it.
func Parse(data []byte) (Settings, error) {
	s := defaults()
	var f settingsFile
	if err := DecodeStrict(data, &f); err != nil {
		return s, err
	}
	if err := f.check(); err != nil {
		return s, err
	}
	if f.LogDir != "" {
		s.LogDir = f.LogDir
	}
	s.OVSDBEndpoints = f.OVSDBEndpoints
	s.IPAM = f.ipamBounds()
	return s, nil
}

func (f *settingsFile) check() error {
	if f.Version != Version {
		return fmt.Errorf("version: %d: must be %d", f.Version, Version)
	}
	if f.LogDir != "" && (!filepath.IsAbs(f.LogDir) || filepath.Clean(f.LogDir) != f.LogDir || f.LogDir == "/") {
		return fmt.Errorf("logDir: %q: must be an absolute, clean directory path other than /", f.LogDir)
	}
	for i, e := range f.OVSDBEndpoints {
		if !strings.HasPrefix(e, "unix:/") && !strings.HasPrefix(e, "tcp:") {
			return fmt.Errorf("ovsdbEndpoints[%d]: %q: must start with unix:/ or tcp:", i, e)
		}
	}
	return f.checkIPAM()
}

// DecodeStrict decodes one JSON object into v: unknown fields, keys in
// another case than v's (encoding/json would take "logdir" for "logDir")
// and trailing data fail. v's fields must not be omitempty.
func DecodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	var given, known any
	back, err := json.Marshal(v)
	if err == nil {
		err = errors.Join(json.Unmarshal(data, &given), json.Unmarshal(back, &known))
	}
	if err != nil {
		return err
	}
	return sameKeys("", given, known)
}

// sameKeys reports a key of given that known spells otherwise.
func sameKeys(at string, given, known any) error {
	switch g := given.(type) {
	case map[string]any:
		k, _ := known.(map[string]any)
		for key, gv := range g {
			kv, ok := k[key]
			if !ok {
				return fmt.Errorf("json: unknown field %q", at+key)
			}
			if err := sameKeys(at+key+".", gv, kv); err != nil {
				return err
			}
		}
	case []any:
		k, _ := known.([]any)
		for i := range g {
			if i < len(k) {
				if err := sameKeys(fmt.Sprintf("%s%d.", at, i), g[i], k[i]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
