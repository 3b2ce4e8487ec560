package httpapi

import (
	"net/http"

	"archibald"
)

// searchParams reads ?search= (at most 200 bytes) and ?limit=.
func searchParams(r *http.Request) (string, int, error) {
	search := r.URL.Query().Get("search")
	if len(search) > maxQueryLen {
		return "", 0, badRequest("search", "is at most %d bytes long", maxQueryLen)
	}
	limit, err := limitParam(r)
	return search, limit, err
}

func (s *Server) handleCustomers(w http.ResponseWriter, r *http.Request) {
	search, limit, err := searchParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.cfg.Store.SearchCustomers(r.Context(), search, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []archibald.Customer{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"customers": list})
}

func (s *Server) handleProducts(w http.ResponseWriter, r *http.Request) {
	search, limit, err := searchParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.cfg.Store.SearchProducts(r.Context(), search, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []archibald.Product{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"products": list})
}

func (s *Server) handlePrices(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("articleCode")
	switch {
	case code == "":
		s.writeError(w, r, badRequest("articleCode", "is required, e.g. ?articleCode=A-1001"))
		return
	case len(code) > maxQueryLen:
		s.writeError(w, r, badRequest("articleCode", "is at most %d bytes long", maxQueryLen))
		return
	}
	list, err := s.cfg.Store.PricesByArticle(r.Context(), code)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []archibald.Price{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"prices": list})
}
