package gettingstarted

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// guide is the guide this package is the code of.
const guide = "../../docs/getting-started.md"

// TestGuideSnippetsAreInTheCode keeps docs/getting-started.md in sync with
// this package: every line of every Go snippet of the guide must be a line
// of the package's code (its tests and examples included), whitespace
// around it aside. A snippet may leave lines out (and say so with a line
// "// ..."), not change them.
func TestGuideSnippetsAreInTheCode(t *testing.T) {
	md, err := os.ReadFile(guide)
	if err != nil {
		t.Fatal(err)
	}
	code := map[string]bool{}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(src), "\n") {
			code[strings.TrimSpace(line)] = true
		}
	}

	snippets, inGo := 0, false
	for i, line := range strings.Split(string(md), "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case strings.HasPrefix(line, "```go"):
			inGo = true
			snippets++
		case strings.HasPrefix(line, "```"):
			inGo = false
		case inGo && trimmed != "" && trimmed != "// ..." && !code[trimmed]:
			t.Errorf("%s:%d: a snippet line that is not in the code of examples/gettingstarted:\n\t%s", guide, i+1, trimmed)
		}
	}
	if snippets == 0 {
		t.Fatalf("%s has no Go snippets", guide)
	}
}
