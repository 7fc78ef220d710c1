package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The runtime stage of the Dockerfile copies what its build stage left in
// /out; the test builds the same files on the host, puts them at out/ in
// the build context and copies them from there instead, since the golang
// image of the build stage needs a registry that a test machine may not
// reach.
var copyFromBuild = regexp.MustCompile(`(?m)^(COPY .*)--from=build (.*)/out/`)

// TestContainerImage builds the Dockerfile's image with podman, runs it
// with a named volume as /data, and checks what a user of the image
// relies on: /readyz answers through the published port, the health
// check passes and fails with the server, the process runs as a user that
// is not root, the version set at link time shows, SIGTERM stops it
// cleanly, and the data (the signing key) outlives the container.
func TestContainerImage(t *testing.T) {
	pm := newPodman(t)
	image := pm.build(t)
	volume := pm.name("data")
	pm.run(t, "volume", "create", volume)
	t.Cleanup(func() { pm.cmd("volume", "rm", "-f", volume).Run() })

	c := pm.start(t, image, volume)
	waitStatus(t, c.url+"/readyz", 200)
	kid := jwksKid(t, c.url)
	if user := strings.TrimSpace(pm.run(t, "top", c.name, "user")); user != "USER\n10001" {
		t.Errorf("podman top user: %q, want the image's uid 10001", user)
	}
	if out := pm.run(t, "exec", c.name, "/stompd", "version"); !strings.HasPrefix(out, "stompd v0.0.0-container\n") {
		t.Errorf("stompd version in the image: %q", out)
	}
	c.wantHealth(t, true)
	pm.run(t, "kill", "--signal", "STOP", c.name)
	c.wantHealth(t, false) // a hung server fails its check
	pm.run(t, "kill", "--signal", "CONT", c.name)
	c.wantHealth(t, true)
	c.stop(t)

	again := pm.start(t, image, volume)
	waitStatus(t, again.url+"/readyz", 200)
	if k := jwksKid(t, again.url); k != kid {
		t.Errorf("after a restart on the same volume the signing key is %s, was %s", k, kid)
	}
	again.stop(t)
}

// podman runs podman, with the OCI runtime and limits this machine allows.
type podman struct {
	global []string // options before the command
	limits []string // options of podman run
	prefix string   // of every name the test gives
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	needProgram(t, "podman", "apt-get install -y podman runc")
	pm := &podman{prefix: fmt.Sprintf("stompd-test-%d", os.Getpid())}
	// crun refuses a hybrid cgroup hierarchy, which runc takes.
	if _, err := exec.LookPath("runc"); err == nil {
		pm.global = []string{"--runtime", "runc"}
	}
	// Limits lower than the test's own, which a sandbox without
	// CAP_SYS_RESOURCE can set, where podman's defaults are higher.
	pm.limits = []string{"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"}
	return pm
}

func (pm *podman) name(what string) string { return pm.prefix + "-" + what }

func (pm *podman) cmd(args ...string) *exec.Cmd {
	return exec.Command("podman", append(pm.global, args...)...)
}

// run runs podman and returns its standard output; a failure fails the
// test.
func (pm *podman) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := pm.cmd(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// build builds the image from the Dockerfile's runtime stage and a binary
// built on the host, and returns its name.
func (pm *podman) build(t *testing.T) string {
	t.Helper()
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	_, runtime, ok := strings.Cut(string(dockerfile), "\nFROM scratch\n")
	if !ok {
		t.Fatal("the Dockerfile has no FROM scratch stage")
	}
	if n := len(copyFromBuild.FindAllString(runtime, -1)); n != 2 {
		t.Fatalf("the runtime stage has %d COPY --from=build .../out/ lines, want 2", n)
	}
	ctx := t.TempDir()
	buildStatic(t, mkdir(t, ctx, "out/root"), "v0.0.0-container")
	mkdir(t, ctx, "out/data")
	if certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		// Readable by all, as in the golang image: COPY keeps the mode.
		if err := os.WriteFile(filepath.Join(mkdir(t, ctx, "out/root/etc/ssl/certs"), "ca-certificates.crt"), certs, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFileAt(t, filepath.Join(ctx, "Containerfile"), []byte("FROM scratch\n"+copyFromBuild.ReplaceAllString(runtime, "${1}${2}out/")))
	image := "localhost/" + pm.name("image")
	pm.run(t, "build", "--quiet", "--format", "docker", "--tag", image, ctx)
	t.Cleanup(func() { pm.cmd("rmi", "-f", image).Run() })
	return image
}

// container is one started container of the image.
type container struct {
	pm   *podman
	name string
	url  string // of its published HTTP port
}

// start runs the image in a container of its own with volume at /data
// and its HTTP port published on a loopback port podman picks.
func (pm *podman) start(t *testing.T, image, volume string) *container {
	t.Helper()
	c := &container{pm: pm, name: pm.name(fmt.Sprint(time.Now().UnixNano()))}
	args := append([]string{"run", "--detach", "--name", c.name, "--health-interval", "disable",
		"--publish", "127.0.0.1::8080", "--volume", volume + ":/data"}, pm.limits...)
	pm.run(t, append(args, image)...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := pm.cmd("logs", c.name).CombinedOutput()
			t.Logf("logs of %s:\n%s", c.name, out)
		}
		pm.cmd("rm", "--force", "--time", "0", c.name).Run()
	})
	c.url = "http://" + strings.TrimSpace(pm.run(t, "port", c.name, "8080/tcp"))
	return c
}

// wantHealth runs the image's health check and checks its verdict.
func (c *container) wantHealth(t *testing.T, healthy bool) {
	t.Helper()
	out, err := c.pm.cmd("healthcheck", "run", c.name).CombinedOutput()
	if (err == nil) != healthy {
		t.Errorf("podman healthcheck run: %v, %q; want healthy %v", err, out, healthy)
	}
}

// stop stops the container as an orchestrator does, with SIGTERM, and
// checks that stompd exits 0 well within the grace period.
func (c *container) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	c.pm.run(t, "stop", "--time", "20", c.name)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("stopping took %v", took)
	}
	if code := strings.TrimSpace(c.pm.run(t, "inspect", "--format", "{{.State.ExitCode}}", c.name)); code != "0" {
		t.Errorf("exit code %s after SIGTERM", code)
	}
}

// jwksKid is the key id of the only key the server at url publishes.
func jwksKid(t *testing.T, url string) string {
	t.Helper()
	var jwks struct {
		Keys []struct{ Kid string }
	}
	if resp := httpJSON(t, "GET", url+"/.well-known/jwks.json", nil, &jwks); resp.StatusCode != 200 || len(jwks.Keys) != 1 {
		t.Fatalf("jwks: status %d, %+v", resp.StatusCode, jwks)
	}
	return jwks.Keys[0].Kid
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
