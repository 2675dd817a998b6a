// Package scrape reads a Prometheus text exposition, for tests that check
// metrics from outside the process (a real /metrics listener).
package scrape

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Sample is one line of an exposition.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Fetch GETs url (a /metrics endpoint) and parses it.
func Fetch(ctx context.Context, url string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, res.Status, b)
	}
	return Parse(string(b))
}

// Parse parses the text exposition format (comments skipped).
func Parse(text string) ([]Sample, error) {
	var out []Sample
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		s := Sample{Labels: map[string]string{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("bad line %q", line)
			}
			s.Name = line[:i]
			if err := parseLabels(line[i+1:j], s.Labels); err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			rest = strings.TrimSpace(line[j+1:])
		} else {
			name, r, ok := strings.Cut(line, " ")
			if !ok {
				return nil, fmt.Errorf("bad line %q", line)
			}
			s.Name, rest = name, strings.TrimSpace(r)
		}
		val, _, _ := strings.Cut(rest, " ") // a timestamp may follow
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		s.Value = v
		out = append(out, s)
	}
	return out, nil
}

func parseLabels(s string, into map[string]string) error {
	for s != "" {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || len(rest) < 2 || rest[0] != '"' {
			return fmt.Errorf("bad labels %q", s)
		}
		var val strings.Builder
		i := 1
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
				switch rest[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(rest[i])
				}
				continue
			}
			val.WriteByte(rest[i])
		}
		if i >= len(rest) {
			return fmt.Errorf("unterminated label value in %q", s)
		}
		into[strings.TrimSpace(name)] = val.String()
		s = strings.TrimPrefix(strings.TrimSpace(rest[i+1:]), ",")
	}
	return nil
}

// Sum adds the values of the samples named name whose labels include all
// of want (given as "k", "v" pairs); found says whether any matched.
func Sum(samples []Sample, name string, want ...string) (total float64, found bool) {
	for _, s := range samples {
		if s.Name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(want); i += 2 {
			if s.Labels[want[i]] != want[i+1] {
				ok = false
				break
			}
		}
		if ok {
			total += s.Value
			found = true
		}
	}
	return total, found
}
