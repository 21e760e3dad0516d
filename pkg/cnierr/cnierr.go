// Package cnierr builds the CNI errors qinq returns. Every error that leaves a
// verb goes through here, so a user mistake is never reported as code 999.
package cnierr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// Plugin-specific codes (the CNI spec reserves 100+ for plugins).
const (
	// CodeConflict: a link this attachment needs is already taken (a C-VLAN
	// used by another container, a tunnel-mode S-link, CNI_IFNAME present).
	CodeConflict uint = 100
	// CodeCheckFailed: CHECK found the attachment differs from its config.
	CodeCheckFailed uint = 101
	// CodePolicy: the node's policy (/etc/cni/qinq/policy.json) does not
	// allow what the network config asks for.
	CodePolicy uint = 102
)

// InvalidConfig is code 7: the network configuration is wrong. field names
// the key; the message says what was found and what is allowed.
func InvalidConfig(field, format string, a ...any) error {
	return &types.Error{
		Code:    types.ErrInvalidNetworkConfig,
		Msg:     field + ": " + sprintf(format, a...),
		Details: "field " + field,
	}
}

// Decode is code 6: stdin is not JSON.
func Decode(err error) error {
	return types.NewError(types.ErrDecodingFailure, "cannot decode network configuration", Cut(err.Error(), MaxMsg))
}

// InvalidEnv is code 4: a CNI_* variable is wrong.
func InvalidEnv(name, format string, a ...any) error {
	return types.NewError(types.ErrInvalidEnvironmentVariables, name+": "+sprintf(format, a...), "")
}

// ContainerUnknown is code 3: CNI_NETNS cannot be opened.
func ContainerUnknown(netns string, err error) error {
	return types.NewError(types.ErrUnknownContainer, fmt.Sprintf("CNI_NETNS=%q: cannot open network namespace", netns), err.Error())
}

// Conflict is code 100.
func Conflict(format string, a ...any) error {
	return &types.Error{Code: CodeConflict, Msg: sprintf(format, a...)}
}

// PolicyRefused is code 102: the node policy refuses; rule names the
// policy's rule (never another tenant's attachment).
func PolicyRefused(rule, format string, a ...any) error {
	return &types.Error{Code: CodePolicy, Msg: "policy: " + rule + ": " + sprintf(format, a...), Details: "rule " + rule}
}

// CheckFailed is code 101.
func CheckFailed(format string, a ...any) error {
	return &types.Error{Code: CodeCheckFailed, Msg: sprintf(format, a...)}
}

// Unavailable is code 50: the plugin cannot work on this node.
func Unavailable(format string, a ...any) error {
	return types.NewError(types.ErrPluginNotAvailable, sprintf(format, a...), "")
}

// TryAgain is code 11: a transient failure persisted (the kernel kept
// answering EBUSY, OVSDB is unreachable); the runtime should retry later.
func TryAgain(what string, err error) error {
	return types.NewError(types.ErrTryAgainLater, what+": transient failure, try again later", err.Error())
}

// Internal is code 999, reserved for failures that are not the user's.
func Internal(what string, err error) error {
	return types.NewError(types.ErrInternal, what, Cut(err.Error(), MaxMsg))
}

// Combine reports every error joined in err (errors.Join) as one CNI error:
// the code of the first that has one (999 if none) and all the messages.
func Combine(what string, err error) error {
	all := flatten(err)
	if len(all) <= 1 {
		return AsCNI(what, err)
	}
	code, msgs := uint(types.ErrInternal), make([]string, 0, len(all))
	for i := len(all) - 1; i >= 0; i-- {
		var e *types.Error
		if errors.As(all[i], &e) {
			code = e.Code
		}
	}
	for _, e := range all {
		msgs = append(msgs, e.Error())
	}
	return &types.Error{Code: code, Msg: fmt.Sprintf("%s: %d errors: %s", what, len(all), strings.Join(msgs, "; "))}
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

// AsCNI returns err as a CNI error, keeping a code that was already set
// and wrapping anything else as Internal(what). It returns nil for nil: the
// result is a plain error, never a typed nil pointer (a *types.Error that is
// nil is a non-nil error, and calling Error() on it crashes).
func AsCNI(what string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := Code(err); ok {
		return err
	}
	return Internal(what, err)
}

// Code returns the CNI code carried by err, if any.
func Code(err error) (uint, bool) {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	return 0, false
}

// Annotate appends note to the details of err's CNI error, keeping its code
// and message (a failed rollback reported next to what caused it).
func Annotate(err error, note string) error {
	var e *types.Error
	if !errors.As(err, &e) {
		e = &types.Error{Code: types.ErrInternal, Msg: err.Error()}
	}
	details := note
	if e.Details != "" {
		details = e.Details + "; " + note
	}
	return &types.Error{Code: e.Code, Msg: e.Msg, Details: details}
}
