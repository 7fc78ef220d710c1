package interop

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scriptDir holds the scripts that drive the broker with clients of other
// languages.
const scriptDir = "../../testdata/interop"

// scriptedScenarios are the scenarios every script knows: a queue message
// sent before its consumer subscribes reaches it, read after the
// SUBSCRIBE's RECEIPT; a message a client-mode consumer leaves
// unacknowledged goes to the next consumer, marked redelivered.
var scriptedScenarios = []string{"stored", "redelivered"}

// scriptedClient is a client library driven by a script: how to run it,
// and how to check that it is installed.
type scriptedClient struct {
	name    string   // in destinations and messages
	program string   // the interpreter
	script  string   // in scriptDir
	probe   []string // arguments that fail when the library is missing
	pkg     string   // the Debian package that brings it
}

// TestRubyStomp runs the scripted scenarios with ruby-stomp's
// Stomp::Connection over STOMP 1.2.
func TestRubyStomp(t *testing.T) {
	runScripted(t, scriptedClient{
		name: "ruby-stomp", program: "ruby", script: "ruby_stomp.rb",
		probe: []string{"-e", `require "stomp"`}, pkg: "ruby-stomp",
	})
}

// TestNetStomp runs the scripted scenarios with Perl's Net::Stomp, which
// speaks STOMP 1.0.
func TestNetStomp(t *testing.T) {
	runScripted(t, scriptedClient{
		name: "net-stomp", program: "perl", script: "net_stomp.pl",
		probe: []string{"-MNet::Stomp", "-e1"}, pkg: "libnet-stomp-perl",
	})
}

// runScripted runs each scenario as a subtest: the script reports what its
// client saw, and fails with the reason.
func runScripted(t *testing.T, c scriptedClient) {
	program := requireScripted(t, c)
	srv := startBroker(t)
	host, port, err := net.SplitHostPort(srv.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scriptedScenarios {
		t.Run(sc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), driverTimeout)
			defer cancel()
			dest := "/queue/interop." + c.name + "." + sc
			cmd := exec.CommandContext(ctx, program, filepath.Join(scriptDir, c.script), sc, host, port, dest)
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("%s %s: %v\n%s", c.script, sc, err, out)
			}
		})
	}
}

// requireScripted returns the path of c's interpreter, or skips the test
// (fails it under CI) when the interpreter or c's library is missing.
func requireScripted(t *testing.T, c scriptedClient) string {
	t.Helper()
	install := "install it with: apt-get install " + c.pkg
	program, err := exec.LookPath(c.program)
	if err != nil {
		skipUnlessCI(t, "%s interop needs %s; %s", c.name, c.program, install)
	}
	if out, err := exec.Command(program, c.probe...).CombinedOutput(); err != nil {
		first, _, _ := strings.Cut(string(out), "\n")
		skipUnlessCI(t, "%s interop: %s cannot load it (%v: %s); %s", c.name, c.program, err, first, install)
	}
	return program
}
