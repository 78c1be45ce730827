package agent

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNothingInternal: an AV team vendors this package with packages
// frame and codes alone (the import rules, internal/archtest), so neither it
// nor its tests import anything under internal/ or any other package of
// fifthwheel.
func TestImportsNothingInternal(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	if len(files) == 0 {
		t.Fatal("no files")
	}
	for _, f := range files {
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/fifthwheel/fifthwheel/") && p != "github.com/fifthwheel/fifthwheel/frame" &&
				p != "github.com/fifthwheel/fifthwheel/codes" {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
