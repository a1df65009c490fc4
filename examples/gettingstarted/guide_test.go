package gettingstarted

import (
	"bufio"
	"cmp"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "write the files of examples/gettingstarted from the snippets of docs/getting-started.md")

const (
	// guidePath is the guide this package is the code of.
	guidePath = "../../docs/getting-started.md"
	// readmePath is the repository's README.
	readmePath = "../../README.md"
	// repoRoot holds the module this package belongs to.
	repoRoot = "../.."
	// notCompiled begins the first line of a ```go snippet that is not part
	// of the program, followed by the reason.
	notCompiled = "// not compiled: "
	// goGet is the command that adds the library to a module.
	goGet = "go get github.com/emmett-go/emmett@latest"
)

// needsPostgres are the guide's tests that the assembled module does not
// run: this package runs them, on the same code.
var needsPostgres = []string{"TestPostgres"}

// droppedLines are the sample of guide lines (trimmed) that the build must
// miss: each is removed from the guide in turn, and go vet must then fail.
// Three are declarations that the first version of the guide did not show,
// one is an import of a test file; removing any of them leaves valid
// syntax, so that only a type check of every file catches it.
var droppedLines = []string{
	"func (Deposit) isCommand()  {}",
	"func StreamName(accountID string) string { return \"account-\" + accountID }",
	"Withdrawn int `json:\"withdrawn\"`",
	"\"github.com/emmett-go/emmett/telemetry\"",
}

// A snippet is the code of one ```go fence of the guide.
type snippet struct {
	file  string   // the file of the package it belongs to; "" if not compiled
	start int      // the guide's line number of its first line of code
	lines []string // its lines of code
}

// titleAttr is the rest of a ```go fence's info string: the file.
var titleAttr = regexp.MustCompile(`^title="([A-Za-z0-9_]+\.go)"$`)

// parseSnippets returns the ```go snippets of a Markdown text, in order.
func parseSnippets(md string) ([]snippet, error) {
	var (
		snippets []snippet
		cur      *snippet // the ```go fence being read
		inFence  bool     // inside a fence of any language
		opened   int
	)
	for i, line := range strings.Split(md, "\n") {
		n := i + 1
		if inFence {
			if strings.HasPrefix(line, "```") {
				inFence = false
				if cur != nil {
					snippets = append(snippets, *cur)
					cur = nil
				}
			} else if cur != nil {
				cur.lines = append(cur.lines, line)
			}
			continue
		}
		if !strings.HasPrefix(line, "```") {
			continue
		}
		inFence, opened = true, n
		info := strings.Fields(strings.TrimPrefix(line, "```"))
		if len(info) == 0 || info[0] != "go" {
			continue
		}
		cur = &snippet{start: n + 1}
		switch {
		case len(info) == 2 && titleAttr.MatchString(info[1]):
			cur.file = titleAttr.FindStringSubmatch(info[1])[1]
		case len(info) == 1:
			// Not compiled: its first line must say so, checked below.
		default:
			return nil, fmt.Errorf("line %d: a ```go fence takes one attribute, title=\"file.go\": %q", n, line)
		}
	}
	if inFence {
		return nil, fmt.Errorf("line %d: a fence is not closed", opened)
	}
	return snippets, nil
}

// checkNotCompiled checks that each snippet that names no file says why.
func checkNotCompiled(snippets []snippet) error {
	for _, s := range snippets {
		if s.file != "" {
			continue
		}
		if len(s.lines) == 0 || !strings.HasPrefix(s.lines[0], notCompiled) || strings.TrimSpace(strings.TrimPrefix(s.lines[0], notCompiled)) == "" {
			return fmt.Errorf("line %d: a ```go snippet names no file (```go title=\"file.go\") and does not begin with %q and a reason", s.start, notCompiled)
		}
	}
	return nil
}

// A program is the files the guide's snippets make.
type program struct {
	names []string          // the files, in the order the guide begins them
	src   map[string][]byte // each file's code
	from  map[string][]int  // the guide's line of each line of a file; 0 for a blank line between snippets
}

