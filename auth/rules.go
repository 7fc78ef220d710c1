package auth

import (
	"fmt"
	"strings"
)

// Rule grants rights on destinations matching Pattern to the holders of any
// of Roles (every authenticated user when Roles is empty). Read is the right
// to SUBSCRIBE, Write the right to SEND. Rules only grant: a frame is
// allowed when some rule that applies to the session grants the right.
//
// Pattern is a destination split at "/": a segment "*" matches exactly one
// non-empty segment, a final "**" matches one or more non-empty segments,
// and a segment "{sub}" matches the session's subject (its user id) only.
// Other segments match themselves exactly. So "/user/{sub}/**" is the
// session's own user destinations and "/user/*/**" anybody's.
//
// In a config file (TOML):
//
//	[[rules]]
//	roles   = ["admin"]
//	pattern = "/topic/admin/**"
//	read    = true
//	write   = true
type Rule struct {
	Roles   []string `toml:"roles" json:"roles,omitempty"`
	Pattern string   `toml:"pattern" json:"pattern"`
	Read    bool     `toml:"read" json:"read"`
	Write   bool     `toml:"write" json:"write"`
}

// Check reports what is wrong with r's pattern, if anything; New refuses
// a rule Check refuses.
func (r Rule) Check() error {
	_, err := compilePattern(r.Pattern)
	return err
}

// DefaultRules lets any authenticated user read and write /topic/** and
// /queue/** and its own /user/ destinations, and SEND to any user's.
func DefaultRules() []Rule {
	return []Rule{
		{Pattern: "/topic/**", Read: true, Write: true},
		{Pattern: "/queue/**", Read: true, Write: true},
		{Pattern: "/user/{sub}/**", Read: true, Write: true},
		{Pattern: "/user/*/**", Write: true},
	}
}

const subSegment = "{sub}"

// rules is a compiled, immutable rule list.
type rules []compiledRule

type compiledRule struct {
	roles       []string
	segs        []string
	read, write bool
}

func compileRules(rs []Rule) (rules, error) {
	out := make(rules, 0, len(rs))
	for i, r := range rs {
		segs, err := compilePattern(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("auth: rule %d: %w", i+1, err)
		}
		out = append(out, compiledRule{roles: r.Roles, segs: segs, read: r.Read, write: r.Write})
	}
	return out, nil
}

func compilePattern(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") || len(p) < 2 {
		return nil, fmt.Errorf("pattern %q must start with / and name a destination", p)
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		switch {
		case s == "":
			return nil, fmt.Errorf("pattern %q has an empty segment", p)
		case s == "**" && i != len(segs)-1:
			return nil, fmt.Errorf("pattern %q: ** must be the last segment", p)
		case s != "**" && s != "*" && s != subSegment && strings.ContainsAny(s, "*{}"):
			return nil, fmt.Errorf("pattern %q: segment %q mixes wildcards with text", p, s)
		}
	}
	return segs, nil
}

// allows reports whether c may read (write false) or write dest.
func (rs rules) allows(c Claims, dest string, write bool) bool {
	for i := range rs {
		r := &rs[i]
		if (write && !r.write) || (!write && !r.read) || !r.appliesTo(c) {
			continue
		}
		if matchDest(r.segs, dest, c.Subject) {
			return true
		}
	}
	return false
}

func (r *compiledRule) appliesTo(c Claims) bool {
	if len(r.roles) == 0 {
		return true
	}
	for _, role := range r.roles {
		if c.HasRole(role) {
			return true
		}
	}
	return false
}

// matchDest matches dest against pattern segments without allocating.
func matchDest(segs []string, dest, subject string) bool {
	if !strings.HasPrefix(dest, "/") {
		return false
	}
	rest := dest[1:]
	for _, p := range segs {
		if p == "**" {
			return rest != "" && !strings.HasPrefix(rest, "/") && !strings.HasSuffix(rest, "/") && !strings.Contains(rest, "//")
		}
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "" || !matchSegment(p, seg, subject) {
			return false
		}
		if !more {
			rest = ""
			continue
		}
		if tail == "" {
			return false
		}
		rest = tail
	}
	return rest == ""
}

func matchSegment(p, seg, subject string) bool {
	switch p {
	case "*":
		return true
	case subSegment:
		return seg == subject
	}
	return p == seg
}
