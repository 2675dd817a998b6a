package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/internal/protocol"

	"github.com/rivetkube/rivetkube/internal/errs"
)

// Encoding selects how protocol messages are encoded on the wire.
type Encoding string

// The encodings of client protocol v4.
const (
	EncodingBARE Encoding = "bare" // the default, as in the official client
	EncodingJSON Encoding = "json"
	EncodingCBOR Encoding = "cbor"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultEndpoint       = "http://127.0.0.1:6420"
	DefaultNamespace      = "default"
	DefaultPoolName       = "default"
	DefaultMaxRetries     = 60
	DefaultRetryInterval  = 100 * time.Millisecond
	DefaultMaxMessageSize = 16 << 20
)

// maxQueryInputSize is the largest CBOR input sent in the rvt-input query
// parameter, as in the official client. Larger inputs are sent through the
// REST API instead.
const maxQueryInputSize = 4096

const userAgent = "RivetKube-Go-Client/1"

// Config configures a Client. The zero value connects to a local engine.
type Config struct {
	// Endpoint is the base URL of the Rivet engine, which serves both the
	// REST API and the actor gateway. Default: $RIVET_ENDPOINT, else
	// DefaultEndpoint. The form "https://namespace:token@host" sets
	// Namespace and Token when those are empty.
	Endpoint string
	// Namespace of the actors. Default: $RIVET_NAMESPACE, else "default".
	Namespace string
	// Token authenticates with the engine. Default: $RIVET_TOKEN.
	Token string
	// PoolName is the runner pool that creates actors for GetOrCreate and
	// Create. Default: $RIVET_POOL, else "default".
	PoolName string
	// Encoding of actions and connections. Default: EncodingBARE.
	Encoding Encoding
	// HTTPClient sends every request, including WebSocket handshakes.
	// Default: a shared client whose transport keeps up to 256 idle
	// keep-alive connections per host (http.DefaultClient keeps 2, which
	// makes concurrent callers open new connections all the time).
	HTTPClient *http.Client
	// Header holds extra headers sent with every request.
	Header http.Header
	// MaxRetries bounds how often a request is retried after an error that
	// says it was not processed (the actor is starting or stopping, the
	// engine could not be reached, ...). Default: DefaultMaxRetries. A
	// negative value disables retries.
	MaxRetries int
	// RetryInterval is the pause between retries. Default:
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// MaxMessageSize limits the size of a response body and of a received
	// WebSocket message, in bytes. Default: DefaultMaxMessageSize.
	MaxMessageSize int64
}

// Client talks to Rivet actors through the engine's gateway and REST API. It
// is safe for concurrent use. A Client holds no resources of its own: closing
// is only needed for the connections it opened.
type Client struct {
	endpoint      string // no trailing slash, no user info
	namespace     string
	token         string
	pool          string
	encoding      Encoding
	enc           protocol.Encoding
	httpc         *http.Client
	header        http.Header
	maxRetries    int
	retryInterval time.Duration
	maxMessage    int64
}

// New returns a Client for cfg, filling in defaults.
func New(cfg Config) (*Client, error) {
	c := &Client{
		namespace:     cfg.Namespace,
		token:         cfg.Token,
		pool:          cfg.PoolName,
		encoding:      cfg.Encoding,
		httpc:         cfg.HTTPClient,
		header:        cfg.Header.Clone(),
		maxRetries:    cfg.MaxRetries,
		retryInterval: cfg.RetryInterval,
		maxMessage:    cfg.MaxMessageSize,
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = os.Getenv("RIVET_ENDPOINT")
	}
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("client: invalid endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: invalid endpoint %q: want an http or https URL", endpoint)
	}
	if u.User != nil {
		if c.namespace == "" {
			c.namespace = u.User.Username()
		}
		if pw, ok := u.User.Password(); ok && c.token == "" {
			c.token = pw
		}
		u.User = nil
	}
	u.RawQuery, u.Fragment = "", ""
	c.endpoint = strings.TrimRight(u.String(), "/")

	if c.namespace == "" {
		c.namespace = os.Getenv("RIVET_NAMESPACE")
	}
	if c.namespace == "" {
		c.namespace = DefaultNamespace
	}
	if c.token == "" {
		c.token = os.Getenv("RIVET_TOKEN")
	}
	if c.pool == "" {
		c.pool = os.Getenv("RIVET_POOL")
	}
	if c.pool == "" {
		c.pool = DefaultPoolName
	}
	switch c.encoding {
	case "", EncodingBARE:
		c.encoding, c.enc = EncodingBARE, protocol.EncodingBARE
	case EncodingJSON:
		c.enc = protocol.EncodingJSON
	case EncodingCBOR:
		c.enc = protocol.EncodingCBOR
	default:
		return nil, fmt.Errorf("client: unknown encoding %q", c.encoding)
	}
	if c.httpc == nil {
		c.httpc = defaultHTTPClient
	}
	if c.maxRetries == 0 {
		c.maxRetries = DefaultMaxRetries
	} else if c.maxRetries < 0 {
		c.maxRetries = 0
	}
	if c.retryInterval <= 0 {
		c.retryInterval = DefaultRetryInterval
	}
	if c.maxMessage <= 0 {
		c.maxMessage = DefaultMaxMessageSize
	}
	return c, nil
}

