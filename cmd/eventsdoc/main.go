// Command eventsdoc writes docs/events.md from the event contracts
// (internal/events): run it with 'make docs' after changing an event.
package main

import (
	"fmt"
	"os"

	"github.com/harmonia-music/harmonia/internal/events"
)

func main() {
	path := "docs/events.md"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := os.WriteFile(path, []byte(events.Markdown()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
