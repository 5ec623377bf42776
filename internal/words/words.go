// Package words prints, marshals and parses the library's enums by a table
// of their words, indexed by value: the words String returns, MarshalText
// writes and UnmarshalText reads (those of the JSON records). Every package
// calls it, so every enum answers the same way: an unknown value prints as
// "Type(n)" and refuses to marshal, an unknown word refuses to unmarshal,
// both with an error wrapping os.ErrInvalid.
package words

import (
	"fmt"
	"os"
	"strconv"
)

// An enum is an integer type whose values index a table of words.
type enum interface{ ~uint8 | ~int }

// Name returns v's word, or typ(v) for a value without one.
func Name[T enum](names []string, v T, typ string) string {
	if v >= 0 && int(v) < len(names) {
		return names[v]
	}
	return typ + "(" + strconv.Itoa(int(v)) + ")"
}

// Marshal returns v's word; a value without one is an error "pkg: invalid
// typ v" wrapping os.ErrInvalid.
func Marshal[T enum](names []string, v T, pkg, typ string) ([]byte, error) {
	if v >= 0 && int(v) < len(names) {
		return []byte(names[v]), nil
	}
	return nil, fmt.Errorf("%s: invalid %s %d: %w", pkg, typ, v, os.ErrInvalid)
}

// Unmarshal sets *v to the value whose word is b; another word is an error
// "pkg: unknown typ b" wrapping os.ErrInvalid, and leaves *v alone.
func Unmarshal[T enum](names []string, b []byte, v *T, pkg, typ string) error {
	for i, n := range names {
		if string(b) == n {
			*v = T(i)
			return nil
		}
	}
	return fmt.Errorf("%s: unknown %s %q: %w", pkg, typ, b, os.ErrInvalid)
}
