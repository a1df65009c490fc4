package shoppingcart_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goFence is the opening of a guide's Go snippet, with the file it is
// taken from.
var goFence = regexp.MustCompile("(?m)^```go title=\"([^\"]+)\"\n")

// TestWorkflowsGuide checks that each Go snippet of docs/workflows.md is
// the code of the file it names, which this package's tests build and
// run (the app's main is built by the tests of its command).
func TestWorkflowsGuide(t *testing.T) {
	root := filepath.Join("..", "..")
	guide, err := os.ReadFile(filepath.Join(root, "docs", "workflows.md"))
	require.NoError(t, err)
	require.Equal(t, strings.Count(string(guide), "```go"), len(goFence.FindAllString(string(guide), -1)),
		"every Go snippet names its file")
	snippets := 0
	for _, m := range goFence.FindAllStringSubmatchIndex(string(guide), -1) {
		file := string(guide[m[2]:m[3]])
		code, _, closed := strings.Cut(string(guide[m[1]:]), "```")
		require.True(t, closed, "the snippet of %s ends", file)
		src, err := os.ReadFile(filepath.Join(root, file))
		require.NoError(t, err, "the file of a snippet")
		assert.True(t, strings.Contains(squash(string(src)), squash(code)), "a snippet of docs/workflows.md is not the code of %s:\n%s", file, code)
		snippets++
	}
	assert.GreaterOrEqual(t, snippets, 5)
}

// squash returns s with each run of white space made one space.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }
