package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
		code := run(context.Background(), append([]string{"-sqlite", db}, args...), strings.NewReader(""), &stdout, &stderr)
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
