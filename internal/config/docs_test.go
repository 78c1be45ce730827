package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryKey: README's configuration block is the defaults, and
// docs/OPERATIONS.md's table of configuration keys has a row for every key,
// so a key added here cannot go undocumented.
func TestDocsListEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```yaml\ndata_dir:")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```yaml block starting with data_dir:")
	}
	c, src, err := Parse([]byte("data_dir:"+block), "README.md")
	if err != nil {
		t.Fatalf("README's configuration block: %v", err)
	}
	if c != Default() {
		t.Errorf("README's configuration block is not the defaults:\n got %+v\nwant %+v", c, Default())
	}
	ops, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		if !strings.Contains(string(ops), "\n| `"+k.Path+"` |") {
			t.Errorf("docs/OPERATIONS.md: no row for %s in the configuration keys table", k.Path)
		}
		if src[k.Path] == "" {
			t.Errorf("README.md: %s missing from the configuration block", k.Path)
		}
	}
}
