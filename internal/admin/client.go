// Package admin is a small typed client for the gateway's admin API, the
// operator's only interface to a running engine: it reads a pool's runners,
// versions and actor counts, sets which versions are ready or draining, and
// marks single runners draining before the autoscaler removes them.
package admin

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
)

// maxResponse bounds the bytes read from one admin response.
const maxResponse = 8 << 20

// PoolStatus is a pool's routing and runners as the gateway reports them.
type PoolStatus struct {
	Pool      string                   `json:"pool"`
	Ready     []uint64                 `json:"ready"`
	Draining  []uint64                 `json:"draining"`
	DrainRate float64                  `json:"drainRate"`
	Ramp      *Ramp                    `json:"ramp,omitempty"`
	Actors    int                      `json:"actors"`
	Runners   []Runner                 `json:"runners"`
	Versions  map[string]VersionStatus `json:"versions"`
	// SinceDemandMs is how long ago, by the store's clock, a request or due
	// work last found no live runner in the pool (demand the operator turns
	// into a scale-up from zero); absent when that never happened.
	SinceDemandMs *int64 `json:"sinceDemandMs,omitempty"`
}

// Runner is one registered runner of a pool.
type Runner struct {
	ID               string `json:"id"`
	Version          uint64 `json:"version"`
	Address          string `json:"address"`
	Alive            bool   `json:"alive"`
	Draining         bool   `json:"draining"`
	Actors           int    `json:"actors"`
	SinceHeartbeatMs int64  `json:"sinceHeartbeatMs"`
}

// VersionStatus aggregates the runners of one version.
type VersionStatus struct {
	Runners     int `json:"runners"`
	LiveRunners int `json:"liveRunners"`
	Actors      int `json:"actors"`
	// Calls and FailedCalls count the requests the answering gateway
	// routed to this version since it started, and those that failed in
	// the engine or the actor (internal errors, action timeouts); a sample
	// of the pool's traffic, for error rates.
	Calls       int64 `json:"calls"`
	FailedCalls int64 `json:"failedCalls"`
}

// Version returns the aggregate of version v (zero when no runner of it is
// registered).
func (s PoolStatus) Version(v uint64) VersionStatus {
	return s.Versions[fmt.Sprint(v)]
}

// Routing is the version routing of a pool: new actors go to the newest
// ready version with a live runner; actors on draining versions move at
// DrainRate actors per second.
type Routing struct {
	Ready     []uint64 `json:"ready"`
	Draining  []uint64 `json:"draining"`
	DrainRate float64  `json:"drainRate"`
	// Ramp, when set, splits the pool between a ready version ramping in
	// and the newest other ready version (a progressive rollout).
	Ramp *Ramp `json:"ramp,omitempty"`
}

// Ramp is a progressive split: NewPercent of new actors go to Version, and
// the engine moves actors until Version holds MovePercent of the actors of
// the two versions (0 moves them all back: a rollback).
type Ramp struct {
	Version     uint64 `json:"version"`
	NewPercent  int32  `json:"newPercent"`
	MovePercent int32  `json:"movePercent"`
}

// Routing returns the routing part of the status.
func (s PoolStatus) Routing() Routing {
	return Routing{Ready: s.Ready, Draining: s.Draining, DrainRate: s.DrainRate, Ramp: s.Ramp}
}

// Error is an error answer of the admin API.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Group and Code identify the error (e.g. "auth", "unauthorized").
	Group, Code string
	// Message is the human-readable explanation.
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("admin api: http %d", e.StatusCode)
	}
	return fmt.Sprintf("admin api: http %d %s/%s: %s", e.StatusCode, e.Group, e.Code, e.Message)
}

// ErrUnreachable wraps transport errors: the gateway did not answer.
var ErrUnreachable = errors.New("gateway unreachable")

// Client calls one engine's admin API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for the gateway at baseURL (http://host:port) that
// authenticates with token. A nil hc uses a client with a 10 s timeout.
func New(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: hc}
}

// Healthy returns nil when the gateway answers GET /healthz with 2xx.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// PoolStatus reads a pool's routing, runners and actor counts.
func (c *Client) PoolStatus(ctx context.Context, pool string) (PoolStatus, error) {
	var st PoolStatus
	err := c.do(ctx, http.MethodGet, "/admin/pools/"+url.PathEscape(pool), nil, &st)
	return st, err
}

// SetRouting replaces a pool's version routing and returns the new status.
func (c *Client) SetRouting(ctx context.Context, pool string, r Routing) (PoolStatus, error) {
	if r.Ready == nil {
		r.Ready = []uint64{}
	}
	if r.Draining == nil {
		r.Draining = []uint64{}
	}
	var st PoolStatus
	err := c.do(ctx, http.MethodPut, "/admin/pools/"+url.PathEscape(pool), r, &st)
	return st, err
}

// SetRunnerDraining marks one runner draining (its actors move away and no
// new ones are placed on it) or clears the mark.
func (c *Client) SetRunnerDraining(ctx context.Context, runnerID string, draining bool) error {
	body := struct {
		Draining bool `json:"draining"`
	}{draining}
	return c.do(ctx, http.MethodPut, "/admin/runners/"+url.PathEscape(runnerID)+"/draining", body, nil)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w: %w", method, path, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w: %w", method, path, ErrUnreachable, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{StatusCode: resp.StatusCode}
		var shape struct {
			Group   string `json:"group"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &shape) == nil {
			e.Group, e.Code, e.Message = shape.Group, shape.Code, shape.Message
		}
		return fmt.Errorf("%s %s: %w", method, path, e)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
