package netpulse_test

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/netpulse/netpulse"
	"github.com/netpulse/netpulse/failover"
	"github.com/netpulse/netpulse/health"
	"github.com/netpulse/netpulse/ipmon"
	"github.com/netpulse/netpulse/linkmon"
	"github.com/netpulse/netpulse/route"
)

// The four packages of the library, and the root package whose vocabulary
// they share: an exported name declared in two of them with the same kind
// is one meaning under two names, or two meanings under one.
var apiPackages = []string{".", "linkmon", "ipmon", "route", "health", "failover"}

// apiDocumented are the packages whose every exported name needs a doc
// comment: the library, its fakes and metrics.
var apiDocumented = append(apiPackages[:len(apiPackages):len(apiPackages)],
	"metrics", "linkmon/linkmontest", "ipmon/ipmontest", "route/routetest", "failover/failovertest")

// apiPerPackage are the names that every package declares for its own
// object by design; the reason is the allow-list's documentation.
var apiPerPackage = map[string]string{
	"type Config":   "each package's own configuration, validated by its Config.Validate",
	"type Snapshot": "each watcher's own table at one moment",
	"type Counters": "each package's own counters, inside its snapshot or status",
	"type Error":    "each package's own error type (op and cause), mdlayher-style",
	"func Open":     "the constructor of the package's kernel-socket object (the root doc's rule)",
	"type State":    "linkmon.State is a link's full kernel state; netpulse.State the up/down word of one level (linkmon.State.Link returns it)",
}

type apiDecl struct {
	pkg, kind, name string
	pos             token.Position
}

// apiParse parses the non-test Go files of dir (every build tag), without
// descending into sub-packages.
func apiParse(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatalf("%s: no Go files", dir)
	}
	return files
}

// apiDecls lists the exported top-level declarations of files (methods and
// struct fields aside) and, through undocumented, every exported
// declaration without a doc comment: types, funcs, methods of exported
// types, and consts and vars (a group's doc covers its members).
func apiDecls(fset *token.FileSet, pkg string, files []*ast.File, undocumented func(string)) []apiDecl {
	var out []apiDecl
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				name := d.Name.Name
				if d.Recv != nil {
					recv := apiRecv(d.Recv.List[0].Type)
					if !ast.IsExported(recv) {
						continue
					}
					name = recv + "." + name
				} else {
					out = append(out, apiDecl{pkg, "func", name, fset.Position(d.Pos())})
				}
				if d.Doc == nil {
					undocumented(fset.Position(d.Pos()).String() + ": func " + name)
				}
			case *ast.GenDecl:
				if d.Tok == token.IMPORT {
					continue
				}
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						out = append(out, apiDecl{pkg, "type", s.Name.Name, fset.Position(s.Pos())})
						if s.Doc == nil && d.Doc == nil {
							undocumented(fset.Position(s.Pos()).String() + ": type " + s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if !n.IsExported() {
								continue
							}
							out = append(out, apiDecl{pkg, d.Tok.String(), n.Name, fset.Position(n.Pos())})
							if s.Doc == nil && s.Comment == nil && d.Doc == nil {
								undocumented(fset.Position(n.Pos()).String() + ": " + d.Tok.String() + " " + n.Name)
							}
						}
					}
				}
			}
		}
	}
	return out
}

