package admin

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/stompd/stompd/auth"
)

// User is an account as the API shows it: never its password hash.
type User struct {
	ID       string    `json:"id"`
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Roles    []string  `json:"roles"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
}

// shown is u as answered: no roles are [], never null.
func (u User) shown() User {
	if u.Roles == nil {
		u.Roles = []string{}
	}
	return u
}

// ErrEmailTaken is what a UserStore's AddUser returns (wrapped or not) for
// an email another user has, regardless of case.
var ErrEmailTaken = errors.New("a user with this email exists")

// UserStore keeps the accounts of /admin/users, each method one atomic
// step. AddUser stores a new user under a new id. ChangeUser applies a
// change and returns the user as changed (as it was, when deleted) and
// the logins it ended (auth.UserChange.EndsLogins): each sid and when its
// denial ends. An empty change returns the user as it is. Both return
// auth.ErrUserNotFound for no such user.
type UserStore interface {
	Users() ([]User, error)
	AddUser(u auth.User) (User, error)
	ChangeUser(ref auth.UserRef, c auth.UserChange) (User, map[string]time.Time, error)
}

// newUser is the body of POST /admin/users.
type newUser struct {
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Name     string   `json:"name"`
	Roles    []string `json:"roles"`
}

// userPatch is the body of PATCH /admin/users/{id}: each field present is
// changed.
type userPatch struct {
	Name     *string   `json:"name"`
	Roles    *[]string `json:"roles"`
	Password *string   `json:"password"`
	Disabled *bool     `json:"disabled"`
}

// fields names the fields p changes, never their values.
func (p userPatch) fields() string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"name", p.Name != nil}, {"roles", p.Roles != nil}, {"password", p.Password != nil}, {"disabled", p.Disabled != nil}} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return strings.Join(names, ",")
}

// unlocked is the answer of POST /admin/users/{id}/unlock.
type unlocked struct {
	Failures int `json:"failures"`
}

// registerUsers registers the user endpoints, when there is a UserStore.
// {id} is a user's id or email: an email has an @, an id never does.
func (a *API) registerUsers() {
	if a.opts.Users == nil {
		return
	}
	a.handle("GET /admin/users", "users.list", a.listUsers)
	a.handle("POST /admin/users", "users.add", a.addUser)
	a.handle("GET /admin/users/{id}", "users.get", a.change(fixed(auth.UserChange{}), http.StatusOK))
	a.handle("PATCH /admin/users/{id}", "users.update", a.change(a.patch, http.StatusOK))
	a.handle("DELETE /admin/users/{id}", "users.delete", a.change(fixed(auth.UserChange{Delete: true}), http.StatusNoContent))
	a.handle("POST /admin/users/{id}/logout", "users.logout", a.change(fixed(auth.UserChange{EndLogins: true}), http.StatusNoContent))
	if a.opts.Unlock != nil {
		a.handle("POST /admin/users/{id}/unlock", "users.unlock", a.unlock)
	}
}

func (a *API) listUsers(w http.ResponseWriter, _ *http.Request) error {
	users, err := a.opts.Users.Users()
	if err != nil {
		return storeFailure(err)
	}
	shown := make([]User, len(users))
	for i, u := range users {
		shown[i] = u.shown()
	}
	return reply(w, http.StatusOK, map[string][]User{"users": shown})
}

// errVerifyOnly refuses to add a user no login could use.
var errVerifyOnly = &Error{Status: http.StatusConflict, Code: "verify_only",
	Message: "this server verifies tokens issued elsewhere and has no users of its own: add the user at the identity provider"}

func (a *API) addUser(w http.ResponseWriter, r *http.Request) error {
	if a.opts.VerifyOnly {
		return errVerifyOnly
	}
	var in newUser
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := a.checkNewUser(in); err != nil {
		return err
	}
	note(r, "", "email", in.Email)
	hash, err := hashPassword(in.Password)
	if err != nil {
		return err
	}
	u, err := a.opts.Users.AddUser(auth.User{Email: in.Email, Name: in.Name, Roles: in.Roles, PasswordHash: hash})
	if err != nil {
		return storeFailure(err)
	}
	note(r, u.ID)
	w.Header().Set("Location", "/admin/users/"+u.ID)
	return reply(w, http.StatusCreated, u.shown())
}

// checkNewUser refuses what no login could use.
func (a *API) checkNewUser(in newUser) error {
	if in.Email == "" || in.Password == "" {
		return errInvalid("email and password are required")
	}
	return firstInvalid(
		field("email", CheckEmail(in.Email)),
		field("name", CheckName(in.Name)),
		field("roles", CheckRoles(in.Roles)),
		field("password", CheckPassword(in.Password, a.minPasswordLength())),
	)
}

// changeReader reads the change a request asks for.
type changeReader func(http.ResponseWriter, *http.Request) (auth.UserChange, error)

// fixed is the changeReader of an action that always makes c.
func fixed(c auth.UserChange) changeReader {
	return func(http.ResponseWriter, *http.Request) (auth.UserChange, error) { return c, nil }
}

// patch reads a PATCH body as the change it asks for.
func (a *API) patch(w http.ResponseWriter, r *http.Request) (auth.UserChange, error) {
	var p userPatch
	if err := decode(w, r, &p); err != nil {
		return auth.UserChange{}, err
	}
	if p == (userPatch{}) {
		return auth.UserChange{}, errInvalid("nothing to change: send any of name, roles, password and disabled")
	}
	c := auth.UserChange{Name: p.Name, Roles: p.Roles, Disabled: p.Disabled}
	note(r, "", "changed", p.fields())
	var errs []error
	if p.Name != nil {
		errs = append(errs, field("name", CheckName(*p.Name)))
	}
	if p.Roles != nil {
		errs = append(errs, field("roles", CheckRoles(*p.Roles)))
	}
	if p.Password != nil {
		errs = append(errs, field("password", CheckPassword(*p.Password, a.minPasswordLength())))
	}
	if err := firstInvalid(errs...); err != nil || p.Password == nil {
		return c, err
	}
	var err error
	c.PasswordHash, err = hashPassword(*p.Password)
	return c, err
}

// change returns the action that applies to the user {id} the change
// read from the request, ends on this node the logins it ended, and
// answers status with the user (or no body, for 204).
func (a *API) change(read changeReader, status int) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := read(w, r)
		if err != nil {
			return err
		}
		u, denied, err := a.opts.Users.ChangeUser(userRef(r), c)
		if err != nil {
			return storeFailure(err)
		}
		note(r, u.ID, "email", u.Email)
		a.takeDenials(denied)
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return nil
		}
		return reply(w, status, u.shown())
	}
}

// takeDenials ends here, at once, the logins a change ended. A shared
// store also tells the other nodes; this node then hears them again,
// which does no harm.
func (a *API) takeDenials(denied map[string]time.Time) {
	if a.opts.TakeDenial == nil {
		return
	}
	for id, until := range denied {
		a.opts.TakeDenial(id, until)
	}
}

func (a *API) unlock(w http.ResponseWriter, r *http.Request) error {
	u, _, err := a.opts.Users.ChangeUser(userRef(r), auth.UserChange{})
	if err != nil {
		return storeFailure(err)
	}
	note(r, u.ID, "email", u.Email)
	n, err := a.opts.Unlock(u.Email)
	if err != nil {
		return storeFailure(err)
	}
	return reply(w, http.StatusOK, unlocked{Failures: n})
}

// userRef names the user of the path's {id}: by email when it has an @.
func userRef(r *http.Request) auth.UserRef {
	id := r.PathValue("id")
	if strings.Contains(id, "@") {
		return auth.UserRef{Email: id}
	}
	return auth.UserRef{ID: id}
}

// hashPassword returns the bcrypt hash of a checked password.
func hashPassword(password string) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
}

func (a *API) minPasswordLength() int {
	if a.opts.MinPasswordLength > 0 {
		return a.opts.MinPasswordLength
	}
	return DefaultMinPasswordLength
}

// field names the request field whose check failed with err, if it did.
func field(name string, err error) error {
	if err == nil {
		return nil
	}
	return errInvalid(name + ": " + err.Error())
}

// firstInvalid returns the first error that is not nil.
func firstInvalid(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// storeFailure answers a store's error: no such user is 404, a taken
// email 409; auth's errors (the store unavailable is 503) map as they do.
func storeFailure(err error) error {
	switch {
	case errors.Is(err, auth.ErrUserNotFound):
		return errNotFound("no such user")
	case errors.Is(err, ErrEmailTaken):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: "a user with this email exists"}
	}
	return err
}
