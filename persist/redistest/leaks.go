package redistest

import (
	"testing"

	"go.uber.org/goleak"
)

// VerifyNoLeaks runs a package's tests and then fails it for any goroutine
// left running, except the one a rueidis cluster client starts when its
// topology changes, which closes the replaced connections 5 s later
// whether or not the client was closed meanwhile. Call it from TestMain.
func VerifyNoLeaks(m *testing.M) {
	goleak.VerifyTestMain(m, IgnoreRueidisRefresh())
}

// IgnoreRueidisRefresh ignores the goroutine VerifyNoLeaks ignores, for
// goleak checks of other kinds.
func IgnoreRueidisRefresh() goleak.Option {
	return goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2")
}
