package vault

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoInPlaceMetadataWrites reads every non-test Go file of the module
// for a write into a Record's Metadata map (or its Sealed bytes, which the
// cache shares with every hit alike) (an index assignment, delete,
// clear, maps.Copy or maps.Insert on x.Metadata) and requires the same
// function to have given x.Metadata a map of its own first (maps.Clone, make
// or a map literal). The read cache and the Touching vault hand one map to
// many records (dayMaps, touchDay.meta): a write in place would change the
// last-used day of every cached card of that day. It also refuses a plain
// alias (m := rec.Metadata), whose writes it could not follow.
func TestNoInPlaceMetadataWrites(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if n := e.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		for _, bad := range metadataWrites(f) {
			t.Errorf("%s: %s", fset.Position(bad.Pos()), describeWrite(bad))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d files read: is the module root %s?", checked, root)
	}
}

// metadataWrites returns the in-place writes to x.Metadata in f's
// functions that no earlier fresh assignment to x.Metadata in the same
// function covers, and the plain aliases of a Metadata map.
func metadataWrites(f *ast.File) []ast.Node {
	var bad []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		var body *ast.BlockStmt
		switch fn := n.(type) {
		case *ast.FuncDecl:
			body = fn.Body
		case *ast.FuncLit:
			body = fn.Body
		default:
			return true
		}
		if body == nil {
			return false
		}
		fresh := map[string]token.Pos{} // x.Metadata -> where it got a map of its own
		ast.Inspect(body, func(n ast.Node) bool {
			if _, ok := n.(*ast.FuncLit); ok {
				return false // checked on its own
			}
			switch s := n.(type) {
			case *ast.AssignStmt:
				for i, lhs := range s.Lhs {
					if sel, ok := metadataSel(lhs); ok && i < len(s.Rhs) && freshMap(s.Rhs[i]) {
						if _, seen := fresh[exprKey(sel)]; !seen {
							fresh[exprKey(sel)] = s.Pos()
						}
					}
					if ix, ok := lhs.(*ast.IndexExpr); ok {
						if sel, ok := metadataSel(ix.X); ok && !covered(fresh, sel, s.Pos()) {
							bad = append(bad, s)
						}
					}
					if _, ok := lhs.(*ast.Ident); ok && i < len(s.Rhs) && len(s.Lhs) == len(s.Rhs) {
						if _, ok := metadataSel(s.Rhs[i]); ok {
							bad = append(bad, s) // an alias
						}
					}
				}
			case *ast.CallExpr:
				if isWriteCall(s) && len(s.Args) > 0 {
					if sel, ok := metadataSel(s.Args[0]); ok && !covered(fresh, sel, s.Pos()) {
						bad = append(bad, s)
					}
				}
			}
			return true
		})
		return true
	})
	return bad
}

// metadataSel matches x.Metadata, and x.Sealed, whose bytes the read cache
// hands every hit too (packed.record).
func metadataSel(e ast.Expr) (*ast.SelectorExpr, bool) {
	sel, ok := e.(*ast.SelectorExpr)
	return sel, ok && (sel.Sel.Name == "Metadata" || sel.Sel.Name == "Sealed")
}

func exprKey(e ast.Expr) string {
	var b strings.Builder
	ast.Inspect(e, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			b.WriteString(id.Name + ".")
		}
		return true
	})
	return b.String()
}

func covered(fresh map[string]token.Pos, sel *ast.SelectorExpr, at token.Pos) bool {
	p, ok := fresh[exprKey(sel)]
	return ok && p < at
}

// freshMap reports whether e makes a new map: maps.Clone(...), make(...)
// or a composite literal.
func freshMap(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.CompositeLit:
		return true
	case *ast.CallExpr:
		switch fn := e.Fun.(type) {
		case *ast.Ident:
			return fn.Name == "make"
		case *ast.SelectorExpr:
			pkg, ok := fn.X.(*ast.Ident)
			return ok && pkg.Name == "maps" && fn.Sel.Name == "Clone"
		}
	}
	return false
}

// isWriteCall reports whether c changes the map or slice it gets first:
// delete, clear, copy, maps.Copy, maps.Insert, maps.DeleteFunc.
func isWriteCall(c *ast.CallExpr) bool {
	switch fn := c.Fun.(type) {
	case *ast.Ident:
		return fn.Name == "delete" || fn.Name == "clear" || fn.Name == "copy"
	case *ast.SelectorExpr:
		pkg, ok := fn.X.(*ast.Ident)
		return ok && pkg.Name == "maps" && (fn.Sel.Name == "Copy" || fn.Sel.Name == "Insert" || fn.Sel.Name == "DeleteFunc")
	}
	return false
}

func describeWrite(n ast.Node) string {
	if s, ok := n.(*ast.AssignStmt); ok {
		if _, ok := s.Lhs[0].(*ast.Ident); ok {
			return "an alias of a record's Metadata map: clone it (maps.Clone), it may be shared (dayMaps)"
		}
	}
	return "writes into a record's Metadata map with no maps.Clone (or new map) before it in the function: the map may be shared by every cached record of a day (dayMaps)"
}

// TestMetadataWritesDetected: the check finds what it is for.
func TestMetadataWritesDetected(t *testing.T) {
	src := `package p
func bad(rec Record) { rec.Metadata["k"] = "v" }
func bad2(rec Record) { delete(rec.Metadata, "k") }
func bad3(rec Record) { maps.Copy(rec.Metadata, other) }
func bad4(rec Record) { m := rec.Metadata; m["k"] = "v" }
func bad5(rec, next Record) { next.Metadata = maps.Clone(rec.Metadata); rec.Metadata["k"] = "v" }
func bad6(rec Record) { rec.Metadata["k"] = "v"; rec.Metadata = map[string]string{} }
func bad7(rec Record) { rec.Sealed[0] ^= 1 }
func bad8(rec Record) { copy(rec.Sealed, x) }
func good(rec Record) { next := rec; next.Metadata = maps.Clone(rec.Metadata); next.Metadata["k"] = "v"; delete(next.Metadata, "x") }
func good2(rec Record) { rec.Metadata = make(map[string]string); rec.Metadata["k"] = "v" }
func good3(rec Record) { if _, ok := rec.Metadata["k"]; ok { return }; for k := range rec.Metadata { _ = k } }
`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	for _, n := range metadataWrites(f) {
		for _, d := range f.Decls {
			if fd := d.(*ast.FuncDecl); fd.Pos() <= n.Pos() && n.End() <= fd.End() {
				found[fd.Name.Name]++
			}
		}
	}
	for _, name := range []string{"bad", "bad2", "bad3", "bad4", "bad5", "bad6", "bad7", "bad8"} {
		if found[name] == 0 {
			t.Errorf("%s: write not found", name)
		}
	}
	for _, name := range []string{"good", "good2", "good3"} {
		if found[name] != 0 {
			t.Errorf("%s: %d writes reported, want none", name, found[name])
		}
	}
}
