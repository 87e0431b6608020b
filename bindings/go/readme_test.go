package tsdb

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeExample: README.md shows example_test.go verbatim, so the README's example is
// the one `go test` runs (Example, with its // Output: check).
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	must(t, err)
	example, err := os.ReadFile("example_test.go")
	must(t, err)
	const open = "```go\n"
	start := strings.Index(string(readme), open)
	if start < 0 {
		t.Fatal("README.md has no ```go block")
	}
	body := string(readme)[start+len(open):]
	end := strings.Index(body, "```\n")
	if end < 0 {
		t.Fatal("README.md: the ```go block is not closed")
	}
	if body[:end] != string(example) {
		t.Fatalf("README.md's first ```go block differs from example_test.go; copy the file into it:\n%s", example)
	}
}
