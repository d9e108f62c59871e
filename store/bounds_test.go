package store

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"
)

// The key bounds repeat mesh's own, which store cannot import. This test
// reads them from mesh's source, so the two cannot drift apart.
func TestBoundsMatchMesh(t *testing.T) {
	for _, c := range []struct {
		file, name string
		ours       int64
	}{
		{"../config.go", "MaxIDLen", MaxIDLen},
		{"../capability/capability.go", "MaxNameLen", MaxCapabilityLen},
		{"../config.go", "maxMaxPayload", MaxDataLen},
	} {
		got := constInt(t, filepath.FromSlash(c.file), c.name)
		if got != c.ours {
			t.Errorf("%s in %s is %d; store has %d", c.name, c.file, got, c.ours)
		}
	}
}

// constInt returns the value of the integer constant name declared in file.
func constInt(t *testing.T, file, name string) int64 {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if n.Name != name || i >= len(vs.Values) {
					continue
				}
				v := constValue(t, vs.Values[i])
				n, ok := constant.Int64Val(v)
				if !ok {
					t.Fatalf("%s in %s is not an int64", name, file)
				}
				return n
			}
		}
	}
	t.Fatalf("no constant %s in %s", name, file)
	return 0
}

// constValue evaluates the literals, shifts and products the bounds are
// written with.
func constValue(t *testing.T, e ast.Expr) constant.Value {
	t.Helper()
	switch e := e.(type) {
	case *ast.BasicLit:
		return constant.MakeFromLiteral(e.Value, e.Kind, 0)
	case *ast.ParenExpr:
		return constValue(t, e.X)
	case *ast.BinaryExpr:
		x, y := constValue(t, e.X), constValue(t, e.Y)
		if e.Op == token.SHL || e.Op == token.SHR {
			s, _ := constant.Uint64Val(y)
			return constant.Shift(x, e.Op, uint(s))
		}
		return constant.BinaryOp(x, e.Op, y)
	}
	t.Fatalf("cannot evaluate %T", e)
	return nil
}
