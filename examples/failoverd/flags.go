package main

import (
	"fmt"
	"strings"
)

// listFlag is a repeatable, comma-separated list flag: "-address A
// -address B" and "-address A,B" mean the same.
type listFlag struct{ items *[]string }

func (l listFlag) String() string {
	if l.items == nil {
		return ""
	}
	return strings.Join(*l.items, ",")
}

func (l listFlag) Set(s string) error {
	items := splitList(s)
	if len(items) == 0 {
		return fmt.Errorf("empty list")
	}
	*l.items = append(*l.items, items...)
	return nil
}
