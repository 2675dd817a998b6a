package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Env is what Run needs from its process: arguments, output and the
// environment. Tests fill it by hand.
type Env struct {
	// Prog is the name the tool was started as (os.Args[0]); a base name of
	// kubectl-rivet makes usage read "kubectl rivet".
	Prog   string
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads an environment variable (os.Getenv when nil).
	Getenv func(string) string
}

// opts are the parsed flags of one invocation.
type opts struct {
	// Engine access.
	endpoint       string
	token          string
	inspectorToken string
	requestTimeout time.Duration
	// Kubernetes access.
	kubeconfig    string
	kubeContext   string
	namespace     string
	allNamespaces bool
	// Output.
	output string // "table" or "json"

	// Command flags (each command registers the ones it reads).
	name             string
	key              string
	includeDestroyed bool
	limit            int
	set              string
	get              bool
	timeout          time.Duration
	interval         time.Duration
	listen           string
	dataDir          string
	watch            string
	traces           int
}

// cmd is one command of the tool.
type cmd struct {
	path     string // words, e.g. "actors list"
	args     string // positional synopsis
	summary  string
	min, max int // positional argument counts (max < 0: unbounded)
	flags    func(fs *flag.FlagSet, o *opts)
	run      func(ctx context.Context, r *runner, args []string) error
}

// runner carries one invocation's options and outputs to a command.
type runner struct {
	env  Env
	o    opts
	prog string
	// rootParsed is set once the flags before the command are parsed: the
	// command's flag set then starts from their values, not the defaults.
	rootParsed bool
}

func commands() []cmd {
	return []cmd{
		actorsListCmd(), actorsGetCmd(), actorsStateCmd(), actorsDestroyCmd(),
		callCmd(), inspectCmd(), statusCmd(), rolloutStatusCmd(), devCmd(), versionCmd(),
	}
}

// Run runs the tool with args (without the program name) and returns its
// exit code.
func Run(ctx context.Context, env Env, args []string) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	r := &runner{env: env, prog: progName(env.Prog)}
	root := flag.NewFlagSet(r.prog, flag.ContinueOnError)
	root.SetOutput(io.Discard)
	r.globalFlags(root)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			r.usage(env.Stdout)
			return ExitOK
		}
		return r.fail(usageErr("%v", err))
	}
	r.rootParsed = true
	rest := root.Args()
	if len(rest) == 0 || rest[0] == "help" {
		if len(rest) > 1 {
			if c := findCmd(rest[1:]); c != nil {
				r.cmdUsage(env.Stdout, c)
				return ExitOK
			}
		}
		if len(rest) == 0 {
			r.usage(env.Stderr)
			return ExitUsage
		}
		r.usage(env.Stdout)
		return ExitOK
	}
	c := findCmd(rest)
	if c == nil {
		return r.fail(usageErr("unknown command %q (run %s help)", strings.Join(commandWords(rest), " "), r.prog))
	}
	fs := flag.NewFlagSet(r.prog+" "+c.path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	r.globalFlags(fs)
	if c.flags != nil {
		c.flags(fs, &r.o)
	}
	pos, err := parseInterspersed(fs, rest[len(strings.Fields(c.path)):])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			r.cmdUsage(env.Stdout, c)
			return ExitOK
		}
		return r.fail(usageErr("%v (run %s help %s)", err, r.prog, c.path))
	}
	if len(pos) < c.min || (c.max >= 0 && len(pos) > c.max) {
		return r.fail(usageErr("usage: %s %s %s", r.prog, c.path, c.args))
	}
	if r.o.output != "table" && r.o.output != "json" {
		return r.fail(usageErr("-o must be table or json, not %q", r.o.output))
	}
	return r.fail(c.run(ctx, r, pos))
}