func apiRecv(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return apiRecv(e.X)
	case *ast.IndexExpr:
		return apiRecv(e.X)
	case *ast.IndexListExpr:
		return apiRecv(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}

// TestAPIOneName fails when an exported name is declared with the same kind
// in two of the library's packages (the root included), unless it is on the
// short allow-list of per-package names.
func TestAPIOneName(t *testing.T) {
	fset := token.NewFileSet()
	seen := map[string][]apiDecl{}
	for _, dir := range apiPackages {
		for _, d := range apiDecls(fset, dir, apiParse(t, fset, dir), func(string) {}) {
			k := d.kind + " " + d.name
			seen[k] = append(seen[k], d)
		}
	}
	var keys []string
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ds := seen[k]
		if len(ds) < 2 {
			continue
		}
		if _, ok := apiPerPackage[k]; ok {
			continue
		}
		var where []string
		for _, d := range ds {
			where = append(where, d.pos.String())
		}
		t.Errorf("%s is declared in %d packages: %s", k, len(ds), strings.Join(where, ", "))
	}
	// The allow-list holds no stale entry.
	for k := range apiPerPackage {
		if len(seen[k]) < 2 {
			t.Errorf("allow-list entry %q is declared in %d package(s): remove it", k, len(seen[k]))
		}
	}
}

// TestAPIDocumented fails when an exported name of the library, metrics or
// a fake has no doc comment.
func TestAPIDocumented(t *testing.T) {
	fset := token.NewFileSet()
	for _, dir := range apiDocumented {
		apiDecls(fset, dir, apiParse(t, fset, dir), func(s string) {
			t.Errorf("no doc comment: %s", s)
		})
	}
}

// TestAPINoCallerNamespaceLookups fails when non-test code resolves an
// interface through package net (InterfaceByName, InterfaceByIndex,
// Interfaces): those look in the caller's namespace, not the configured
// one, and go stale when an interface is re-created. The packages that own
// a namespace resolve names there with rtnetlink; everyone else takes
// netpulse.Interface values from their events.
func TestAPINoCallerNamespaceLookups(t *testing.T) {
	banned := map[string]bool{"InterfaceByName": true, "InterfaceByIndex": true, "Interfaces": true}
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if n := e.Name(); path != "." && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		checked++
		netName := ""
		for _, im := range f.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == "net" {
				netName = "net"
				if im.Name != nil {
					netName = im.Name.Name
				}
			}
		}
		if netName == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == netName && banned[sel.Sel.Name] {
				t.Errorf("%s: net.%s resolves in the caller's namespace; use the owning package's netpulse.Interface",
					fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d files checked: the walk missed the packages", checked)
	}
}

// apiEnums returns the enums of the library (named integer types with
// constants of their own, "dir.Name"), each with whether it has a
// MarshalText and an UnmarshalText method.
func apiEnums(t *testing.T) (enums map[string]bool, marshals, unmarshals map[string]bool) {
	fset := token.NewFileSet()
	enums, marshals, unmarshals = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, dir := range apiPackages {
		files := apiParse(t, fset, dir)
		ints := map[string]bool{}   // named integer types
		consts := map[string]bool{} // types of typed constants
		for _, f := range files {
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.GenDecl:
					for _, sp := range d.Specs {
						switch sp := sp.(type) {
						case *ast.TypeSpec:
							if id, ok := sp.Type.(*ast.Ident); ok && sp.Name.IsExported() && apiIntegers[id.Name] {
								ints[sp.Name.Name] = true
							}
						case *ast.ValueSpec:
							if id, ok := sp.Type.(*ast.Ident); ok && d.Tok == token.CONST {
								consts[id.Name] = true
							}
						}
					}
				case *ast.FuncDecl:
					if d.Recv == nil {
						continue
					}
					switch d.Name.Name {
					case "MarshalText":
						marshals[dir+"."+apiRecv(d.Recv.List[0].Type)] = true
					case "UnmarshalText":
						unmarshals[dir+"."+apiRecv(d.Recv.List[0].Type)] = true
					}
				}
			}
		}
		for name := range ints {
			if consts[name] && apiNoMarshal[dir+"."+name] == "" {
				enums[dir+"."+name] = true
			}
		}
	}
	return enums, marshals, unmarshals
}

