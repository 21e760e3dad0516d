package cnierr

import (
	"fmt"
	"unicode/utf8"
)

// Config values reach messages and logs: a value is cut to MaxValue bytes
// and a message to MaxMsg, so no config can write a script (or megabytes)
// into a log line through an error.
const (
	MaxValue = 128
	MaxMsg   = 1024
)

// Cut returns s cut to at most n bytes on a rune boundary, marked with "…"
// when it was cut.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Quote is a config value as messages show it: cut, then quoted (Go
// syntax: control characters escaped).
func Quote(s string) string { return fmt.Sprintf("%q", Cut(s, MaxValue)) }

// sprintf formats like fmt.Sprintf with every string argument cut to
// MaxValue, then the whole message cut to MaxMsg.
func sprintf(format string, a ...any) string {
	for i, v := range a {
		if s, ok := v.(string); ok {
			a[i] = Cut(s, MaxValue)
		}
	}
	return Cut(fmt.Sprintf(format, a...), MaxMsg)
}
