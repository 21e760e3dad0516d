package main

import (
	"errors"
	"log/slog"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/node"
)

// logged wraps a verb so every invocation leaves one JSON line in logFile:
// verb, container ID, ifname, outcome and duration. stdout stays reserved
// for the CNI result.
func logged(verb string, f func(*skel.CmdArgs) error) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		start := time.Now()
		file, level := config.LogSettings(args.StdinData)
		if file != "" {
			// What the verb itself reports (a shared link kept for want of
			// evidence) goes to the same file; without one, to stderr.
			defer divertLog(file, level, verb, args)()
		}
		err := f(args)
		if file != "" {
			writeLog(file, level, logEntry{verb, args, err, time.Since(start)})
		}
		return err
	}
}

// divertLog makes slog's default logger write to file (opened as writeLog
// opens it) for the verb's duration; it returns what restores it.
func divertLog(file string, level slog.Level, verb string, args *skel.CmdArgs) func() {
	settings, _ := node.Load()
	f, err := settings.OpenLog(file)
	if err != nil {
		return func() {}
	}
	prev := slog.Default()
	h := slog.NewJSONHandler(f, &slog.HandlerOptions{Level: level})
	slog.SetDefault(slog.New(h).With("verb", verb, "containerID", args.ContainerID, "ifname", args.IfName))
	return func() { slog.SetDefault(prev); f.Close() }
}

type logEntry struct {
	verb     string
	args     *skel.CmdArgs
	err      error
	duration time.Duration
}

// logNotes are attributes a verb adds to its log line (the policy's decision).
var logNotes []any

// note adds key=value to this invocation's log line.
func note(key string, value any) { logNotes = append(logNotes, key, value) }

// writeLog appends the line to file, which must be in the node's log
// directory (node.OpenLog refuses anything else, and symlinks).
func writeLog(file string, level slog.Level, r logEntry) {
	settings, _ := node.Load()
	f, err := settings.OpenLog(file)
	if err != nil {
		return // logging must never fail the verb
	}
	defer f.Close()
	log := slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: level}))
	attrs := []any{
		"verb", r.verb, "containerID", r.args.ContainerID, "ifname", r.args.IfName,
		"netns", r.args.Netns, "durationMs", float64(r.duration.Microseconds()) / 1000,
	}
	if level <= slog.LevelDebug {
		// What the runtime passed (K8S_POD_*, IgnoreUnknown): the runtime tests read it.
		attrs = append(attrs, "cniArgs", r.args.Args)
	}
	attrs = append(attrs, logNotes...)
	if r.err == nil {
		log.Info("ok", attrs...)
		return
	}
	var e *types.Error
	if errors.As(r.err, &e) {
		attrs = append(attrs, "code", e.Code, "details", e.Details)
	}
	log.Error(r.err.Error(), attrs...)
}