// TestAPIEnumsMarshal fails when an enum of the library (a named integer
// type with constants of its own) has no MarshalText or no UnmarshalText
// method: every enum prints and marshals as the words of the JSON records,
// and reads them back.
func TestAPIEnumsMarshal(t *testing.T) {
	enums, marshals, unmarshals := apiEnums(t)
	if len(enums) < 15 {
		t.Fatalf("only %d enums found", len(enums))
	}
	for name := range enums {
		if !marshals[name] {
			t.Errorf("%s is an enum without MarshalText", name)
		}
		if !unmarshals[name] {
			t.Errorf("%s is an enum without UnmarshalText", name)
		}
	}
}

var apiIntegers = map[string]bool{"int": true, "int8": true, "int16": true, "int32": true, "int64": true,
	"uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true}

// apiNoMarshal are the integer types with constants that are no enums,
// with the reason.
var apiNoMarshal = map[string]string{
	"route.NexthopFlags": "a set of kernel flag bits (like net.Flags), printed by String as iproute2 does; not a word",
}

// TestAPIShapes fails when a constructor or a Subscribe method leaves the
// convention the root package documents: Open* (and a New* that takes a
// context) takes (context.Context, *Config-like) and returns (*T, error);
// every Subscribe, of the packages and of their fakes, is
// Subscribe(context.Context) <-chan netpulse.Event.
func TestAPIShapes(t *testing.T) {
	fset := token.NewFileSet()
	subscribes := 0
	for _, dir := range apiDocumented {
		event := "netpulse.Event"
		if dir == "." {
			event = "Event"
		}
		for _, f := range apiParse(t, fset, dir) {
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || !fd.Name.IsExported() {
					continue
				}
				pos := fset.Position(fd.Pos())
				var params, results []string
				for _, p := range fd.Type.Params.List {
					for range max(1, len(p.Names)) {
						params = append(params, types.ExprString(p.Type))
					}
				}
				if fd.Type.Results != nil {
					for _, r := range fd.Type.Results.List {
						for range max(1, len(r.Names)) {
							results = append(results, types.ExprString(r.Type))
						}
					}
				}
				name := fd.Name.Name
				switch {
				case fd.Recv != nil && name == "Subscribe":
					subscribes++
					if len(params) != 1 || params[0] != "context.Context" || len(results) != 1 || results[0] != "<-chan "+event {
						t.Errorf("%s: Subscribe(%v) %v, want Subscribe(context.Context) <-chan netpulse.Event", pos, params, results)
					}
				case fd.Recv == nil && (strings.HasPrefix(name, "Open") ||
					strings.HasPrefix(name, "New") && len(params) > 0 && params[0] == "context.Context"):
					if len(params) != 2 || params[0] != "context.Context" || !strings.HasPrefix(params[1], "*") ||
						!strings.HasSuffix(params[1], "Config") || len(results) != 2 || results[1] != "error" {
						t.Errorf("%s: %s(%v) %v, want %s(context.Context, *...Config) (*T, error)", pos, name, params, results, name)
					}
				}
			}
		}
	}
	if subscribes < 8 {
		t.Fatalf("only %d Subscribe methods found", subscribes)
	}
}

