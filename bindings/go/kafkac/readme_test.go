package kafkac

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// buildTags are the build flags the tests were built with (link_dynamic_test.go).
var buildTags []string

// The program README.md shows first is built as a module of its own and run against
// the broker: it must deliver its message and read it back.
func TestReadmeProgramRuns(t *testing.T) {
	b := bootstrap(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no go code block")
	}
	topic := newTopic(t, 1)
	src := string(blocks[0][1])
	if strings.Count(src, "localhost:9092") != 2 || strings.Count(src, `"greetings"`) != 2 {
		t.Fatalf("the program no longer names localhost:9092 and greetings twice:\n%s", src)
	}
	src = strings.ReplaceAll(src, "localhost:9092", b)
	src = strings.ReplaceAll(src, `"greetings"`, fmt.Sprintf("%q", topic))
	src = strings.ReplaceAll(src, `"readers"`, fmt.Sprintf("%q", topic+"-readers"))

	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := fmt.Sprintf("module example\n\ngo 1.21\n\nrequire kafkac.dev/kafkac v0.0.0\n\nreplace kafkac.dev/kafkac => %s\n", here)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"run"}, buildTags...), ".")...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, fmt.Sprintf("delivered: %s[0]@0 ", topic)) ||
		!strings.Contains(text, fmt.Sprintf(`read: %s[0]@0 key="" value="hello" <nil>`, topic)) {
		t.Fatalf("unexpected output:\n%s", text)
	}
}
