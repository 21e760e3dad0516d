// Package undo gives rollback by construction: every step that changes
// something pushes its inverse, and a deferred Rollback runs them in reverse
// unless the whole operation reached Commit. No error branch has to remember
// what to clean up, and no shadowed err can silently disable it.
package undo

import (
	"errors"
	"fmt"
)

// Stack of inverse actions. The zero value is ready to use.
type Stack struct {
	steps     []step
	committed bool
}

type step struct {
	what string
	fn   func() error
}

// Push registers the inverse of a step that just succeeded.
func (s *Stack) Push(what string, fn func() error) {
	s.steps = append(s.steps, step{what, fn})
}

// Commit keeps everything: Rollback becomes a no-op.
func (s *Stack) Commit() { s.committed = true }

// Rollback runs the inverses newest first, unless committed. It runs all of
// them even when one fails and reports every failure.
func (s *Stack) Rollback() error {
	if s.committed {
		return nil
	}
	var errs []error
	for i := len(s.steps) - 1; i >= 0; i-- {
		if err := s.steps[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", s.steps[i].what, err))
		}
	}
	s.steps = nil
	return errors.Join(errs...)
}
