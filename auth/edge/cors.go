package edge

import "net/http"

// CORS wraps next with CORS for credentialed requests: it always sets
// Vary: Origin; for a request with an Origin that allowed accepts, it
// echoes the Origin with Access-Control-Allow-Credentials: true and
// answers a preflight OPTIONS itself (204, allowing GET, POST and OPTIONS
// with the Authorization and Content-Type headers); a request from an
// origin allowed refuses goes to refuse instead of next, so that a foreign
// page cannot make it have effects. A request without Origin is not a
// browser's, and goes to next as it is.
func CORS(next http.Handler, allowed func(*http.Request) bool, refuse http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		switch {
		case origin == "":
			next.ServeHTTP(w, r)
			return
		case !allowed(r):
			refuse.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