// globalFlags registers the flags every command accepts, with defaults
// from the environment.
//
// The flags are registered twice: on the root flag set (flags before the
// command) and again on the command's. A flag's registration sets its
// variable to the default, so the second registration takes the values
// the first parse left as its defaults; a flag given before the command
// is therefore kept.
func (r *runner) globalFlags(fs *flag.FlagSet) {
	g := r.env.Getenv
	o := &r.o
	d := *o // the values so far (the root parse's, on the second registration)
	if !r.rootParsed {
		d = opts{
			endpoint:       orStr(g("RIVETKUBE_ENDPOINT"), "http://127.0.0.1:6420"),
			token:          g("RIVETKUBE_TOKEN"),
			inspectorToken: g("RIVETKUBE_INSPECTOR_TOKEN"),
			requestTimeout: 30 * time.Second,
			output:         "table",
		}
	}
	fs.StringVar(&o.endpoint, "endpoint", d.endpoint, "engine URL (env RIVETKUBE_ENDPOINT)")
	fs.StringVar(&o.token, "token", d.token, "bearer token for the engine (env RIVETKUBE_TOKEN)")
	fs.StringVar(&o.inspectorToken, "inspector-token", d.inspectorToken, "inspector token (env RIVETKUBE_INSPECTOR_TOKEN; default: --token)")
	fs.DurationVar(&o.requestTimeout, "request-timeout", d.requestTimeout, "bound on one engine or Kubernetes call")
	fs.StringVar(&o.kubeconfig, "kubeconfig", d.kubeconfig, "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.kubeContext, "context", d.kubeContext, "kubeconfig context")
	fs.StringVar(&o.namespace, "namespace", d.namespace, "Kubernetes namespace (default: the context's)")
	fs.StringVar(&o.namespace, "n", d.namespace, "short for --namespace")
	fs.BoolVar(&o.allNamespaces, "all-namespaces", d.allNamespaces, "every namespace (status)")
	fs.BoolVar(&o.allNamespaces, "A", d.allNamespaces, "short for --all-namespaces")
	fs.StringVar(&o.output, "output", d.output, "output format: table or json")
	fs.StringVar(&o.output, "o", d.output, "short for --output")
}

// parseInterspersed parses flags anywhere among the positional arguments;
// everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, tail...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// findCmd returns the command whose words start args, the longest first.
func findCmd(args []string) *cmd {
	words := commandWords(args)
	var best *cmd
	for _, c := range commands() {
		cw := strings.Fields(c.path)
		if len(cw) > len(words) || (best != nil && len(cw) <= len(strings.Fields(best.path))) {
			continue
		}
		match := true
		for i := range cw {
			if words[i] != cw[i] {
				match = false
				break
			}
		}
		if match {
			best = &c
		}
	}
	return best
}

// commandWords are the leading arguments that are not flags.
func commandWords(args []string) []string {
	var w []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(w) == 2 {
			break
		}
		w = append(w, a)
	}
	return w
}

func progName(argv0 string) string {
	base := filepath.Base(argv0)
	base = strings.TrimSuffix(base, ".exe")
	switch {
	case base == "kubectl-rivet":
		return "kubectl rivet"
	case base == "" || base == "." || base == "/":
		return "rivetkube"
	}
	return base
}

func (r *runner) usage(w io.Writer) {
	fmt.Fprintf(w, "%s: the rivetkube command-line tool\n\nUsage:\n", r.prog)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %s %-16s %-28s %s\n", r.prog, c.path, c.args, c.summary)
	}
	fmt.Fprintf(w, `
Global flags (any command):
  --endpoint URL         engine URL (env RIVETKUBE_ENDPOINT, default http://127.0.0.1:6420)
  --token T              engine bearer token (env RIVETKUBE_TOKEN)
  --inspector-token T    inspector token (env RIVETKUBE_INSPECTOR_TOKEN, default --token)
  --kubeconfig F, --context C, -n NS, -A
  -o table|json          output format (default table)
  --request-timeout D    bound on one call (default 30s)

Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 timed out, 5 unreachable.
Run "%s help COMMAND" for a command's flags.
`, r.prog)
}

func (r *runner) cmdUsage(w io.Writer, c *cmd) {
	fmt.Fprintf(w, "Usage: %s %s %s\n\n%s\n", r.prog, c.path, c.args, c.summary)
	if c.flags == nil {
		return
	}
	fs := flag.NewFlagSet(c.path, flag.ContinueOnError)
	var o opts
	c.flags(fs, &o)
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func orStr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
