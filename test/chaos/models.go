package main

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// counterIn is a counter operation: an increment or a read.
type counterIn struct {
	Incr bool
	Op   string
}

// result is an operation's output; Unknown outcomes accept any result.
type result struct {
	Unknown bool
	Int     int64
	Str     string
}

// counterModel: the state is the count; an increment returns the new count,
// a read the current one.
var counterModel = porcupine.Model{
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(int64), input.(counterIn), output.(result)
		if in.Incr {
			return out.Unknown || out.Int == s+1, s + 1
		}
		return out.Int == s, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(counterIn), output.(result)
		r := fmt.Sprint(out.Int)
		if out.Unknown {
			r = "?"
		}
		if in.Incr {
			return fmt.Sprintf("incr(%s) -> %s", in.Op, r)
		}
		return "get() -> " + r
	},
	DescribeState: func(state any) string { return fmt.Sprint(state.(int64)) },
}

// registerIn is a register operation on one key.
type registerIn struct {
	Put bool
	Key string
	Val string
}

// registerModel: one register per key (partitioned); "" is unset.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range history {
			k := o.Input.(registerIn).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(string), input.(registerIn), output.(result)
		if in.Put {
			return true, in.Val
		}
		return out.Unknown || out.Str == s, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(registerIn), output.(result)
		if in.Put {
			return fmt.Sprintf("put(%s, %s)", in.Key, in.Val)
		}
		if out.Unknown {
			return fmt.Sprintf("get(%s) -> ?", in.Key)
		}
		return fmt.Sprintf("get(%s) -> %q", in.Key, out.Str)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state.(string)) },
}
