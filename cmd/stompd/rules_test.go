package main

import (
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/persist"
	"github.com/stompd/stompd/stomp"
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
