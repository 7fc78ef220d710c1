package auth

import (
	"fmt"
	"strings"
)

// Rule grants rights on destinations matching Pattern to the holders of any
// of Roles (every authenticated user when Roles is empty). Read is the right
// to SUBSCRIBE, Write the right to SEND.
//
// Pattern is a destination split at "/": a segment "*" matches exactly one
// non-empty segment, a final "**" matches one or more non-empty segments,
// and a segment "{sub}" matches the session's subject (its user id) only.
// Other segments are literals and match themselves exactly. So
// "/user/{sub}/**" is the session's own user destinations and "/user/*/**"
// anybody's.
//
// Of the patterns that match a destination, the most specific decides, and
// the others do not count: the rules with that pattern grant a right when
// one of them applies to the session and grants it. A rule that names roles
// thus restricts its destinations to those roles, whatever a wider pattern
// grants, and a rule granting neither right closes its destinations. Of two
// patterns matching one destination, the more specific is the one with more
// literal segments; with as many, the first segment where they differ
// decides, a literal beating "{sub}", "{sub}" beating "*", and "*" beating
// "**". Where no pattern matches, nothing is allowed, except on /user/
// destinations: there the built-in rules of userRules decide, so that each
// user keeps its own /user/ destinations and may send to anybody's unless a
// rule matching that destination says otherwise.
//
// Whatever the rules, nobody may SUBSCRIBE to another user's /user/
// destination (see Service.Authorize).
//
// A SUBSCRIBE to /presence/topic/<name>, which shows the members of
// /topic/<name>, is asked about as a SUBSCRIBE to /topic/<name>: whoever may
// read a topic may see who reads it. A pattern under /presence/ would thus
// never match, and is refused.
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

// Check reports what is wrong with r's pattern or roles, if anything; New
// refuses a rule Check refuses. A role is a name matched exactly: an empty
// one or "*", which would match nobody, is refused.
func (r Rule) Check() error {
	if _, err := compilePattern(r.Pattern); err != nil {
		return err
	}
	return checkRoles(r.Roles)
}

// checkRoles refuses role names that no token's role can equal in the
// way they suggest: empty, or "*" meant as any role.
func checkRoles(roles []string) error {
	for _, role := range roles {
		switch strings.TrimSpace(role) {
		case "":
			return fmt.Errorf("roles: an empty role matches nobody: leave it out")
		case "*":
			return fmt.Errorf(`roles: "*" is not a wildcard: leave roles out to grant every authenticated user`)
		}
	}
	return nil
}

// DefaultRules lets any authenticated user read and write /topic/** and
// /queue/**. With the built-in /user/ rules, which apply to every rule set,
// each user also has its own /user/ destinations and may SEND to anybody's.
func DefaultRules() []Rule {
	return []Rule{
		{Pattern: "/topic/**", Read: true, Write: true},
		{Pattern: "/queue/**", Read: true, Write: true},
	}
}

// userRules are the built-in rules for /user/ destinations that no
// configured pattern matches: any user may read and write its own and SEND
// to anybody's.
func userRules() []Rule {
	return []Rule{
		{Pattern: "/user/{sub}/**", Read: true, Write: true},
		{Pattern: "/user/*/**", Write: true},
	}
}

const subSegment = "{sub}"

// presencePrefix begins the presence destinations, which no rule names.
const presencePrefix = "/presence/"

// rules is a compiled, immutable rule set.
type rules struct {
	configured, builtin []compiledRule
}

type compiledRule struct {
	roles       []string
	segs        []string
	literals    int // how many of segs are literals
	read, write bool
}

func compileRules(configured []Rule) (rules, error) {
	rs, err := compileList(configured)
	if err != nil {
		return rules{}, err
	}
	builtin, err := compileList(userRules())
	return rules{configured: rs, builtin: builtin}, err
}

func compileList(rs []Rule) ([]compiledRule, error) {
	out := make([]compiledRule, 0, len(rs))
	for i, r := range rs {
		segs, err := compilePattern(r.Pattern)
		if err == nil {
			err = checkRoles(r.Roles)
		}
		if err != nil {
			return nil, fmt.Errorf("auth: rule %d: %w", i+1, err)
		}
		out = append(out, compiledRule{roles: r.Roles, segs: segs, literals: countLiterals(segs), read: r.Read, write: r.Write})
	}
	return out, nil
}

func compilePattern(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") || len(p) < 2 {
		return nil, fmt.Errorf("pattern %q must start with / and name a destination", p)
	}
	if strings.HasPrefix(p, presencePrefix) {
		return nil, fmt.Errorf("pattern %q: a presence destination is authorised as its topic (/presence/topic/<name> as /topic/<name>): write the rule for the topic", p)
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

func countLiterals(segs []string) int {
	n := 0
	for _, s := range segs {
		if segmentRank(s) == rankLiteral {
			n++
		}
	}
	return n
}

// Segment ranks, from the least specific to the most.
const (
	rankAny = iota // **
	rankOne        // *
	rankSub        // {sub}
	rankLiteral
)

func segmentRank(s string) int {
	switch s {
	case "**":
		return rankAny
	case "*":
		return rankOne
	case subSegment:
		return rankSub
	}
	return rankLiteral
}

// moreSpecific compares two patterns that match one destination: positive
// when a is the more specific, negative when b is, zero when they are the
// same pattern.
func moreSpecific(a, b *compiledRule) int {
	if a.literals != b.literals {
		return a.literals - b.literals
	}
	for i := range min(len(a.segs), len(b.segs)) {
		if ra, rb := segmentRank(a.segs[i]), segmentRank(b.segs[i]); ra != rb {
			return ra - rb
		}
	}
	return 0
}

// allows reports whether c may read (write false) or write dest.
func (rs rules) allows(c Claims, dest string, write bool) bool {
	if allowed, matched := decide(rs.configured, c, dest, write); matched {
		return allowed
	}
	allowed, _ := decide(rs.builtin, c, dest, write)
	return allowed
}

// decide finds the most specific of the patterns in list that match dest
// and reports whether a rule with that pattern grants the right to c;
// matched is false when no pattern matches.
func decide(list []compiledRule, c Claims, dest string, write bool) (allowed, matched bool) {
	var best *compiledRule
	for i := range list {
		r := &list[i]
		if !matchDest(r.segs, dest, c.Subject) {
			continue
		}
		cmp := 1
		if best != nil {
			cmp = moreSpecific(r, best)
		}
		switch {
		case cmp > 0:
			best, allowed = r, r.grants(c, write)
		case cmp == 0:
			allowed = allowed || r.grants(c, write)
		}
	}
	return allowed, best != nil
}

// grants reports whether r gives c the right to read or write.
func (r *compiledRule) grants(c Claims, write bool) bool {
	if (write && !r.write) || (!write && !r.read) {
		return false
	}
	return r.appliesTo(c)
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
