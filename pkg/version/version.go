// Package version holds the project's build identity, stamped through -ldflags -X.
package version

import "fmt"

// Version and Commit are set by the Makefile at link time.
var (
	Version = "v0.0.0-dev"
	Commit  = "unknown"
)

// String returns the version line every command prints for --version.
func String(component string) string {
	return fmt.Sprintf("%s %s (commit %s)", component, Version, Commit)
}
