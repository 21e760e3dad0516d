package undo

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRollbackRunsInversesNewestFirst(t *testing.T) {
	var s Stack
	var order []string
	for _, n := range []string{"a", "b", "c"} {
		n := n
		s.Push(n, func() error { order = append(order, n); return nil })
	}
	if err := s.Rollback(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"c", "b", "a"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}

func TestRollbackAfterCommitDoesNothing(t *testing.T) {
	var s Stack
	ran := false
	s.Push("x", func() error { ran = true; return nil })
	s.Commit()
	if err := s.Rollback(); err != nil || ran {
		t.Fatalf("ran=%v err=%v after Commit", ran, err)
	}
}

func TestRollbackKeepsGoingAndReportsEveryFailure(t *testing.T) {
	var s Stack
	ran := 0
	s.Push("first", func() error { ran++; return errors.New("boom1") })
	s.Push("second", func() error { ran++; return errors.New("boom2") })
	err := s.Rollback()
	if ran != 2 || err == nil {
		t.Fatalf("ran=%d err=%v", ran, err)
	}
	for _, want := range []string{"undo first: boom1", "undo second: boom2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
