package httpapi

import (
	"embed"
	"net/http"
)

// static holds the status page. Its script and style are files of their own, so the
// Content-Security-Policy needs no 'unsafe-inline'.
//
//go:embed static/index.html static/app.js static/app.css
var static embed.FS

var staticTypes = map[string]string{
	"app.js":  "text/javascript; charset=utf-8",
	"app.css": "text/css; charset=utf-8",
}

const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

func (s *Server) handleStatusPage(w http.ResponseWriter, r *http.Request) {
	b, err := static.ReadFile("static/index.html")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setPageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}

func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	ct, ok := staticTypes[name]
	if !ok {
		s.writeError(w, r, errNoStaticFile(name))
		return
	}
	b, err := static.ReadFile("static/" + name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setPageHeaders(w)
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(b)
}
