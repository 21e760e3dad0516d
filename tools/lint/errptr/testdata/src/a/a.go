package a

import "errors"

type myErr struct{}

func (*myErr) Error() string { return "x" }

type valErr struct{}

func (valErr) Error() string { return "y" }

func bad() *myErr { return nil } // want `result of concrete error type \*a.myErr`

func badValue() (int, valErr) { return 0, valErr{} } // want `result of concrete error type a.valErr`

func good() error { return errors.New("fine") }

var literal = func() *myErr { return nil } // want `result of concrete error type \*a.myErr`

func notAnError() *int { return nil }
