package edge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/rivetkube/rivetkube/internal/admin"
	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/protocol"
	"github.com/rivetkube/rivetkube/internal/store"
)

// Admin is the engine administration served under /admin (the operator's
// interface to the engine: version routing, drain, actor counts).
type Admin interface {
	PoolStatus(ctx context.Context, pool string) (any, error)
	SetPoolRouting(ctx context.Context, pc store.PoolConfig) error
	SetRunnerDraining(ctx context.Context, id string, draining bool) error
}

func (s *Server) mountAdmin() {
	s.mux.HandleFunc("GET /admin/pools/{pool}", s.admin(func(w http.ResponseWriter, r *http.Request) error {
		st, err := s.cfg.Admin.PoolStatus(r.Context(), r.PathValue("pool"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	}))
	s.mux.HandleFunc("PUT /admin/pools/{pool}", s.admin(func(w http.ResponseWriter, r *http.Request) error {
		var body struct {
			Ready     []uint64    `json:"ready"`
			Draining  []uint64    `json:"draining"`
			DrainRate float64     `json:"drainRate"`
			Ramp      *admin.Ramp `json:"ramp"`
		}
		if err := decodeJSONBody(r, &body); err != nil {
			return err
		}
		pc := store.PoolConfig{Pool: r.PathValue("pool"), Ready: body.Ready, Draining: body.Draining, DrainRate: body.DrainRate}
		if rp := body.Ramp; rp != nil {
			pc.Ramp = &store.Ramp{Version: rp.Version, NewPercent: rp.NewPercent, MovePercent: rp.MovePercent}
		}
		if err := s.cfg.Admin.SetPoolRouting(r.Context(), pc); err != nil {
			return err
		}
		st, err := s.cfg.Admin.PoolStatus(r.Context(), pc.Pool)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	}))
	s.mux.HandleFunc("PUT /admin/runners/{id}/draining", s.admin(func(w http.ResponseWriter, r *http.Request) error {
		var body struct {
			Draining bool `json:"draining"`
		}
		if err := decodeJSONBody(r, &body); err != nil {
			return err
		}
		if err := s.cfg.Admin.SetRunnerDraining(r.Context(), r.PathValue("id"), body.Draining); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "draining": body.Draining})
		return nil
	}))
}

// admin wraps an admin handler with the bearer-token check.
func (s *Server) admin(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" {
			writeError(w, protocol.EncodingJSON, errs.AdminDisabled(), nil)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
			writeError(w, protocol.EncodingJSON, errs.Unauthorized(), nil)
			return
		}
		if err := h(w, r); err != nil {
			writeError(w, protocol.EncodingJSON, err, nil)
		}
	}
}

func decodeJSONBody(r *http.Request, v any) error {
	b, err := readBody(r, maxRESTBody)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.Malformed("invalid JSON body: %v", err)
	}
	return nil
}
