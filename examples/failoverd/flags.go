package main

import (
	"flag"
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

// onceFlag refuses a second value for a flag that holds one value, instead
// of silently keeping the last.
type onceFlag struct {
	flag.Value
	name string
	set  bool
}

func (o *onceFlag) Set(s string) error {
	if o.set {
		return fmt.Errorf("-%s given more than once (it takes one value)", o.name)
	}
	o.set = true
	return o.Value.Set(s)
}

// IsBoolFlag passes a boolean flag's nature through.
func (o *onceFlag) IsBoolFlag() bool {
	b, ok := o.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// refuseRepeats makes every flag of fs that is not in repeatable refuse a
// second value.
func refuseRepeats(fs *flag.FlagSet, repeatable ...string) {
	fs.VisitAll(func(f *flag.Flag) {
		for _, r := range repeatable {
			if f.Name == r {
				return
			}
		}
		f.Value = &onceFlag{Value: f.Value, name: f.Name}
	})
}
