package edge

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/protocol"
	"github.com/rivetkube/rivetkube/internal/store"
)

// maxRESTBody bounds a REST /actors request body beyond the input itself.
const maxRESTBody = 64 << 10

// actorJSON is the Actor object of the REST API.
type actorJSON struct {
	ActorID            string `json:"actor_id"`
	Name               string `json:"name"`
	Key                string `json:"key"`
	NamespaceID        string `json:"namespace_id"`
	RunnerNameSelector string `json:"runner_name_selector"`
	CrashPolicy        string `json:"crash_policy,omitempty"`
	CreateTS           int64  `json:"create_ts"`
	StartTS            *int64 `json:"start_ts,omitempty"`
	ConnectableTS      *int64 `json:"connectable_ts,omitempty"`
	SleepTS            *int64 `json:"sleep_ts,omitempty"`
	DestroyTS          *int64 `json:"destroy_ts,omitempty"`
}

func ms(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

func toJSON(a store.Actor) actorJSON {
	j := actorJSON{
		ActorID:            a.ID,
		Name:               a.Name,
		Key:                protocol.SerializeKey(a.Key),
		NamespaceID:        a.Namespace,
		RunnerNameSelector: a.Pool,
		CrashPolicy:        a.CrashPolicy,
		CreateTS:           a.CreatedAt.UnixMilli(),
		StartTS:            ms(a.StartedAt),
		SleepTS:            ms(a.SleepAt),
		DestroyTS:          ms(a.DestroyedAt),
	}
	if a.RunnerID != "" {
		j.ConnectableTS = j.StartTS
	}
	return j
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func namespace(r *http.Request) string {
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		return ns
	}
	return "default"
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"runtime":                 "rivetkube",
		"version":                 s.cfg.Version,
		"client_protocol_version": protocol.CurrentVersion,
	})
}

type createBody struct {
	Name               string  `json:"name"`
	Key                *string `json:"key"`
	RunnerNameSelector string  `json:"runner_name_selector"`
	CrashPolicy        string  `json:"crash_policy"`
	Input              *string `json:"input"`
	Datacenter         string  `json:"datacenter"`
}

// parseCreate decodes and validates a create / get-or-create body.
func (s *Server) parseCreate(r *http.Request, keyRequired bool) (store.ActorSpec, error) {
	body, err := readBody(r, maxRESTBody+int64(s.cfg.MaxInputSize)*4/3+16)
	if err != nil {
		return store.ActorSpec{}, err
	}
	var b createBody
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&b); err != nil {
		return store.ActorSpec{}, errs.Malformed("invalid JSON body: %v", err)
	}
	if err := validName(b.Name); err != nil {
		return store.ActorSpec{}, err
	}
	if !s.cfg.Host.HasActor(b.Name) {
		return store.ActorSpec{}, s.unknownName(b.Name)
	}
	var key []string
	switch {
	case b.Key != nil:
		key, err = protocol.DeserializeKey(*b.Key)
		if err != nil {
			return store.ActorSpec{}, errs.InvalidRequest("invalid key: %v", err)
		}
	case keyRequired:
		return store.ActorSpec{}, errs.InvalidRequest("key is required")
	}
	if err := validKey(key); err != nil {
		return store.ActorSpec{}, err
	}
	spec := store.ActorSpec{
		ID:          newActorID(),
		Namespace:   namespace(r),
		Name:        b.Name,
		Key:         key,
		Pool:        orDefault(b.RunnerNameSelector, "default"),
		CrashPolicy: orDefault(b.CrashPolicy, "sleep"),
	}
	if b.Input != nil {
		raw, err := base64.StdEncoding.DecodeString(*b.Input)
		if err != nil {
			return store.ActorSpec{}, errs.Malformed("input must be base64: %v", err)
		}
		if spec.Input, err = s.decodeInput(raw); err != nil {
			return store.ActorSpec{}, err
		}
	}
	return spec, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Name and key limits.
const (
	maxNameLen    = 128
	maxKeyParts   = 32
	maxKeyPartLen = 1024
)

func validName(name string) error {
	if name == "" {
		return errs.InvalidRequest("actor name is required")
	}
	if len(name) > maxNameLen {
		return errs.InvalidRequest("actor name is longer than %d bytes", maxNameLen)
	}
	return nil
}

func validKey(key []string) error {
	if len(key) > maxKeyParts {
		return errs.InvalidRequest("key has %d parts, limit is %d", len(key), maxKeyParts)
	}
	for _, p := range key {
		if len(p) > maxKeyPartLen {
			return errs.InvalidRequest("key part is longer than %d bytes", maxKeyPartLen)
		}
	}
	return nil
}

func newActorID() string { return strings.ReplaceAll(uuid.NewString(), "-", "") }

