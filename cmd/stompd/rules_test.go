package main

import (
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/persist"
	"github.com/stompd/stompd/stomp"
	"github.com/stompd/stompd/stomp/stomptest"
)

// exampleConfig is the example configuration shipped with stompd.
const exampleConfig = "../../testdata/stompd.example.toml"

// TestExampleConfigRules loads the example configuration through the real
// start path and checks its rules do what the file says: /topic/chat is
// open to all, /topic/announcements is read by all and written by admins
// only, and each user keeps its own /user/ destinations.
func TestExampleConfigRules(t *testing.T) {
	ts := startServer(t, "--config", exampleConfig)
	ts.addAdmin(t, "root")
	ada := ts.login(t, "ada")
	root := ts.login(t, "root")
	tests := []struct {
		who     string
		access  string
		command stomp.Command
		dest    string
		allowed bool
	}{
		{"ada", ada.Access, stomp.SUBSCRIBE, "/user/queue/dm", true},
		{"ada", ada.Access, stomp.SEND, "/user/" + ts.users["bob"].id + "/queue/dm", true},
		{"ada", ada.Access, stomp.SUBSCRIBE, "/topic/chat", true},
		{"ada", ada.Access, stomp.SEND, "/topic/chat", true},
		{"ada", ada.Access, stomp.SUBSCRIBE, "/topic/announcements", true},
		{"ada", ada.Access, stomp.SEND, "/topic/announcements", false},
		{"an admin", root.Access, stomp.SEND, "/topic/announcements", true},
		{"ada", ada.Access, stomp.SEND, "/queue/jobs", true},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.command.String()+" "+tt.dest, func(t *testing.T) {
			p := ts.connectTCP(t, tt.access)
			p.Send(tt.command, "", "id:1", "destination:"+tt.dest, "receipt:r")
			if tt.allowed {
				p.Expect(stomp.RECEIPT)
				return
			}
			p.ExpectError("forbidden", tt.dest)
		})
	}
}

// addAdmin adds a user with the role admin, known to the test as name.
func (ts *testServer) addAdmin(t testing.TB, name string) {
	t.Helper()
	email, password := name+"@example.com", name+" password"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ts.store.AddUser(persist.User{Email: email, Name: name, Roles: []string{"admin"}, PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	ts.users[name] = &testUser{email: email, password: password, id: u.ID}
}

// TestUserSubjectRule checks a rule on the session's own user destinations
// through the real start path: the broker maps /user/topic/x to
// /user/<sub>/topic/x before auth matches the rules, so that the pattern
// /user/{sub}/topic/* grants ada both forms of her own destination, and
// neither it nor any rule lets bob subscribe to ada's.
func TestUserSubjectRule(t *testing.T) {
	config := writeFile(t, "rules.toml", `
[[rules]]
pattern = "/user/{sub}/topic/*"
read = true
write = true

[[rules]]
pattern = "/user/**"
`)
	ts := startServer(t, "--config", config)
	ada, bob := ts.login(t, "ada"), ts.login(t, "bob")
	adas := "/user/" + ts.users["ada"].id + "/topic/x"
	tests := []struct {
		who, access, dest string
		refused           string // what the ERROR's message names; "" when allowed
	}{
		{"ada", ada.Access, "/user/topic/x", ""},
		{"ada", ada.Access, adas, ""},
		{"ada", ada.Access, "/user/queue/x", "not allowed to subscribe to /user/" + ts.users["ada"].id + "/queue/x"},
		{"bob", bob.Access, "/user/topic/x", ""},
		{"bob", bob.Access, adas, "another user's destination " + adas},
	}
	var own []*stomptest.Client // ada's subscriptions, in both forms
	for _, tt := range tests {
		p := ts.connectTCP(t, tt.access)
		p.Send(stomp.SUBSCRIBE, "", "id:1", "destination:"+tt.dest, "receipt:r")
		switch {
		case tt.refused != "":
			p.ExpectError("forbidden", tt.refused)
		case tt.who == "ada":
			p.Expect(stomp.RECEIPT)
			own = append(own, p)
		default:
			p.Expect(stomp.RECEIPT)
		}
	}
	sender := ts.connectTCP(t, ada.Access)
	sender.Send(stomp.SEND, "to ada", "destination:"+adas)
	for _, p := range own {
		if m := p.Expect(stomp.MESSAGE); string(m.Body) != "to ada" {
			t.Errorf("ada's subscription to %s got %q", m.Value("destination"), m.Body)
		}
	}
}
