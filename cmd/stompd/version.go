package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// version and commit are set at build time with
// -ldflags "-X main.version=v1.2.3 -X main.commit=abc123"; otherwise they are
// read from the module's build information.
var version, commit string

func printVersion(w io.Writer) {
	v, c, goVersion := version, commit, "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	fmt.Fprintf(w, "stompd %s\ncommit %s\n%s\n", orUnknown(v), orUnknown(c), goVersion)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
