// Package version holds gureum's version, set at build time with
// -ldflags "-X github.com/gureum/gureum/internal/version.Version=…".
package version

// Version is gureum's version.
var Version = "0.1.0-dev"
