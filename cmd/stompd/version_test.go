package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "stompd ") || lines[len(lines)-1] != runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version output %q", out.String())
	}
	if code := run([]string{"version", "--long"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("stompd version --long: exit %d, want 2", code)
	}
}

// TestVersionFill checks which of the link-time values and the build
// information's details stompd version reports.
func TestVersionFill(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	info := &debug.BuildInfo{
		Main: debug.Module{Version: "v1.2.3+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	fromInfo := buildVersion{Version: "v1.2.3+dirty", Commit: rev, Modified: true, CommitTime: "2026-01-02T03:04:05Z"}
	for _, tc := range []struct {
		name    string
		stamped buildVersion
		info    *debug.BuildInfo
		want    buildVersion
	}{
		{"build information only", buildVersion{}, info, fromInfo},
		{"no build information", buildVersion{Version: "v9.0.0"}, nil, buildVersion{Version: "v9.0.0"}},
		{"go run", buildVersion{}, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, buildVersion{Version: "(devel)"}},
		{"release build", buildVersion{Version: "v9.0.0", Commit: rev, BuildTime: "2026-02-03T04:05:06Z"}, info,
			buildVersion{Version: "v9.0.0", Commit: rev, Modified: true, CommitTime: "2026-01-02T03:04:05Z", BuildTime: "2026-02-03T04:05:06Z"}},
		{"release build naming the short commit", buildVersion{Commit: rev[:7]}, info,
			buildVersion{Version: "v1.2.3+dirty", Commit: rev[:7], Modified: true, CommitTime: "2026-01-02T03:04:05Z"}},
		{"release build naming another commit", buildVersion{Commit: "fedcba9"}, info, buildVersion{Version: "v1.2.3+dirty", Commit: "fedcba9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.stamped.fill(tc.info); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestVersionOfBuiltBinary builds stompd with go build from a copy of this
// module committed to a new git repository, as a release is built from a
// clone, and checks what stompd version prints: the pseudo-version and
// revision of an untagged commit, the tag of a tagged one, the +dirty and
// (modified) of a changed tree, and the -ldflags values of a release build.
func TestVersionOfBuiltBinary(t *testing.T) {
	repo := newVersionRepo(t)
	bin := filepath.Join(t.TempDir(), "stompd")
	rev := func() string { return strings.TrimSpace(repo.git("rev-parse", "HEAD")) }
	goVersion := regexp.QuoteMeta(runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH)
	for _, step := range []struct {
		name    string
		prepare func()
		ldflags func(rev string) string // nil for none
		want    func(rev string) string // a regexp of the output but its last line
	}{
		{"untagged commit", func() {}, nil, func(rev string) string {
			return `stompd v0\.0\.0-20260102030405-` + rev[:12] + "\ncommit " + rev + "\ncommit time 2026-01-02T03:04:05Z\n"
		}},
		{"tagged commit", func() { repo.git("tag", "v1.2.3") }, nil, func(rev string) string {
			return "stompd v1\\.2\\.3\ncommit " + rev + "\ncommit time 2026-01-02T03:04:05Z\n"
		}},
		{"release build", func() {}, func(rev string) string {
			return "-X main.version=v1.2.3-rc.1 -X main.commit=" + rev + " -X main.date=2026-02-03T04:05:06Z"
		}, func(rev string) string {
			return "stompd v1\\.2\\.3-rc\\.1\ncommit " + rev + "\ncommit time 2026-01-02T03:04:05Z\nbuild time 2026-02-03T04:05:06Z\n"
		}},
		{"modified tree", func() { repo.write("README.md", "changed\n") }, nil, func(rev string) string {
			return "stompd v1\\.2\\.3\\+dirty\ncommit " + rev + " \\(modified\\)\ncommit time 2026-01-02T03:04:05Z\n"
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.prepare()
			r, ldflags := rev(), ""
			if step.ldflags != nil {
				ldflags = step.ldflags(r)
			}
			repo.build(t, bin, ldflags)
			out, err := exec.Command(bin, "version").Output()
			if err != nil {
				t.Fatalf("stompd version: %v", err)
			}
			if want := "^" + step.want(r) + goVersion + "\n$"; !regexp.MustCompile(want).Match(out) {
				t.Errorf("stompd version printed\n%s\nwant it to match\n%s", out, want)
			}
		})
	}
}

// versionRepo is a git repository holding a copy of this module.
type versionRepo struct {
	t   *testing.T
	dir string
}

// newVersionRepo copies the module's files that git would track (the
// committed ones with their changes, and new ones not ignored) into a new
// repository and commits them with a fixed date.
func newVersionRepo(t *testing.T) *versionRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		const msg = "git not found (apt-get install -y git): building stompd from a repository needs it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	src := &versionRepo{t: t, dir: "../.."}
	if err := exec.Command("git", "-C", src.dir, "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("the module is not a git checkout, so which files to copy is unknown:", err)
	}
	repo := &versionRepo{t: t, dir: t.TempDir()}
	files := strings.Split(strings.TrimSuffix(src.git("ls-files", "-z", "--cached", "--others", "--exclude-standard"), "\x00"), "\x00")
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(src.dir, name))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		repo.write(name, string(data))
	}
	repo.git("init", "-q")
	repo.git("add", "-A")
	repo.git("commit", "-q", "-m", "stompd")
	return repo
}

// git runs git in the repository, with no user configuration, and returns
// its output.
func (r *versionRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=stompd", "GIT_AUTHOR_EMAIL=stompd@example.com",
		"GIT_COMMITTER_NAME=stompd", "GIT_COMMITTER_EMAIL=stompd@example.com",
		"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
	)
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// write puts a file into the repository's working tree.
func (r *versionRepo) write(name, data string) {
	r.t.Helper()
	path := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// build builds cmd/stompd into bin with the given -ldflags. -buildvcs=true
// overrides a -buildvcs=false in GOFLAGS; -trimpath, which release builds
// use, lets the go command reuse the packages it compiled for other copies.
func (r *versionRepo) build(t *testing.T, bin, ldflags string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-buildvcs=true", "-trimpath", "-ldflags", ldflags, "-o", bin, "./cmd/stompd")
	cmd.Dir = r.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}
