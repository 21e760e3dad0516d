package main

import (
	"errors"
	"log/slog"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/config"
)

// logged wraps a verb so every invocation leaves one JSON line in logFile:
// verb, container ID, ifname, outcome and duration. stdout stays reserved
// for the CNI result.
func logged(verb string, f func(*run) error) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		start := time.Now()
		r := newRun(verb, args)
		file, level := config.LogSettings(args.StdinData)
		if file != "" {
			// What the verb itself reports (a shared link kept for want of
			// evidence) goes to the same file; without one, to stderr.
			defer divertLog(r, file, level)()
		}
		err := f(r)
		if file != "" {
			writeLog(r, file, level, logEntry{err, time.Since(start)})
		}
		return err
	}
}

// divertLog makes slog's default logger write to file (opened as writeLog
// opens it) for the verb's duration; it returns what restores it.
func divertLog(r *run, file string, level slog.Level) func() {
	f, err := r.node.OpenLog(file)
	if err != nil {
		return func() {}
	}
	prev := slog.Default()
	h := slog.NewJSONHandler(f, &slog.HandlerOptions{Level: level})
	slog.SetDefault(slog.New(h).With("verb", r.verb, "containerID", r.args.ContainerID, "ifname", r.args.IfName))
	return func() { slog.SetDefault(prev); f.Close() }
}

type logEntry struct {
	err      error
	duration time.Duration
}

// writeLog appends the line to file, which must be in the node's log
// directory (node.OpenLog refuses anything else, and symlinks).
func writeLog(r *run, file string, level slog.Level, e logEntry) {
	f, err := r.node.OpenLog(file)
	if err != nil {
		return // logging must never fail the verb
	}
	defer f.Close()
	log := slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: level}))
	attrs := []any{
		"verb", r.verb, "containerID", r.args.ContainerID, "ifname", r.args.IfName,
		"netns", r.args.Netns, "durationMs", float64(e.duration.Microseconds()) / 1000,
	}
	if level <= slog.LevelDebug {
		// What the runtime passed (K8S_POD_*, IgnoreUnknown): the runtime tests read it.
		attrs = append(attrs, "cniArgs", r.args.Args)
	}
	attrs = append(attrs, r.notes...)
	if e.err == nil {
		log.Info("ok", attrs...)
		return
	}
	var te *types.Error
	if errors.As(e.err, &te) {
		attrs = append(attrs, "code", te.Code, "details", te.Details)
	}
	log.Error(e.err.Error(), attrs...)
}
