package scrape

import "testing"

func TestParseAndSum(t *testing.T) {
	t.Parallel()
	text := `# HELP x_total A counter.
# TYPE x_total counter
x_total{route="a",code="200"} 3
x_total{route="b",code="500"} 1
x_total{route="a",code="404"} 2 1700000000
weird{v="q\"uote,x"} 7
plain 1.5e+00
`
	s, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		want  []string
		total float64
		found bool
	}{
		{"x_total", nil, 6, true},
		{"x_total", []string{"route", "a"}, 5, true},
		{"x_total", []string{"route", "a", "code", "200"}, 3, true},
		{"x_total", []string{"route", "c"}, 0, false},
		{"weird", []string{"v", `q"uote,x`}, 7, true},
		{"plain", nil, 1.5, true},
	}
	for _, tt := range tests {
		got, found := Sum(s, tt.name, tt.want...)
		if got != tt.total || found != tt.found {
			t.Errorf("Sum(%s, %v) = %v, %v; want %v, %v", tt.name, tt.want, got, found, tt.total, tt.found)
		}
	}
	if _, err := Parse("x{a=\"b} 1"); err == nil {
		t.Error("unterminated label value parsed")
	}
}
