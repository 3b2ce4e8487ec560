package httpapi

import (
	"net/http"
	"strconv"

	"archibald"
	"archibald/syncer"
)

func (s *Server) handleSyncList(w http.ResponseWriter, r *http.Request) {
	list := make([]syncer.Status, 0, len(s.cfg.Syncs))
	for _, svc := range s.cfg.Syncs {
		list = append(list, svc.Status())
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": list})
}

// syncService finds the {service} of the path, writing a 404 when there is none.
func (s *Server) syncService(w http.ResponseWriter, r *http.Request) (SyncService, bool) {
	name := r.PathValue("service")
	svc, ok := s.syncs[name]
	if !ok {
		s.writeError(w, r, &archibald.Error{Code: archibald.ENOTFOUND, Field: "service",
			Message: "no sync service " + strconv.Quote(truncate(name, 64))})
	}
	return svc, ok
}

// handleSyncRun asks for a run now (202); requests made during a run coalesce into one.
func (s *Server) handleSyncRun(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.syncService(w, r)
	if !ok {
		return
	}
	svc.RunNow()
	s.log.Info("sync run requested through the API", "service", svc.Name())
	writeJSON(w, http.StatusAccepted, map[string]any{"service": svc.Status()})
}

// handleSyncPause pauses one service at its next page boundary, waiting for it with the
// request's context. Pauses are counted: each needs its own /resume.
func (s *Server) handleSyncPause(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.syncService(w, r)
	if !ok {
		return
	}
	if err := svc.Pause(r.Context()); err != nil {
		// Every Pause, whatever it returns, is undone by one Resume: the request failed,
		// so the service must not stay paused for it.
		svc.Resume()
		s.writeError(w, r, ctxError(err, "the service did not reach a page boundary"))
		return
	}
	s.log.Info("sync service paused through the API", "service", svc.Name())
	writeJSON(w, http.StatusOK, map[string]any{"service": svc.Status()})
}

func (s *Server) handleSyncResume(w http.ResponseWriter, r *http.Request) {
	svc, ok := s.syncService(w, r)
	if !ok {
		return
	}
	svc.Resume()
	s.log.Info("sync service resumed through the API", "service", svc.Name())
	writeJSON(w, http.StatusOK, map[string]any{"service": svc.Status()})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
