package main

import (
	"encoding/json"
	"testing"

	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// presenceMessage is a presence MESSAGE's body: a snapshot or an event.
type presenceMessage struct {
	Members []presenceMember `json:"members"`
	Event   string           `json:"event"`
	presenceMember
}

type presenceMember struct {
	Sub  string `json:"sub"`
	Name string `json:"name"`
}

// watchPresence subscribes p to /presence/topic/<name> and returns the
// snapshot, which follows the RECEIPT.
func watchPresence(t *testing.T, p *stomptest.Client, topic string) presenceMessage {
	t.Helper()
	p.Send(stomp.SUBSCRIBE, "", "id:p", "destination:/presence"+topic, "receipt:w")
	p.Expect(stomp.RECEIPT, "receipt-id:w")
	return nextPresence(t, p)
}

// nextPresence reads the next presence MESSAGE.
func nextPresence(t *testing.T, p *stomptest.Client) presenceMessage {
	t.Helper()
	f := p.Expect(stomp.MESSAGE, "subscription:p", "content-type:application/json")
	var m presenceMessage
	if err := json.Unmarshal(f.Body, &m); err != nil {
		t.Fatalf("presence body %q: %v", f.Body, err)
	}
	return m
}

// TestPresenceIsAuthorisedAsItsTopicAndShowsNames runs the real auth with
// a rule that keeps /topic/staff/** to admins: ada's presence SUBSCRIBE
// to one of them is refused, an admin's is served, and members are shown
// by the name their token carries.
func TestPresenceIsAuthorisedAsItsTopicAndShowsNames(t *testing.T) {
	config := writeFile(t, "rules.toml", `
[[rules]]
pattern = "/topic/**"
read = true
write = true

[[rules]]
roles = ["admin"]
pattern = "/topic/staff/**"
read = true
write = true
`)
	ts := startServer(t, "--config", config)
	ts.addAdmin(t, "root")
	refused := ts.connectTCP(t, ts.login(t, "ada").Access)
	refused.Send(stomp.SUBSCRIBE, "", "id:p", "destination:/presence/topic/staff/room", "receipt:w")
	refused.ExpectError("forbidden", "/topic/staff/room")

	member := ts.connectTCP(t, ts.login(t, "root").Access)
	member.Send(stomp.SUBSCRIBE, "", "id:1", "destination:/topic/staff/room", "receipt:s")
	member.Expect(stomp.RECEIPT, "receipt-id:s")
	snap := watchPresence(t, ts.connectTCP(t, ts.login(t, "root").Access), "/topic/staff/room")
	if len(snap.Members) != 1 || snap.Members[0].Name != "root" || snap.Members[0].Sub != ts.users["root"].id {
		t.Fatalf("snapshot %+v, want root (id %s) once", snap, ts.users["root"].id)
	}
}
