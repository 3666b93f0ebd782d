package s3api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/sigv4"
)

// TestErrorTable checks that every S3 error code the package can answer
// is in the one table, with a status and AWS's message: the codes passed
// to errorf and those of toS3's mapping, found in the sources, and the
// codes sigv4 returns.
func TestErrorTable(t *testing.T) {
	codes := map[string]string{} // code → where it is raised
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				// errorf(code, …) and notFound(action, code).
				arg := -1
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "errorf" && len(n.Args) == 2 {
					arg = 0
				} else if ok && id.Name == "notFound" && len(n.Args) == 2 {
					arg = 1
				}
				if arg >= 0 {
					if lit, ok := n.Args[arg].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						code, _ := strconv.Unquote(lit.Value)
						codes[code] = fset.Position(n.Pos()).String()
					}
				}
			case *ast.CompositeLit: // toS3's {meta.ErrX, "Code"} rows
				if len(n.Elts) == 2 {
					if lit, ok := n.Elts[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if sel, isSel := n.Elts[0].(*ast.SelectorExpr); isSel && isPkg(sel.X, "meta", "objects") {
							code, _ := strconv.Unquote(lit.Value)
							codes[code] = fset.Position(n.Pos()).String()
						}
					}
				}
			}
			return true
		})
	}
	if len(codes) < 30 {
		t.Fatalf("found only %d codes in the sources: the scan is broken", len(codes))
	}
	for _, c := range []string{sigv4.CodeAccessDenied, sigv4.CodeSignatureDoesNotMatch, sigv4.CodeInvalidAccessKeyID,
		sigv4.CodeRequestTimeTooSkewed, sigv4.CodeAuthorizationHeaderMalformed, sigv4.CodeAuthorizationQueryParametersError,
		sigv4.CodeInvalidArgument, sigv4.CodeInvalidRequest, sigv4.CodeIncompleteBody, sigv4.CodeNotImplemented} {
		codes[c] = "sigv4"
	}
	for code, where := range codes {
		e, ok := errorCodes[code]
		if !ok {
			t.Errorf("%s: code %q is not in errorCodes", where, code)
			continue
		}
		if e.status < 300 || e.status > 599 || e.message == "" {
			t.Errorf("errorCodes[%q] = %+v: want an error status and a message", code, e)
		}
	}
	for code, e := range errorCodes {
		if e.message == "" || e.status < 400 {
			t.Errorf("errorCodes[%q] = %+v: want an error status and a message", code, e)
		}
	}
}

// isPkg reports whether x names one of the packages.
func isPkg(x ast.Expr, names ...string) bool {
	id, ok := x.(*ast.Ident)
	if !ok {
		return false
	}
	for _, n := range names {
		if id.Name == n {
			return true
		}
	}
	return false
}
