package testenv

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// LoggedVerbs is "VERB ok" or "VERB failed: msg" for each line qinq logged
// (its logFile, JSON lines) for container id: which verbs a caller sent.
func LoggedVerbs(t testing.TB, path, id string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("qinq's log: %v", err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var l struct{ Level, Msg, Verb, ContainerID string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("qinq's log line %q: %v", line, err)
		}
		if l.ContainerID != id {
			continue
		}
		if l.Level == "INFO" {
			out = append(out, l.Verb+" ok")
		} else {
			out = append(out, l.Verb+" failed: "+l.Msg)
		}
	}
	return out
}

// NodeMounts counts the mounts the node's PID 1 (its init) has at path.
func NodeMounts(t testing.TB, path string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/1/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			n++
		}
	}
	return n
}
