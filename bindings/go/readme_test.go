package tsdb

import (
	"os"
	"strings"
	"testing"
)

// readmeExamples are the files README.md shows, in the order of its ```go blocks.
var readmeExamples = []string{"example_test.go", "example_query_test.go"}

// TestReadmeExample: README.md shows the example files verbatim, so the README's examples
// are the ones `go test` runs (with their // Output: checks).
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	must(t, err)
	const open = "```go\n"
	rest := string(readme)
	for _, file := range readmeExamples {
		example, err := os.ReadFile(file)
		must(t, err)
		start := strings.Index(rest, open)
		if start < 0 {
			t.Fatalf("README.md has no ```go block for %s", file)
		}
		rest = rest[start+len(open):]
		end := strings.Index(rest, "```\n")
		if end < 0 {
			t.Fatal("README.md: a ```go block is not closed")
		}
		if rest[:end] != string(example) {
			t.Fatalf("README.md's ```go block for %s differs from it; copy the file into it:\n%s", file, example)
		}
		rest = rest[end:]
	}
	if strings.Contains(rest, open) {
		t.Fatalf("README.md has more ```go blocks than the %d example files", len(readmeExamples))
	}
}
