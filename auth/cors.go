package auth

import (
	"net/http"

	"github.com/stompd/stompd/auth/edge"
)

// checkOrigin refuses a request whose Origin is neither the server's own
// (the same scheme, host and port, per Options.Scheme and the Host header)
// nor on the Options.Origins list. A request without Origin is not a
// browser's and passes.
func (s *Service) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" || s.opts.Origins.Allows(origin, s.opts.Scheme(r), r.Host) {
		return nil
	}
	return ErrOriginNotAllowed.with(reasonOrigin, "origin "+truncate(origin, 200)+" is not allowed")
}

// CheckOrigin reports whether a WebSocket upgrade request may proceed: it
// has no Origin (not a browser), or the server's own, or one on the list.
// A refusal is counted at the upgrade stage.
func (s *Service) CheckOrigin(r *http.Request) bool {
	err := s.checkOrigin(r)
	if err != nil {
		s.record(stageUpgrade, err)
	}
	return err == nil
}

// UpgradeCORS wraps the handler of the SockJS endpoints with CORS (see
// cors); a refusal is counted at the upgrade stage.
func (s *Service) UpgradeCORS(next http.Handler) http.Handler {
	return s.cors(next, func(err error) { s.record(stageUpgrade, err) })
}

// cors wraps next with the CORS of edge.CORS for the origins checkOrigin
// allows, refusing the others with 403 origin_not_allowed. refused, when
// not nil, is told of every refusal.
func (s *Service) cors(next http.Handler, refused func(error)) http.Handler {
	allowed := func(r *http.Request) bool { return s.checkOrigin(r) == nil }
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := s.checkOrigin(r)
		if refused != nil {
			refused(err)
		}
		writeError(w, err)
	})
	return edge.CORS(next, allowed, refuse)
}
