package probeflags

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Parse parses args into fs like fs.Parse, but first refuses a flag given
// more than once whose value would silently keep only the last one: every
// flag of the flag package's own kinds (bool, int, string, duration...,
// which implement flag.Getter). A flag with a Value of its own (a list such
// as -target) decides itself what a repeat means, and is not checked. The
// error names the flag; Parse does not print it (the caller prints every
// error it exits on). Errors of fs.Parse itself are printed by fs, as
// always.
func Parse(fs *flag.FlagSet, args []string) error {
	// A dry run on a twin set that only counts: the real values and what
	// fs prints stay untouched.
	twin := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	twin.SetOutput(io.Discard)
	twin.Usage = func() {}
	counts := map[string]*counter{}
	fs.VisitAll(func(f *flag.Flag) {
		_, std := f.Value.(flag.Getter)
		c := &counter{}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok {
			c.bool = b.IsBoolFlag()
		}
		if std {
			counts[f.Name] = c
		}
		twin.Var(c, f.Name, "")
	})
	if twin.Parse(args) == nil {
		var repeated []string
		twin.Visit(func(f *flag.Flag) {
			if c := counts[f.Name]; c != nil && c.n > 1 {
				repeated = append(repeated, f.Name)
			}
		})
		if len(repeated) > 0 {
			return fmt.Errorf("flag -%s given %d times: it takes one value", repeated[0], counts[repeated[0]].n)
		}
	}
	return fs.Parse(args)
}

// counter is a flag value that counts how often it is set.
type counter struct {
	n    int
	bool bool
}

func (c *counter) String() string   { return "" }
func (c *counter) Set(string) error { c.n++; return nil }
func (c *counter) IsBoolFlag() bool { return c != nil && c.bool }

// List is a repeatable flag of comma-separated words: "-i a -i b" and
// "-i a,b" mean the same; blanks around a word and empty words are
// dropped. The program checks the words after Parse.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *List) Set(s string) error {
	for _, w := range strings.Split(s, ",") {
		if w = strings.TrimSpace(w); w != "" {
			*l = append(*l, w)
		}
	}
	return nil
}