// decodeInput checks size and converts the client's CBOR input to canonical CBOR.
func (s *Server) decodeInput(raw []byte) ([]byte, error) {
	if len(raw) > s.cfg.MaxInputSize {
		return nil, errs.IncomingTooLong(int64(s.cfg.MaxInputSize))
	}
	v, err := protocol.CompatCBORToValue(raw)
	if err != nil {
		return nil, errs.Malformed("input is not valid CBOR: %v", err)
	}
	return v, nil
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	spec, err := s.parseCreate(r, false)
	if err != nil {
		writeError(w, protocol.EncodingJSON, err, nil)
		return
	}
	a, err := s.cfg.Directory.CreateActor(r.Context(), spec)
	if err != nil {
		writeError(w, protocol.EncodingJSON, errs.FromStore(err), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"actor": toJSON(a)})
}

func (s *Server) handleGetOrCreate(w http.ResponseWriter, r *http.Request) {
	spec, err := s.parseCreate(r, true)
	if err != nil {
		writeError(w, protocol.EncodingJSON, err, nil)
		return
	}
	a, created, err := s.getOrCreate(r.Context(), spec)
	if err != nil {
		writeError(w, protocol.EncodingJSON, errs.FromStore(err), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"actor": toJSON(a), "created": created})
}

const maxListIDs = 100

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx := r.Context()
	out := []actorJSON{}
	if ids := q.Get("actor_ids"); ids != "" {
		parts := strings.Split(ids, ",")
		if len(parts) > maxListIDs {
			writeError(w, protocol.EncodingJSON, errs.InvalidRequest("at most %d actor_ids", maxListIDs), nil)
			return
		}
		for _, id := range parts {
			a, err := s.cfg.Directory.GetActor(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				writeError(w, protocol.EncodingJSON, errs.FromStore(err), nil)
				return
			}
			out = append(out, toJSON(a))
		}
		writeJSON(w, http.StatusOK, map[string]any{"actors": out})
		return
	}
	// Without a name (an extension: the official client always sends one)
	// the actors of every name are listed, in pages like a name's.
	name := q.Get("name")
	if q.Has("name") {
		if err := validName(name); err != nil {
			writeError(w, protocol.EncodingJSON, err, nil)
			return
		}
	} else if q.Has("key") {
		writeError(w, protocol.EncodingJSON, errs.InvalidRequest("key needs a name"), nil)
		return
	}
	limit, err := listLimit(q)
	if err != nil {
		writeError(w, protocol.EncodingJSON, err, nil)
		return
	}
	if q.Has("key") {
		key, err := protocol.DeserializeKey(q.Get("key"))
		if err != nil {
			writeError(w, protocol.EncodingJSON, errs.InvalidRequest("invalid key: %v", err), nil)
			return
		}
		a, err := s.cfg.Directory.GetActorByKey(ctx, namespace(r), name, key)
		if err == nil {
			out = append(out, toJSON(a))
		} else if !errors.Is(err, store.ErrNotFound) {
			writeError(w, protocol.EncodingJSON, errs.FromStore(err), nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"actors": out})
		return
	}
	actors, next, err := s.cfg.Directory.ListActors(ctx, store.ListOptions{
		Namespace: namespace(r), Name: name, Cursor: q.Get("cursor"), Limit: limit,
		IncludeDestroyed: q.Get("include_destroyed") == "true",
	})
	if errors.Is(err, store.ErrInvalid) {
		// The only argument the store can find invalid here (a name
		// and a key filter were checked above): the client's cursor.
		writeError(w, protocol.EncodingJSON, errs.InvalidRequest("invalid cursor: not one this listing returned"), nil)
		return
	}
	if err != nil {
		writeError(w, protocol.EncodingJSON, errs.FromStore(err), nil)
		return
	}
	for _, a := range actors {
		out = append(out, toJSON(a))
	}
	resp := map[string]any{"actors": out}
	if next != "" {
		resp["pagination"] = map[string]any{"cursor": next}
	}
	writeJSON(w, http.StatusOK, resp)
}

// maxListLimit is the largest page GET /actors returns (the store's cap).
const maxListLimit = 1000

// listLimit reads the optional limit of GET /actors (0: the store's
// default page of 100).
func listLimit(q url.Values) (int, error) {
	if !q.Has("limit") {
		return 0, nil
	}
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil || n < 1 || n > maxListLimit {
		return 0, errs.InvalidRequest("limit must be a number from 1 to %d", maxListLimit)
	}
	return n, nil
}

func (s *Server) handleDestroy(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := s.cfg.Host.Destroy(r.Context(), hostapi.Target{ActorID: id})
	s.bindings.forget(id)
	if err != nil {
		writeError(w, protocol.EncodingJSON, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// unknownName is the error for an actor name no host knows.
func (s *Server) unknownName(name string) error {
	if s.cfg.RunnersMayJoin {
		return errs.NotConfiguredYet(name)
	}
	return errs.NotConfigured(name)
}
