package httpapi

import (
	"crypto/sha256"
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

func TestTokenMatches(t *testing.T) {
	want := sha256.Sum256([]byte("s3cret-token-0123456789"))
	for presented, ok := range map[string]bool{
		"s3cret-token-0123456789":  true,
		"s3cret-token-012345678":   false, // a prefix
		"s3cret-token-01234567890": false, // one more character
		"S3cret-token-0123456789":  false,
		"":                         false,
	} {
		if got := tokenMatches(presented, want); got != ok {
			t.Errorf("tokenMatches(%q) = %v, want %v", presented, got, ok)
		}
	}
}

// TestTokenComparisonIsConstantTime reads tokenMatches' source: it must compare with
// crypto/subtle and with no other == or != on the token, so that its time does not
// depend on how much of the token an attacker guessed. (Timing it would measure the
// machine's noise.)
func TestTokenComparisonIsConstantTime(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "server.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var body *ast.BlockStmt
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "tokenMatches" {
			body = fn.Body
		}
	}
	if body == nil {
		t.Fatal("no func tokenMatches in server.go")
	}
	subtle, equality := false, 0
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && x.Name == "subtle" && n.Sel.Name == "ConstantTimeCompare" {
				subtle = true
			}
		case *ast.BinaryExpr:
			if n.Op == token.EQL || n.Op == token.NEQ {
				// Allowed: checking ConstantTimeCompare's int result, and refusing an
				// empty token (which tells an attacker only that it is empty).
				lit, ok := n.Y.(*ast.BasicLit)
				if !ok || (lit.Kind != token.INT && lit.Value != `""`) {
					equality++
				}
			}
		}
		return true
	})
	if !subtle || equality > 0 {
		t.Fatalf("tokenMatches: subtle.ConstantTimeCompare used %v, other equality tests %d", subtle, equality)
	}
}
