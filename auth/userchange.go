package auth

// UserRef names a user: by email (ignoring case) when Email is set, by id
// otherwise.
type UserRef struct {
	ID, Email string
}

// UserChange is a change to an account that a store applies in one
// atomic step: each field set is changed, and the user is deleted when
// Delete is.
type UserChange struct {
	Name         *string
	Roles        *[]string
	PasswordHash []byte // nil: unchanged
	Disabled     *bool
	Delete       bool
	// EndLogins ends the user's logins even when nothing else does.
	EndLogins bool
}

// EndsLogins reports whether c ends the user's logins: a new password,
// new roles, disabling and deleting do, so that no token or session keeps
// what the user lost, and so does EndLogins. A store ends them in the same
// step as the change: it revokes every refresh token family of the user
// and denies each one's sid until its last access token expires.
func (c UserChange) EndsLogins() bool {
	return c.EndLogins || c.Delete || c.PasswordHash != nil || c.Roles != nil || (c.Disabled != nil && *c.Disabled)
}