// contentType is the Content-Type of a request body in the client encoding.
func (c *Client) contentType() string {
	if c.encoding == EncodingJSON {
		return "application/json"
	}
	return "application/octet-stream"
}

// setHeaders adds the configured extra headers and the user agent.
func (c *Client) setHeaders(h http.Header) {
	for k, vs := range c.header {
		h[k] = append([]string(nil), vs...)
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", userAgent)
	}
}

// readBody reads a response body up to the message size limit.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxMessage+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(b)) > c.maxMessage {
		return nil, fmt.Errorf("response larger than %d bytes", c.maxMessage)
	}
	return b, nil
}

// retry runs fn until it succeeds, returns an error that retryable rejects,
// or the retry budget or ctx is exhausted.
func (c *Client) retry(ctx context.Context, retryable func(error) bool, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt >= c.maxRetries || !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(c.retryInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// ActorInfo describes an actor as reported by the engine's REST API.
type ActorInfo struct {
	ID                 string   // the actor ID
	Name               string   // the actor name
	Key                []string // the actor key
	NamespaceID        string   // the engine's ID of the namespace
	RunnerNameSelector string   // the runner pool hosting the actor
	// Lifecycle timestamps; the zero time means the event has not happened.
	CreatedAt     time.Time // created
	StartedAt     time.Time // last started
	ConnectableAt time.Time // last became reachable
	SleptAt       time.Time // last went to sleep
	DestroyedAt   time.Time // destroyed
	// Error is the engine's description of a scheduling or crash error, as
	// JSON, or nil.
	Error json.RawMessage
}

// apiActor is the JSON shape of an actor in the REST API.
type apiActor struct {
	ActorID            string          `json:"actor_id"`
	Name               string          `json:"name"`
	Key                *string         `json:"key"`
	NamespaceID        string          `json:"namespace_id"`
	RunnerNameSelector string          `json:"runner_name_selector"`
	CreateTS           *int64          `json:"create_ts"`
	StartTS            *int64          `json:"start_ts"`
	ConnectableTS      *int64          `json:"connectable_ts"`
	SleepTS            *int64          `json:"sleep_ts"`
	DestroyTS          *int64          `json:"destroy_ts"`
	Error              json.RawMessage `json:"error"`
}

func msTime(ts *int64) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return time.UnixMilli(*ts)
}

func (a *apiActor) info() (ActorInfo, error) {
	info := ActorInfo{
		ID:                 a.ActorID,
		Name:               a.Name,
		NamespaceID:        a.NamespaceID,
		RunnerNameSelector: a.RunnerNameSelector,
		CreatedAt:          msTime(a.CreateTS),
		StartedAt:          msTime(a.StartTS),
		ConnectableAt:      msTime(a.ConnectableTS),
		SleptAt:            msTime(a.SleepTS),
		DestroyedAt:        msTime(a.DestroyTS),
	}
	if len(a.Error) > 0 && string(a.Error) != "null" {
		info.Error = a.Error
	}
	if a.Key != nil {
		key, err := protocol.DeserializeKey(*a.Key)
		if err != nil {
			return ActorInfo{}, fmt.Errorf("client: actor %s has invalid key %q: %w", a.ActorID, *a.Key, err)
		}
		info.Key = key
	}
	return info, nil
}

// createRequest is the body of POST and PUT /actors.
type createRequest struct {
	Name               string `json:"name"`
	Key                string `json:"key"`
	RunnerNameSelector string `json:"runner_name_selector"`
	CrashPolicy        string `json:"crash_policy"`
	Input              string `json:"input,omitempty"` // base64 of canonical CBOR
}

func (c *Client) newCreateRequest(name string, key []string, input []byte) createRequest {
	req := createRequest{
		Name:               name,
		Key:                protocol.SerializeKey(key),
		RunnerNameSelector: c.pool,
		CrashPolicy:        "sleep",
	}
	if input != nil {
		req.Input = base64.StdEncoding.EncodeToString(input)
	}
	return req
}

// api calls the REST API: JSON in and out, ?namespace= on every call, the
// token as a bearer token. out may be nil. Connection failures are retried.
func (c *Client) api(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("client: encode request: %w", err)
		}
	}
	if query == nil {
		query = url.Values{}
	}
	query.Set("namespace", c.namespace)
	u := c.endpoint + path + "?" + query.Encode()

	var data []byte
	err := c.retry(ctx, isDialError, func() error {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return err
		}
		c.setHeaders(req.Header)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := c.httpc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, err = c.readBody(resp)
		if err != nil {
			return err
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return responseError(resp, data, protocol.EncodingJSON)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("client: %s %s: decode response: %w", method, path, err)
		}
	}
	return nil
}

