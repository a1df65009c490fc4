package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/emmett-go/emmett/cli"
	"github.com/emmett-go/emmett/emmett"
)

// A session with the tool on a SQLite file: create the schema, append two
// events (the second only if the stream is still at version 1), and read
// the stream's version. A stale expected version fails with exit code 1.
func Example() {
	dir, _ := os.MkdirTemp("", "emmett-cli")
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "app.db")

	emmett := func(args ...string) {
		var stdout, stderr strings.Builder
		code := cli.Main(context.Background(), append([]string{"-sqlite", db}, args...), strings.NewReader(""), &stdout, &stderr)
		fmt.Print(stdout.String(), stderr.String())
		if code != 0 {
			fmt.Println("exit code", code)
		}
	}
	emmett("migrate")
	emmett("append", "notes-1", "-type", "NoteTaken", "-data", `{"text":"hello"}`, "-expect", "no_stream")
	emmett("append", "notes-1", "-type", "NoteTaken", "-data", `{"text":"again"}`, "-expect", "1")
	emmett("version", "notes-1")
	emmett("append", "notes-1", "-type", "NoteTaken", "-data", `{"text":"late"}`, "-expect", "1")
	// Output:
	// schema up to date
	// {"created":true,"nextExpectedVersion":1,"position":"1"}
	// {"created":false,"nextExpectedVersion":2,"position":"2"}
	// 2
	// emmett: eventstore: version conflict on stream "notes-1": expected 1, actual 2
	// exit code 1
}

// NoteTaken is an event of the application in ExampleWithUpgrade: its
// version 2 calls version 1's "text" "body".
type NoteTaken struct {
	Body string `json:"body"`
}

// An application builds the tool with its registry: read prints events in
// the current form of their type, through the upcasters, and -raw as they
// are stored.
func ExampleWithUpgrade() {
	dir, _ := os.MkdirTemp("", "emmett-cli")
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "app.db")
	events := emmett.NewEvents[NoteTaken](NoteTaken{}).
		Upcast("NoteTaken", 1, emmett.UpcastJSON(func(v1 struct {
			Text string `json:"text"`
		}) (NoteTaken, error) {
			return NoteTaken{Body: v1.Text}, nil
		}))

	tool := func(args ...string) {
		var stdout, stderr strings.Builder
		cli.Main(context.Background(), append([]string{"-sqlite", db}, args...), strings.NewReader(""), &stdout, &stderr,
			cli.WithUpgrade(events.Upgrade), cli.WithSchema(events.Schema()))
		for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var e struct {
				Type          string          `json:"type"`
				SchemaVersion int             `json:"schemaVersion"`
				Data          json.RawMessage `json:"data"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Type != "" {
				fmt.Println(e.Type, e.SchemaVersion, string(e.Data))
			} else {
				fmt.Println(line)
			}
		}
		fmt.Print(stderr.String())
	}
	// A version 1 event, stored before the type changed (append stores
	// what it is given, at version 1).
	tool("append", "notes-1", "-type", "NoteTaken", "-data", `{"text":"hello"}`)
	tool("read", "notes-1")
	tool("read", "notes-1", "-raw")
	tool("check")
	// Output:
	// {"created":true,"nextExpectedVersion":1,"position":"1"}
	// NoteTaken 2 {"body":"hello"}
	// NoteTaken 1 {"text":"hello"}
	// 1 of 1 events checked: every one is of a type and version the registry reads
}
