package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version, commit and date are set by release builds, with the names
// GoReleaser uses:
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD) -X main.date=$(date -u +%FT%TZ)"
//
// Each one that is set replaces what the build information says; date is
// the build time, which the build information never holds.
var version, commit, date string

// buildVersion is what stompd version reports.
type buildVersion struct {
	Version    string // a tag, a pseudo-version, or (devel)
	Commit     string // the VCS revision
	Modified   bool   // the tree had uncommitted changes
	CommitTime string // when Commit was made (RFC 3339)
	BuildTime  string // when the binary was built, if the build said
}

// versionCommand runs stompd version, which takes no arguments.
func versionCommand(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("version: unexpected argument %q", args[0])}
	}
	printVersion(stdout)
	return nil
}

// printVersion writes the version of this binary.
func printVersion(w io.Writer) {
	info, _ := debug.ReadBuildInfo()
	buildVersion{Version: version, Commit: commit, BuildTime: date}.fill(info).write(w)
}

// fill completes v, which holds the values set at link time, from the
// build information go build and go install embed: the main module's
// version (a tag, a pseudo-version with +dirty for a modified tree, or
// (devel)) and the VCS revision, commit time and modified flag. The VCS
// details are used only when they describe the commit v names, or v names
// none. go run and go test embed no VCS details, nor does go build with
// -buildvcs=false or in a linked git worktree, whose .git is a file.
func (v buildVersion) fill(info *debug.BuildInfo) buildVersion {
	if info == nil {
		return v
	}
	if v.Version == "" {
		v.Version = info.Main.Version
	}
	vcs := make(map[string]string)
	for _, s := range info.Settings {
		vcs[s.Key] = s.Value
	}
	rev := vcs["vcs.revision"]
	if v.Commit == "" {
		v.Commit = rev
	}
	if rev != "" && strings.HasPrefix(rev, v.Commit) {
		v.Modified = vcs["vcs.modified"] == "true"
		v.CommitTime = vcs["vcs.time"]
	}
	return v
}

// write prints v one fact a line, leaving out the times it does not know,
// and ends with the Go release and platform it was built for.
func (v buildVersion) write(w io.Writer) {
	fmt.Fprintf(w, "stompd %s\n", orUnknown(v.Version))
	modified := ""
	if v.Modified {
		modified = " (modified)"
	}
	fmt.Fprintf(w, "commit %s%s\n", orUnknown(v.Commit), modified)
	if v.CommitTime != "" {
		fmt.Fprintf(w, "commit time %s\n", v.CommitTime)
	}
	if v.BuildTime != "" {
		fmt.Fprintf(w, "build time %s\n", v.BuildTime)
	}
	fmt.Fprintf(w, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
