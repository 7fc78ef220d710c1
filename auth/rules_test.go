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
	for _, p := range []string{"", "/", "topic/**", "/topic/**/x", "/topic//x", "/topic/a*", "/user/{sub}x/**", "/presence/topic/**"} {
		if _, err := compileRules([]Rule{{Pattern: p, Read: true}}); err == nil {
			t.Errorf("pattern %q accepted", p)
		}
	}
	for _, roles := range [][]string{{"*"}, {"admin", ""}, {" * "}} {
		r := Rule{Pattern: "/topic/**", Roles: roles, Read: true}
		if _, err := compileRules([]Rule{r}); err == nil || r.Check() == nil {
			t.Errorf("roles %q accepted", roles)
		}
	}
	if _, err := New(Options{Keys: mustKeys(t), Store: newMemStore(t, nil), Rules: []Rule{{Pattern: "bad"}}, BcryptCost: 4}); err == nil {
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

// TestMostSpecificPatternDecides checks that of the patterns matching a
// destination the most specific decides, whatever the order of the rules:
// more literal segments first, then at the first segment where the patterns
// differ a literal beats {sub}, {sub} beats *, and * beats **; rules of one
// pattern combine.
func TestMostSpecificPatternDecides(t *testing.T) {
	rs, err := compileRules([]Rule{
		{Pattern: "/topic/**", Read: true, Write: true},
		{Roles: []string{"admin"}, Pattern: "/topic/announcements", Read: true, Write: true},
		{Pattern: "/topic/announcements", Read: true},
		{Pattern: "/topic/*", Read: true},
		{Pattern: "/topic/open", Read: true, Write: true},
		{Pattern: "/topic/*/x", Write: true},
		{Pattern: "/topic/a/**", Read: true},
		{Pattern: "/queue/**", Read: true, Write: true},
		{Pattern: "/queue/{sub}/**"},
		{Roles: []string{"admin"}, Pattern: "/queue/*/**", Read: true, Write: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	alice := Claims{Subject: "u-alice"}
	admin := Claims{Subject: "u-root", Roles: []string{"admin"}}
	tests := []struct {
		c     Claims
		dest  string
		write bool
		want  bool
		why   string
	}{
		{alice, "/topic/announcements", true, false, "a rule naming roles restricts what /topic/** grants"},
		{alice, "/topic/announcements", false, true, "rules of one pattern combine"},
		{admin, "/topic/announcements", true, true, "the admin rule grants"},
		{alice, "/topic/chat", true, false, "* beats **: /topic/* grants read only"},
		{alice, "/topic/chat", false, true, "/topic/* grants read"},
		{alice, "/topic/open", true, true, "a literal beats *"},
		{alice, "/topic/chat/y", true, true, "only /topic/** matches"},
		{alice, "/topic/b/x", false, false, "/topic/*/x has more literals than /topic/**"},
		{alice, "/topic/a/x", true, false, "/topic/a/** beats /topic/*/x at the first difference"},
		{alice, "/queue/u-alice/jobs", true, false, "{sub} beats *, and a rule may grant nothing"},
		{admin, "/queue/u-alice/jobs", true, true, "/queue/*/** beats /queue/**"},
		{alice, "/queue/u-bob/jobs", true, false, "/queue/*/** names admin only"},
		{alice, "/queue/jobs", true, true, "only /queue/** matches"},
	}
	for _, tt := range tests {
		if got := rs.allows(tt.c, tt.dest, tt.write); got != tt.want {
			t.Errorf("%s %s write=%v: %v, want %v (%s)", tt.c.Subject, tt.dest, tt.write, got, tt.want, tt.why)
		}
	}
}

// TestUserDestinationsWithoutRules checks that rules which name no /user/
// destination leave each user its own (read and write) and the right to
// send to anyone's, and that a rule matching a /user/ destination decides.
func TestUserDestinationsWithoutRules(t *testing.T) {
	topicsOnly, err := compileRules([]Rule{{Pattern: "/topic/**", Read: true, Write: true}})
	if err != nil {
		t.Fatal(err)
	}
	ruled, err := compileRules([]Rule{
		{Pattern: "/topic/**", Read: true, Write: true},
		{Pattern: "/user/*/queue/dm", Read: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	alice := Claims{Subject: "u-alice"}
	tests := []struct {
		rs    rules
		dest  string
		write bool
		want  bool
	}{
		{topicsOnly, "/user/u-alice/queue/dm", false, true},
		{topicsOnly, "/user/u-alice/queue/dm", true, true},
		{topicsOnly, "/user/u-bob/queue/dm", true, true},
		{topicsOnly, "/user/u-bob/queue/dm", false, false},
		{topicsOnly, "/queue/jobs", true, false},
		{ruled, "/user/u-alice/queue/dm", false, true},
		{ruled, "/user/u-bob/queue/dm", true, false},
		{ruled, "/user/u-bob/queue/other", true, true},
	}
	for i, tt := range tests {
		if got := tt.rs.allows(alice, tt.dest, tt.write); got != tt.want {
			t.Errorf("case %d: %s write=%v: %v, want %v", i, tt.dest, tt.write, got, tt.want)
		}
	}
}

// BenchmarkRulesAllows measures the decision a SEND costs under a rule set
// of the example's size, for a destination several patterns match.
func BenchmarkRulesAllows(b *testing.B) {
	rs, err := compileRules([]Rule{
		{Pattern: "/topic/**", Read: true, Write: true},
		{Pattern: "/queue/**", Read: true, Write: true},
		{Pattern: "/topic/announcements", Read: true},
		{Roles: []string{"admin"}, Pattern: "/topic/announcements", Read: true, Write: true},
		{Roles: []string{"ops"}, Pattern: "/topic/ops/*", Read: true, Write: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	c := Claims{Subject: "u-alice", Roles: []string{"user"}}
	const dest = "/topic/announcements"
	b.ReportAllocs()
	b.SetBytes(int64(len(dest)))
	for b.Loop() {
		if rs.allows(c, dest, true) {
			b.Fatal("allowed")
		}
	}
}
