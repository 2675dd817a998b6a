package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/client"
)

// maxEngineResponse bounds one response body read from the engine.
const maxEngineResponse = 16 << 20

// engine talks to one engine: the Go client for actions and destroy, plain
// JSON HTTP for the REST listing and the inspector.
type engine struct {
	base           string // no trailing slash
	token          string
	inspectorToken string
	httpc          *http.Client
	c              *client.Client
}

func (r *runner) engine() (*engine, error) {
	u, err := url.Parse(r.o.endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErr("--endpoint must be an http:// or https:// URL, not %q", r.o.endpoint)
	}
	httpc := &http.Client{Timeout: r.o.requestTimeout}
	c, err := client.New(client.Config{
		Endpoint: r.o.endpoint, Token: r.o.token, Namespace: "default", PoolName: "default",
		Encoding: client.EncodingJSON, HTTPClient: httpc, MaxRetries: 10, RetryInterval: 100 * time.Millisecond,
	})
	if err != nil {
		return nil, usageErr("--endpoint: %v", err)
	}
	it := r.o.inspectorToken
	if it == "" {
		it = r.o.token
	}
	return &engine{base: strings.TrimRight(r.o.endpoint, "/"), token: r.o.token, inspectorToken: it, httpc: httpc, c: c}, nil
}

// do sends a JSON request and decodes a JSON answer into out (nil: drop
// it). A non-2xx answer becomes a *client.ActorError when the body is a
// protocol error, else a *client.HTTPError.
func (e *engine) do(ctx context.Context, method, path string, q url.Values, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	u := e.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.httpc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("engine at %s: %w", e.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxEngineResponse+1))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if len(b) > maxEngineResponse {
		return fmt.Errorf("response larger than %d bytes", maxEngineResponse)
	}
	if resp.StatusCode/100 != 2 {
		var pe struct {
			Group   string `json:"group"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &pe) == nil && pe.Group != "" && pe.Code != "" {
			return &client.ActorError{Group: pe.Group, Code: pe.Code, Message: pe.Message, StatusCode: resp.StatusCode}
		}
		return &client.HTTPError{StatusCode: resp.StatusCode, Status: resp.Status, Body: cut(string(b), 1024)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode %s %s answer: %w", method, path, err)
	}
	return nil
}

// inspector calls /gateway/{id}/inspector/{path}.
func (e *engine) inspector(ctx context.Context, actorID, method, path string, q url.Values, body, out any) error {
	return e.do(ctx, method, "/gateway/"+url.PathEscape(actorID)+"/inspector/"+path, q, e.inspectorToken, body, out)
}

// actorJSON is an actor as the REST API reports it.
type actorJSON struct {
	ActorID            string `json:"actor_id"`
	Name               string `json:"name"`
	Key                string `json:"key"`
	RunnerNameSelector string `json:"runner_name_selector"`
	CreateTS           *int64 `json:"create_ts"`
	StartTS            *int64 `json:"start_ts"`
	ConnectableTS      *int64 `json:"connectable_ts"`
	SleepTS            *int64 `json:"sleep_ts"`
	DestroyTS          *int64 `json:"destroy_ts"`
}

// Actor is an actor as the tool prints it (-o json).
type Actor struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Key         []string   `json:"key"`
	Pool        string     `json:"pool"`
	Status      string     `json:"status"` // awake, sleeping, destroyed, created
	CreatedAt   *time.Time `json:"createdAt,omitempty"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	SleptAt     *time.Time `json:"sleptAt,omitempty"`
	DestroyedAt *time.Time `json:"destroyedAt,omitempty"`
}

func msPtr(ts *int64) *time.Time {
	if ts == nil || *ts == 0 {
		return nil
	}
	t := time.UnixMilli(*ts).UTC()
	return &t
}

func (a actorJSON) actor() Actor {
	out := Actor{
		ID: a.ActorID, Name: a.Name, Key: parseKey(a.Key), Pool: a.RunnerNameSelector,
		CreatedAt: msPtr(a.CreateTS), StartedAt: msPtr(a.StartTS), SleptAt: msPtr(a.SleepTS), DestroyedAt: msPtr(a.DestroyTS),
	}
	switch {
	case out.DestroyedAt != nil:
		out.Status = "destroyed"
	case a.ConnectableTS != nil:
		out.Status = "awake"
	case out.SleptAt != nil || out.StartedAt != nil:
		out.Status = "sleeping"
	default:
		out.Status = "created"
	}
	return out
}

// getActor reads one actor by ID (ExitNotFound when there is none).
func (e *engine) getActor(ctx context.Context, id string) (Actor, error) {
	var resp struct {
		Actors []actorJSON `json:"actors"`
	}
	if err := e.do(ctx, http.MethodGet, "/actors", url.Values{"actor_ids": {id}}, e.token, nil, &resp); err != nil {
		return Actor{}, err
	}
	if len(resp.Actors) == 0 {
		return Actor{}, notFoundErr("no actor with ID %s", id)
	}
	return resp.Actors[0].actor(), nil
}

// resolve turns an actor reference (an ID, or NAME/KEY) into an ID.
func (e *engine) resolve(ctx context.Context, ref string) (string, error) {
	name, rawKey, ok := strings.Cut(ref, "/")
	if !ok {
		if ref == "" {
			return "", usageErr("the actor must be an ID or NAME/KEY")
		}
		return ref, nil
	}
	key, err := keyArg(rawKey)
	if err != nil {
		return "", err
	}
	id, err := e.c.Get(name, key).Resolve(ctx)
	if err != nil {
		return "", fmt.Errorf("find actor %s %q: %w", name, key, err)
	}
	return id, nil
}

// withActor bounds ctx by --request-timeout, connects to the engine,
// resolves ref (an actor ID or NAME/KEY) to the actor's ID and runs fn:
// the common start of every command on one actor.
func (r *runner) withActor(ctx context.Context, ref string, fn func(ctx context.Context, e *engine, id string) error) error {
	e, err := r.engine()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.requestTimeout)
	defer cancel()
	id, err := e.resolve(ctx, ref)
	if err != nil {
		return err
	}
	return fn(ctx, e, id)
}
