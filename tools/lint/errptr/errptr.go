// Package errptr reports functions that return a concrete error type
// instead of error. Such a function can return a typed nil: a nil
// *types.Error that, as an error, is not nil. The caller's `err != nil`
// holds, and the first err.Error() crashes the plugin (this crashed qinq's
// DEL once: exit 2, a pod stuck terminating). Helpers return error; code
// that needs the fields uses errors.As.
package errptr

import (
	"go/ast"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// Analyzer is the errptr check.
var Analyzer = &analysis.Analyzer{
	Name: "errptr",
	Doc:  "report functions whose results include a concrete (non-interface) type implementing error",
	Run:  run,
}

var errorType = types.Universe.Lookup("error").Type().Underlying().(*types.Interface)

func run(pass *analysis.Pass) (any, error) {
	for _, file := range pass.Files {
		if strings.HasSuffix(pass.Fset.File(file.Pos()).Name(), "_test.go") {
			continue
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if fn, ok := n.(*ast.FuncType); ok {
				check(pass, fn)
			}
			return true
		})
	}
	return nil, nil
}

func check(pass *analysis.Pass, fn *ast.FuncType) {
	if fn.Results == nil {
		return
	}
	for _, field := range fn.Results.List {
		t := pass.TypesInfo.TypeOf(field.Type)
		if t == nil || types.IsInterface(t) || !types.Implements(t, errorType) {
			continue
		}
		pass.Reportf(field.Pos(), "result of concrete error type %s: return error, or a nil of this type becomes a non-nil error", t)
	}
}
