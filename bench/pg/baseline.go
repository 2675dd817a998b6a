package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// loopbackServer is a trivial net/http handler on loopback: the HTTP share
// of every action, measured with the same http.Client the Go client uses.
type loopbackServer struct {
	srv  *http.Server
	url  string
	body []byte
}

func startLoopback() (*loopbackServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte{0x00, 0x01, 0x02})
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &loopbackServer{srv: srv, url: "http://" + ln.Addr().String() + "/ping", body: []byte{1, 2, 3, 4, 5, 6, 7, 8}}, nil
}

// call is one small POST, the size of an action call.
func (l *loopbackServer) call(ctx context.Context, httpc *http.Client) error {
	return post(ctx, httpc, l.url, l.body)
}

func (l *loopbackServer) Close() error { return l.srv.Close() }

// plainService is the service a user would otherwise write: a net/http
// handler that does one pgx upsert per request (autocommit) through a pool,
// on the same bench_raw table as the raw baselines. POST /set?k=<key>.
type plainService struct {
	srv  *http.Server
	pool *pgxpool.Pool
	url  string
}

func startPlainService(ctx context.Context, pgURL string, conns int) (*plainService, error) {
	cfg, err := pgxpool.ParseConfig(pgURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pool.Close()
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := io.ReadAll(io.LimitReader(r.Body, 1<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := pool.Exec(r.Context(), rawUpsert, r.URL.Query().Get("k"), v); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte{0x00})
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &plainService{srv: srv, pool: pool, url: "http://" + ln.Addr().String() + "/set?k="}, nil
}

// set upserts rawValue at key through the service.
func (p *plainService) set(ctx context.Context, httpc *http.Client, key string) error {
	return post(ctx, httpc, p.url+key, rawValue)
}

func (p *plainService) Close() error {
	err := p.srv.Close()
	p.pool.Close()
	return err
}

func post(ctx context.Context, httpc *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("POST " + url + ": " + resp.Status)
	}
	return err
}
