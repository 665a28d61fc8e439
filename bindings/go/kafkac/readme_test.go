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

	text := goRun(t, src)
	if !strings.Contains(text, fmt.Sprintf("delivered: %s[0]@0 ", topic)) ||
		!strings.Contains(text, fmt.Sprintf(`read: %s[0]@0 key="" value="hello" <nil>`, topic)) {
		t.Fatalf("unexpected output:\n%s", text)
	}
}

// The transactions example of README.md copies the records of its input topic to its
// output exactly once: run against the broker, it copies each record, commits the
// group's offsets past them, and a read_committed reader reads the copies.
func TestReadmeTransactionsProgramRuns(t *testing.T) {
	b := bootstrap(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) < 2 {
		t.Fatal("README.md has no second go code block (transactions)")
	}
	src := string(blocks[1][1])
	for _, s := range []string{"localhost:9092", `"orders"`, `"orders-copy"`, `"copier"`, `"copier-1"`} {
		if !strings.Contains(src, s) {
			t.Fatalf("the transactions program no longer names %s:\n%s", s, src)
		}
	}
	input := newTopic(t, 1)
	output := newTopic(t, 1)
	group := input + "-copier"
	src = strings.ReplaceAll(src, "localhost:9092", b)
	src = strings.ReplaceAll(src, `"orders-copy"`, fmt.Sprintf("%q", output))
	src = strings.ReplaceAll(src, `"orders"`, fmt.Sprintf("%q", input))
	src = strings.ReplaceAll(src, `"copier-1"`, fmt.Sprintf("%q", input+"-txn"))
	src = strings.ReplaceAll(src, `"copier"`, fmt.Sprintf("%q", group))
	produceValues(t, newProducer(t, nil), input, "order-1", "order-2", "order-3")

	text := goRun(t, src)
	for i := 0; i < 3; i++ {
		if !strings.Contains(text, fmt.Sprintf("copied %s[0]@%d\n", input, i)) {
			t.Fatalf("record %d not copied:\n%s", i, text)
		}
	}
	produceValues(t, newProducer(t, nil), output, "end")
	values, _ := readAll(t, output, "read_committed", "end")
	if strings.Join(values, ",") != "order-1,order-2,order-3" {
		t.Fatalf("read_committed read %q from the output", values)
	}
	c := newConsumer(t, ConfigMap{"group.id": group})
	got, err := c.Committed([]TopicPartition{{Topic: input, Partition: 0}}, int(callTimeout/time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Offset != 3 {
		t.Fatalf("the group's committed offset is %v, want 3", got[0].Offset)
	}
}

// goRun runs src as the main package of a module that uses this package (by a replace
// directive), with this build's tags, within 4 minutes; it fails the test unless the
// program exits with 0, and returns its output.
func goRun(t *testing.T, src string) string {
	t.Helper()
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
	return string(out)
}