// errNotFound builds the error of a lookup that found no actor.
func errNotFound(what string) *ActorError {
	return &ActorError{Group: "actor", Code: "not_found", Message: "actor " + what + " not found"}
}

// Get returns a handle to the existing actor with this name and key. Each
// request is routed by the gateway, which looks the actor up; a missing
// actor fails with an *ActorError of code actor/not_found. WithInput is
// ignored.
func (c *Client) Get(name string, key []string, opts ...HandleOption) *Handle {
	return c.newHandle(targetGet, name, key, "", opts)
}

// GetOrCreate returns a handle to the actor with this name and key, created
// with the WithInput value on first use. Each request is routed by the
// gateway, which creates the actor when needed.
func (c *Client) GetOrCreate(name string, key []string, opts ...HandleOption) *Handle {
	return c.newHandle(targetGetOrCreate, name, key, "", opts)
}

// GetForID returns a handle to the actor with this ID. name is the actor's
// name; it is informational. WithInput is ignored.
func (c *Client) GetForID(name, actorID string, opts ...HandleOption) *Handle {
	return c.newHandle(targetID, name, nil, actorID, opts)
}

// Create creates a new actor with this name and key through the REST API
// (POST /actors) and returns a handle to it by ID. It fails if an actor with
// this key exists. Use WithInput to pass its input.
func (c *Client) Create(ctx context.Context, name string, key []string, opts ...HandleOption) (*Handle, error) {
	h := c.newHandle(targetGetOrCreate, name, key, "", opts)
	if h.err != nil {
		return nil, h.err
	}
	if name == "" {
		return nil, errors.New("client: actor name must not be empty")
	}
	var resp struct {
		Actor apiActor `json:"actor"`
	}
	if err := c.api(ctx, http.MethodPost, "/actors", nil, c.newCreateRequest(name, key, h.input), &resp); err != nil {
		return nil, err
	}
	if resp.Actor.ActorID == "" {
		return nil, errors.New("client: create actor: response has no actor id")
	}
	id := c.newHandle(targetID, name, nil, resp.Actor.ActorID, opts)
	return id, nil
}

// List returns the actors with this name.
func (c *Client) List(ctx context.Context, name string) ([]ActorInfo, error) {
	var resp struct {
		Actors []apiActor `json:"actors"`
	}
	if err := c.api(ctx, http.MethodGet, "/actors", url.Values{"name": {name}}, nil, &resp); err != nil {
		return nil, err
	}
	out := make([]ActorInfo, 0, len(resp.Actors))
	for i := range resp.Actors {
		info, err := resp.Actors[i].info()
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Destroy destroys the actor with this ID.
func (c *Client) Destroy(ctx context.Context, actorID string) error {
	if actorID == "" {
		return errors.New("client: actor id must not be empty")
	}
	return c.api(ctx, http.MethodDelete, "/actors/"+escapeComponent(actorID), nil, nil, nil)
}

// lookup finds the actor with this name and key (GET /actors).
func (c *Client) lookup(ctx context.Context, name string, key []string) (string, error) {
	var resp struct {
		Actors []apiActor `json:"actors"`
	}
	q := url.Values{"name": {name}, "key": {protocol.SerializeKey(key)}}
	if err := c.api(ctx, http.MethodGet, "/actors", q, nil, &resp); err != nil {
		return "", err
	}
	if len(resp.Actors) == 0 || resp.Actors[0].ActorID == "" {
		return "", errNotFound(fmt.Sprintf("%s %q", name, key))
	}
	return resp.Actors[0].ActorID, nil
}

// getOrCreate finds or creates the actor with this name and key (PUT /actors).
func (c *Client) getOrCreate(ctx context.Context, name string, key []string, input []byte) (string, error) {
	var resp struct {
		Actor apiActor `json:"actor"`
	}
	err := c.api(ctx, http.MethodPut, "/actors", nil, c.newCreateRequest(name, key, input), &resp)
	if errors.Is(err, errs.ErrKeyReservedDC) {
		// The actor exists in another datacenter; a lookup is forwarded there.
		return c.lookup(ctx, name, key)
	}
	if err != nil {
		return "", err
	}
	if resp.Actor.ActorID == "" {
		return "", errors.New("client: get or create actor: response has no actor id")
	}
	return resp.Actor.ActorID, nil
}

// escapeComponent percent-encodes s for use as a URL path segment, query
// value or subprotocol token. Only RFC 3986 unreserved characters are kept,
// so the result decodes with decodeURIComponent and url.PathUnescape alike.
func escapeComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
			ch == '-' || ch == '_' || ch == '.' || ch == '~' {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&15])
	}
	return b.String()
}

// defaultHTTPClient is shared by clients built without an HTTPClient.
var defaultHTTPClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: t}
}()
