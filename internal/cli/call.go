package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"strings"
)

func callCmd() cmd {
	return cmd{
		path: "call", args: "NAME KEY ACTION [JSON-ARG...]",
		summary: "call an action (the actor is created when missing, unless --get)",
		min:     3, max: -1,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.BoolVar(&o.get, "get", false, "only call an existing actor (do not create it)")
		},
		run: runCall,
	}
}

func runCall(ctx context.Context, r *runner, args []string) error {
	name, rawKey, action := args[0], args[1], args[2]
	key, err := keyArg(rawKey)
	if err != nil {
		return err
	}
	callArgs := make([]any, 0, len(args)-3)
	for i, a := range args[3:] {
		v, err := jsonArg(a)
		if err != nil {
			return usageErr("argument %d is not JSON (quote strings: '\"text\"'): %v", i+1, err)
		}
		callArgs = append(callArgs, v)
	}
	e, err := r.engine()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.requestTimeout)
	defer cancel()
	h := e.c.GetOrCreate(name, key)
	if r.o.get {
		h = e.c.Get(name, key)
	}
	var out any
	if err := h.Action(ctx, action, &out, callArgs...); err != nil {
		return fmt.Errorf("call %s %s %s: %w", name, keyString(key), action, err)
	}
	b, err := json.MarshalIndent(jsonable(out), "", "  ")
	if err != nil {
		return fmt.Errorf("encode the result: %w", err)
	}
	_, err = fmt.Fprintln(r.env.Stdout, string(b))
	return err
}

// jsonArg decodes one JSON argument, keeping integers as integers (the
// actor may want an int64, which a float does not decode into).
func jsonArg(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("more than one JSON value in %q", cut(s, 40))
	}
	return numbers(v), nil
}

// numbers replaces json.Number with int64, *big.Int or float64.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		if b, ok := new(big.Int).SetString(string(x), 10); ok {
			return b
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return v
}

// jsonable turns values decoded from CBOR into ones encoding/json can
// write (maps with non-string keys become maps with formatted keys).
func jsonable(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
	case []any:
		for i := range x {
			x[i] = jsonable(x[i])
		}
	}
	return v
}