// assemble makes the files of the compiled snippets: each file is its
// snippets in order, one blank line apart.
func assemble(snippets []snippet) program {
	p := program{src: map[string][]byte{}, from: map[string][]int{}}
	for _, s := range snippets {
		if s.file == "" {
			continue
		}
		if _, ok := p.src[s.file]; !ok {
			p.names = append(p.names, s.file)
		} else {
			p.src[s.file] = append(p.src[s.file], '\n')
			p.from[s.file] = append(p.from[s.file], 0)
		}
		for i, line := range s.lines {
			p.src[s.file] = append(p.src[s.file], line+"\n"...)
			p.from[s.file] = append(p.from[s.file], s.start+i)
		}
	}
	return p
}

// firstDifference returns the 0-based index of the first line where a and
// b differ, or -1 if they are equal.
func firstDifference(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range max(len(la), len(lb)) {
		if i >= len(la) || i >= len(lb) || la[i] != lb[i] {
			return i
		}
	}
	return -1
}

// lineAt returns the index-th line of src, or "(the end of the file)".
func lineAt(src []byte, index int) string {
	lines := strings.Split(string(src), "\n")
	if index >= len(lines) {
		return "(the end of the file)"
	}
	return strconv.Quote(lines[index])
}

// guideLine says where in the guide a file's line comes from.
func (p program) guideLine(file string, index int) string {
	from := p.from[file]
	switch {
	case index >= len(from):
		return fmt.Sprintf("after the guide's last snippet for %s", file)
	case from[index] == 0:
		return fmt.Sprintf("between the snippets at lines %d and %d of the guide", from[index-1], from[index+1])
	}
	return fmt.Sprintf("line %d of the guide", from[index])
}

// imports returns the import paths of Go source: a file, or the import
// declarations of one without its package clause.
func imports(t *testing.T, src string) []string {
	t.Helper()
	if !strings.HasPrefix(strings.TrimSpace(src), "package ") {
		src = "package p\n" + src
	}
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.ImportsOnly)
	require.NoError(t, err, src)
	var paths []string
	for _, spec := range f.Imports {
		path, err := strconv.Unquote(spec.Path.Value)
		require.NoError(t, err)
		paths = append(paths, path)
	}
	return paths
}

// goVersion returns the version on go.mod's go line.
func goVersion(t *testing.T) string {
	t.Helper()
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	require.NotNil(t, m, "go.mod has no go line")
	return string(m[1])
}

// writeModule writes files into a new module in dir that requires this
// repository's module through a replace directive.
func writeModule(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	gomod := fmt.Sprintf("module example.com/gettingstarted\n\ngo %s\n\nrequire github.com/emmett-go/emmett v0.0.0\n\nreplace github.com/emmett-go/emmett => %s\n", goVersion(t), root)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
	// The repository's checksums: the module resolves offline, from the
	// module cache that building this package filled.
	sums, err := os.ReadFile(filepath.Join(repoRoot, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sums, 0o644))
	for name, src := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), src, 0o644))
	}
}

// runGo runs the go command in dir and returns its combined output.
func runGo(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = dir
	// -mod=mod lets go add the requirements the snippets import
	// (testify, OpenTelemetry's SDK) from the module graph; GOPROXY=off
	// keeps it from the network.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// testNames returns the tests and examples that Go files declare.
func testNames(t *testing.T, p program) []string {
	t.Helper()
	var names []string
	fset := token.NewFileSet()
	for _, name := range p.names {
		if !strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, p.src[name], parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Name.Name == "TestMain" {
				continue
			}
			if strings.HasPrefix(fn.Name.Name, "Test") || strings.HasPrefix(fn.Name.Name, "Example") {
				names = append(names, fn.Name.Name)
			}
		}
	}
	return names
}