// apiEnumValues are the values of every enum of the library, for the
// round trip below (TestAPIEnumsRoundTrip fails when an enum is missing).
var apiEnumValues = []any{
	netpulse.StateUnknown, netpulse.StateUp, netpulse.StateDown,
	netpulse.VerdictUnknown, netpulse.VerdictAlive, netpulse.VerdictDead, netpulse.VerdictUnverified,
	netpulse.HealthUnknown, netpulse.HealthUp, netpulse.HealthLinkDown, netpulse.HealthIPDown, netpulse.HealthDisabled,
	netpulse.FailureNone, netpulse.FailureLinkIP, netpulse.FailureIPOnly,
	netpulse.ReasonNone, netpulse.ReasonLinkDown, netpulse.ReasonIPDown, netpulse.ReasonFailback,
	netpulse.ReasonManual, netpulse.ReasonInitial, netpulse.ReasonLinkUp, netpulse.ReasonIPUp,
	netpulse.ReasonEnabled, netpulse.ReasonDisabled, netpulse.ReasonRecovered, netpulse.ReasonRemoved,
	netpulse.ReasonReconciled, netpulse.ReasonRestored, netpulse.ReasonFailing, netpulse.ReasonWorking,
	linkmon.OperStateUnknown, linkmon.OperStateNotPresent, linkmon.OperStateDown,
	linkmon.OperStateLowerLayerDown, linkmon.OperStateTesting, linkmon.OperStateDormant, linkmon.OperStateUp,
	linkmon.TristateUnknown, linkmon.TristateNo, linkmon.TristateYes,
	linkmon.DuplexUnknown, linkmon.DuplexHalf, linkmon.DuplexFull,
	ipmon.ModeAuto, ipmon.ModeRaw, ipmon.ModeUnprivileged,
	ipmon.ProbeEcho, ipmon.ProbeARP, ipmon.ProbeLinkLocalEcho, ipmon.ProbeBFD,
	ipmon.TargetUnknown, ipmon.TargetUp, ipmon.TargetDown, ipmon.TargetUnverified,
	ipmon.RuleAny, ipmon.RuleAll, ipmon.RuleQuorum,
	ipmon.HoldNone, ipmon.HoldLocal, ipmon.HoldNoSource,
	ipmon.BFDStateAdminDown, ipmon.BFDStateDown, ipmon.BFDStateInit, ipmon.BFDStateUp,
	ipmon.BFDDiagNone, ipmon.BFDDiagControlDetectionExpired, ipmon.BFDDiagEchoFailed,
	ipmon.BFDDiagNeighborSignaledDown, ipmon.BFDDiagForwardingPlaneReset, ipmon.BFDDiagPathDown,
	ipmon.BFDDiagConcatenatedPathDown, ipmon.BFDDiagAdminDown, ipmon.BFDDiagReverseConcatenatedPathDown,
	route.TypeUnspec, route.TypeUnicast, route.TypeLocal, route.TypeBroadcast, route.TypeAnycast,
	route.TypeMulticast, route.TypeBlackhole, route.TypeUnreachable, route.TypeProhibit,
	route.TypeThrow, route.TypeNAT, route.TypeXResolve,
	route.ProtocolUnspec, route.ProtocolKernel, route.ProtocolBoot, route.ProtocolStatic,
	route.ProtocolDHCP, route.ProtocolBGP, route.Protocol(netpulse.DefaultRouteProtocol),
	route.ScopeUniverse, route.ScopeSite, route.ScopeLink, route.ScopeHost, route.ScopeNowhere,
	failover.FailbackAuto, failover.FailbackManual, failover.FailbackNever,
	failover.GroupUnknown, failover.GroupUp, failover.GroupSubnetDown,
}

