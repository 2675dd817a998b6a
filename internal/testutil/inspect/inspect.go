// Package inspect calls an actor's inspector through a gateway, for tests.
package inspect

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Call sends method to /gateway/{actorID}/inspector/{path} on endpoint,
// with body as JSON when it is not nil and a bearer token when token is
// not empty, and returns the status code and the decoded JSON object (nil
// when the answer is not one).
func Call(t testing.TB, endpoint, actorID, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, endpoint+"/gateway/"+actorID+"/inspector/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