// TestGuide keeps docs/getting-started.md and this package one text, so
// that they cannot drift apart.
//
// Each Go snippet of the guide names, in its fence, the file of this package
// it belongs to:
//
//	```go title="account.go"
//
// and each file of the package is the snippets that name it, in the guide's
// order, one blank line apart: a file begins with a snippet that begins with
// its package clause, and a snippet may go on with a function that an
// earlier one began (the guide's Example runs through sections 4 to 7). A
// ```go snippet that is not part of the program says so on its first line,
// "// not compiled: <why>"; keep these rare. Fences of other languages
// (sh, text) are not code.
//
// TestGuide checks that:
//
//   - every .go file of this package, this one aside, is exactly the
//     snippets that name it, gofmt-clean. Edit the guide, then write its
//     code into the package with
//     go test ./examples/gettingstarted -run TestGuide -update;
//   - the snippets alone, assembled into a module of their own that uses
//     this repository through a replace directive, pass go vet, and pass
//     go test with each of their tests and examples run (Example's printed
//     output checked against its "// Output:" comment). The guide is
//     therefore a complete program: nothing it uses can hide in a file it
//     does not show. TestPostgres is left to this package's own run, on the
//     same code, to start no second PostgreSQL server;
//   - dropping one line of a sample from the guide makes go vet fail: the
//     build above is a real guard, one that type-checks every snippet;
//   - the guide and the README say how to depend on the library: go get,
//     the Go version of go.mod's go line, and import blocks that name only
//     packages the guide's code imports.
func TestGuide(t *testing.T) {
	md, err := os.ReadFile(guidePath)
	require.NoError(t, err)
	snippets, err := parseSnippets(string(md))
	require.NoError(t, err, guidePath)
	require.NoError(t, checkNotCompiled(snippets), guidePath)
	p := assemble(snippets)
	require.NotEmpty(t, p.names, "%s has no compiled Go snippets", guidePath)

	t.Run("the package is the guide's code", func(t *testing.T) {
		for _, name := range p.names {
			src := p.src[name]
			require.NotEqual(t, "guide_test.go", name, "the guide may not write this test")
			formatted, err := format.Source(src)
			if !assert.NoError(t, err, "the guide's %s", name) {
				continue
			}
			if i := firstDifference(src, formatted); i >= 0 {
				t.Errorf("the guide's %s is not gofmt-clean at %s: %s, gofmt makes it %s", name, p.guideLine(name, i), lineAt(src, i), lineAt(formatted, i))
				continue
			}
			if *update {
				require.NoError(t, os.WriteFile(name, src, 0o644))
			}
			have, err := os.ReadFile(name)
			if !assert.NoError(t, err, "%s is in the guide but not in the package: go test -run TestGuide -update writes it", name) {
				continue
			}
			if i := firstDifference(src, have); i >= 0 {
				t.Errorf("examples/gettingstarted/%s differs from the guide's snippets for it at its line %d (%s): the guide has %s, the file %s.\n"+
					"Mend the guide, then go test ./examples/gettingstarted -run TestGuide -update writes its code into the package.",
					name, i+1, p.guideLine(name, i), lineAt(src, i), lineAt(have, i))
			}
		}
		files, err := filepath.Glob("*.go")
		require.NoError(t, err)
		for _, f := range files {
			if f != "guide_test.go" && !slices.Contains(p.names, f) {
				t.Errorf("examples/gettingstarted/%s is not in the guide: the package is the guide's code, and nothing else", f)
			}
		}
	})

	t.Run("says how to depend on the library", func(t *testing.T) {
		imported := map[string]bool{}
		for _, name := range p.names {
			for _, path := range imports(t, string(p.src[name])) {
				imported[path] = true
			}
		}
		version := goVersion(t)
		readme, err := os.ReadFile(readmePath)
		require.NoError(t, err)
		readmeSnippets, err := parseSnippets(string(readme))
		require.NoError(t, err, readmePath)
		for _, doc := range []struct {
			path     string
			text     string
			snippets []snippet
		}{{guidePath, string(md), snippets}, {readmePath, string(readme), readmeSnippets}} {
			assert.True(t, strings.Contains(doc.text, goGet), "%s must say %q", doc.path, goGet)
			assert.True(t, strings.Contains(doc.text, "Go "+version), "%s must say which Go it needs, \"Go %s\", as go.mod's go line does", doc.path, version)
			blocks := 0
			for _, s := range doc.snippets {
				code := strings.Join(s.lines, "\n")
				if s.file != "" || !strings.Contains(code, "import (") {
					continue
				}
				blocks++
				paths := imports(t, code)
				assert.Contains(t, paths, "github.com/emmett-go/emmett/emmett", "%s:%d: the import block shows the core package", doc.path, s.start)
				for _, path := range paths {
					assert.True(t, imported[path], "%s:%d: the import block names %s, which the guide's code does not import", doc.path, s.start, path)
				}
			}
			assert.Equal(t, 1, blocks, "%s shows one import block for a first app", doc.path)
		}
	})

	// Two modules, so that the go commands run side by side: one runs the
	// guide's tests, the other vets the guide and its mutants.
	t.Run("runs", func(t *testing.T) {
		t.Parallel()
		names := testNames(t, p)
		for _, name := range needsPostgres {
			require.Contains(t, names, name, "needsPostgres names a test the guide does not have")
		}
		dir := t.TempDir()
		writeModule(t, dir, p.src)
		out, err := runGo(t, dir, "test", "-vet=off", "-count=1", "-v", "-skip", "^("+strings.Join(needsPostgres, "|")+")$", ".")
		require.NoError(t, err, "go test of the guide's snippets, assembled:\n%s", out)
		passed := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^--- PASS: (\S+)`).FindAllStringSubmatch(out, -1) {
			passed[m[1]] = true
		}
		for _, name := range names {
			if !slices.Contains(needsPostgres, name) {
				assert.True(t, passed[name], "the guide's %s did not pass:\n%s", name, out)
			}
		}
		assert.True(t, passed["Example"], "the guide's Example did not run:\n%s", out)
	})

	t.Run("vet passes, and fails with a line dropped", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeModule(t, dir, p.src)
		var pkgs []string
		for i, drop := range droppedLines {
			mutated := slices.Clone(snippets)
			found := 0
			for j, s := range mutated {
				for k, line := range s.lines {
					if s.file != "" && strings.TrimSpace(line) == drop {
						found++
						mutated[j].lines = slices.Delete(slices.Clone(s.lines), k, k+1)
					}
				}
			}
			require.Equal(t, 1, found, "droppedLines: %q must be one line of the guide's code", drop)
			pkg := fmt.Sprintf("drop%d", i)
			require.NoError(t, os.Mkdir(filepath.Join(dir, pkg), 0o755))
			for name, src := range assemble(mutated).src {
				require.NoError(t, os.WriteFile(filepath.Join(dir, pkg, name), src, 0o644))
			}
			pkgs = append(pkgs, pkg)
		}
		out, err := runGo(t, dir, "vet", "./...")
		require.Error(t, err, "go vet passed the guide with lines dropped:\n%s", out)
		// go vet reports each package's errors under a "# import/path"
		// line ("# import/path [import/path.test]" for its tests).
		failed := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			header, ok := strings.CutPrefix(sc.Text(), "# ")
			if !ok || strings.HasPrefix(header, "[") {
				continue
			}
			path, ours := strings.CutPrefix(strings.Fields(header)[0], "example.com/gettingstarted")
			require.True(t, ours, "go vet failed on a package of the repository, not of the guide:\n%s", out)
			failed[cmp.Or(strings.TrimPrefix(path, "/"), ".")] = true
		}
		require.False(t, failed["."], "go vet of the guide's snippets, assembled:\n%s", out)
		for i, pkg := range pkgs {
			assert.True(t, failed[pkg], "go vet passed the guide without the line %q:\n%s", droppedLines[i], out)
		}
	})
}