// TestAPIEnumsRoundTrip: every enum value marshals to a word (also inside
// JSON) that reads back as the same value, and a word no enum uses is
// refused with an error wrapping os.ErrInvalid, as every invalid argument
// is.
func TestAPIEnumsRoundTrip(t *testing.T) {
	const module = "github.com/netpulse/netpulse"
	covered := map[string]bool{}
	for _, v := range apiEnumValues {
		typ := reflect.TypeOf(v)
		dir := strings.TrimPrefix(strings.TrimPrefix(typ.PkgPath(), module), "/")
		if dir == "" {
			dir = "."
		}
		name := dir + "." + typ.Name()
		first := !covered[name]
		covered[name] = true
		m, ok := v.(encoding.TextMarshaler)
		_, uok := reflect.New(typ).Interface().(encoding.TextUnmarshaler)
		if !ok || !uok {
			if first {
				t.Errorf("%s: no MarshalText or no UnmarshalText", name)
			}
			continue
		}

		word, err := m.MarshalText()
		if err != nil {
			t.Errorf("%s(%v).MarshalText: %v", typ, v, err)
			continue
		}
		if s := fmt.Sprint(v); s != string(word) {
			t.Errorf("%s: String %q, MarshalText %q", typ, s, word)
		}
		back := reflect.New(typ)
		if err := back.Interface().(encoding.TextUnmarshaler).UnmarshalText(word); err != nil {
			t.Errorf("%s.UnmarshalText(%q): %v", typ, word, err)
		} else if back.Elem().Interface() != v {
			t.Errorf("%s: %q reads back as %v, want %v", typ, word, back.Elem().Interface(), v)
		}
		js, err := json.Marshal(map[string]any{"v": v})
		if err != nil {
			t.Errorf("%s: json: %v", typ, err)
			continue
		}
		rec := reflect.New(reflect.StructOf([]reflect.StructField{{Name: "V", Type: typ, Tag: `json:"v"`}}))
		if err := json.Unmarshal(js, rec.Interface()); err != nil {
			t.Errorf("%s: json %s: %v", typ, js, err)
		} else if got := rec.Elem().Field(0).Interface(); got != v {
			t.Errorf("%s: json %s reads back as %v, want %v", typ, js, got, v)
		}

		if err := reflect.New(typ).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte("no-such-word")); first && !errors.Is(err, os.ErrInvalid) {
			t.Errorf("%s.UnmarshalText(no-such-word) = %v, want an error wrapping os.ErrInvalid", typ, err)
		}
	}
	enums, _, _ := apiEnums(t)
	for name := range enums {
		if !covered[name] {
			t.Errorf("%s: no value in apiEnumValues", name)
		}
	}
}

// TestAPIInvalidConfig: every Config of the library says what is wrong
// with Validate, and its constructor refuses it before it opens anything,
// both with an error wrapping os.ErrInvalid (a nil Config is the defaults,
// or invalid where there is no usable default). It needs no kernel.
func TestAPIInvalidConfig(t *testing.T) {
	ctx := context.Background()
	opened := func(_ any, err error) error { return err }
	cases := []struct {
		name        string
		validate    error
		constructor error
	}{
		{"linkmon", (&linkmon.Config{NetNS: -1}).Validate(), opened(linkmon.Open(ctx, &linkmon.Config{NetNS: -1}))},
		{"ipmon", (&ipmon.Config{NetNS: -1}).Validate(), opened(ipmon.Open(ctx, &ipmon.Config{NetNS: -1}))},
		{"route.View", (&route.ViewConfig{NetNS: -1}).Validate(), opened(route.OpenView(ctx, &route.ViewConfig{NetNS: -1}))},
		{"route.Steerer (nil)", (*route.SteererConfig)(nil).Validate(), opened(route.OpenSteerer(ctx, nil))},
		{"failover.Actuator", (&failover.ActuatorConfig{NetNS: -1}).Validate(), opened(failover.OpenActuator(ctx, &failover.ActuatorConfig{NetNS: -1}))},
		{"failover.Engine (nil)", (*failover.Config)(nil).Validate(), opened(failover.Open(ctx, nil))},
		{"health (nil)", (*health.Config)(nil).Validate(), opened(health.New(ctx, nil))},
	}
	for _, c := range cases {
		if !errors.Is(c.validate, os.ErrInvalid) {
			t.Errorf("%s: Validate = %v, want an error wrapping os.ErrInvalid", c.name, c.validate)
		}
		if !errors.Is(c.constructor, os.ErrInvalid) {
			t.Errorf("%s: constructor error %v, want one wrapping os.ErrInvalid", c.name, c.constructor)
		}
	}
	// nil is the defaults where there are usable ones.
	for name, err := range map[string]error{
		"linkmon": (*linkmon.Config)(nil).Validate(), "ipmon": (*ipmon.Config)(nil).Validate(),
		"route.View": (*route.ViewConfig)(nil).Validate(), "failover.Actuator": (*failover.ActuatorConfig)(nil).Validate(),
	} {
		if err != nil {
			t.Errorf("%s: nil Config: %v, want the defaults", name, err)
		}
	}
}
