// Command qinq-lint is the project's vet tool: `go vet -vettool=bin/qinq-lint ./...`
// runs errptr (no function returns a concrete error type, so no typed nil
// error can exist), nilness, and staticcheck's correctness checks (SA*), among
// them SA4023, impossible comparisons of interface values with nil.
package main

import (
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/nilness"
	"golang.org/x/tools/go/analysis/unitchecker"
	"honnef.co/go/tools/staticcheck"

	"github.com/qinq-cni/qinq/tools/lint/errptr"
)

func main() {
	analyzers := []*analysis.Analyzer{errptr.Analyzer, nilness.Analyzer}
	for _, a := range staticcheck.Analyzers {
		analyzers = append(analyzers, a.Analyzer)
	}
	unitchecker.Main(analyzers...)
}
