package auth

import (
	"testing"
)

func TestMatchDest(t *testing.T) {
	tests := []struct {
		pattern, dest string
		want          bool
	}{
		{"/topic/**", "/topic/a", true},
		{"/topic/**", "/topic/a/b/c", true},
		{"/topic/**", "/topic", false},
		{"/topic/**", "/topic/", false},
		{"/topic/**", "/topic//a", false},
		{"/topic/**", "/topic/a/", false},
		{"/topic/**", "/topics/a", false},
		{"/topic/**", "topic/a", false},
		{"/topic/*", "/topic/a", true},
		{"/topic/*", "/topic/a/b", false},
		{"/topic/*", "/topic/", false},
		{"/topic/*/x", "/topic/a/x", true},
		{"/topic/*/x", "/topic/a/y", false},
		{"/topic/chat", "/topic/chat", true},
		{"/topic/chat", "/topic/chat/", false},
		{"/user/{sub}/**", "/user/u-alice/queue/x", true},
		{"/user/{sub}/**", "/user/u-bob/queue/x", false},
		{"/user/{sub}/**", "/user/u-alice", false},
		{"/user/*/**", "/user/u-bob/queue/x", true},
	}
	for _, tt := range tests {
		segs, err := compilePattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchDest(segs, tt.dest, "u-alice"); got != tt.want {
			t.Errorf("%s ~ %s: %v, want %v", tt.pattern, tt.dest, got, tt.want)
		}
	}
}

func TestCompileRulesErrors(t *testing.T) {
	for _, p := range []string{"", "/", "topic/**", "/topic/**/x", "/topic//x", "/topic/a*", "/user/{sub}x/**"} {
		if _, err := compileRules([]Rule{{Pattern: p, Read: true}}); err == nil {
			t.Errorf("pattern %q accepted", p)
		}
	}
	if _, err := New(Options{Keys: mustKeys(t), Users: &memUsers{}, Refresh: newMemRefresh(nil), Revoker: newMemRefresh(nil),
		Rules: []Rule{{Pattern: "bad"}}, BcryptCost: 4}); err == nil {
		t.Error("New accepted a bad rule")
	}
}

func mustKeys(t *testing.T) *Keys {
	k, err := LoadEd25519Keys(&memKeys{m: map[string][]byte{}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRolesAndRights(t *testing.T) {
	rs, err := compileRules([]Rule{
		{Roles: []string{"admin"}, Pattern: "/topic/admin/**", Read: true, Write: true},
		{Pattern: "/topic/news", Read: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	admin := Claims{Subject: "a", Roles: []string{"user", "admin"}}
	user := Claims{Subject: "u", Roles: []string{"user"}}
	tests := []struct {
		c     Claims
		dest  string
		write bool
		want  bool
	}{
		{admin, "/topic/admin/x", true, true},
		{user, "/topic/admin/x", false, false},
		{user, "/topic/news", false, true},
		{user, "/topic/news", true, false},
		{admin, "/topic/news", true, false},
	}
	for _, tt := range tests {
		if got := rs.allows(tt.c, tt.dest, tt.write); got != tt.want {
			t.Errorf("%v %s write=%v: %v, want %v", tt.c.Roles, tt.dest, tt.write, got, tt.want)
		}
	}
}
