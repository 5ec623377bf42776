//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netpulse/netpulse/internal/netlab"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hostState is what the lab must leave as it found it in the host
// namespace: its links and the named namespaces.
func hostState(t *testing.T) (links, named []string) {
	t.Helper()
	ents, err := os.ReadDir("/sys/class/net")
	require.NoError(t, err)
	for _, e := range ents {
		links = append(links, e.Name())
	}
	if ents, err := os.ReadDir("/var/run/netns"); err == nil {
		for _, e := range ents {
			named = append(named, e.Name())
		}
	}
	slices.Sort(links)
	slices.Sort(named)
	return links, named
}

// Not parallel: it checks the host namespace before and after, and the lab
// names namespaces after the process id.
func TestLabAllSteps(t *testing.T) {
	netlab.Require(t)
	links0, _ := hostState(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	ok, err := run(ctx, options{}, &out)
	t.Logf("lab output (%v):\n%s", time.Since(start).Round(time.Millisecond), out.String())
	require.NoError(t, err)
	require.True(t, ok, "every step must behave as expected")
	for n := 1; n <= len(steps); n++ {
		require.Contains(t, out.String(), "step "+itoa(n)+" ok:")
	}
	require.NotContains(t, out.String(), "FAILED")
	require.Contains(t, out.String(), "5 of 5 steps ok")
	require.Contains(t, out.String(), "NETWORK_INTERFACE", "the status table is printed")

	// Other packages' tests run in parallel and may name namespaces of
	// their own: only this program's names must be gone.
	links1, named1 := hostState(t)
	require.Equal(t, links0, links1, "host links changed")
	for _, n := range named1 {
		require.False(t, strings.HasPrefix(n, labPrefix()), "namespace %s left behind", n)
	}
}

func TestLabJSONOneStep(t *testing.T) {
	netlab.Require(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ok, err := run(ctx, options{json: true, step: 2}, &out)
	require.NoError(t, err)
	require.True(t, ok, "output:\n%s", out.String())

	kinds := map[string]int{}
	var steps, summary []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "line %q", sc.Text())
		ev, _ := m["event"].(string)
		kinds[ev]++
		require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`, m["time"])
		switch ev {
		case "step":
			steps = append(steps, m)
		case "summary":
			summary = append(summary, m)
		case "health":
			require.Contains(t, []any{"up", "link-down", "ip-down", "disabled", "unknown"}, m["state"])
			require.Contains(t, []any{"none", "link+ip", "ip_only"}, m["failure"])
		case "switch":
			require.Contains(t, []any{"link-down", "ip-down", "failback", "manual"}, m["reason"])
		case "route":
			require.Contains(t, []any{"link-down", "ip-down", "recovered"}, m["reason"])
		}
	}
	require.NoError(t, sc.Err())
	require.Len(t, steps, 1)
	require.Equal(t, 2.0, steps[0]["step"])
	require.Equal(t, true, steps[0]["ok"])
	require.NotEmpty(t, steps[0]["measures"])
	require.Len(t, summary, 1)
	require.Equal(t, true, summary[0]["ok"])
	for _, k := range []string{"link", "target", "route", "health", "switch"} {
		require.Positive(t, kinds[k], "no %q record in:\n%s", k, out.String())
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-json", "-step", "3"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, options{json: true, step: 3}, o)
	_, err = parseFlags([]string{"-step", "6"}, &bytes.Buffer{})
	require.Error(t, err)
	_, err = parseFlags([]string{"extra"}, &bytes.Buffer{})
	require.Error(t, err)
	// #11.8: a repeat is refused, not silently the last value.
	_, err = parseFlags([]string{"-step", "3", "-step", "4"}, &bytes.Buffer{})
	require.ErrorContains(t, err, "flag -step given 2 times")
	_, err = parseFlags([]string{"-json", "-json"}, &bytes.Buffer{})
	require.ErrorContains(t, err, "flag -json given 2 times")
}

// The program's exit status: 0 when the steps behaved (as root), 1 with one
// sentence saying what it needs without root.
func TestBinaryExitStatus(t *testing.T) {
	netlab.Require(t)
	bin := filepath.Join(t.TempDir(), "lab")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	// t.TempDir makes its directories private: let the other user in.
	for d := filepath.Dir(bin); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode())
	msg := strings.TrimSpace(stderr.String())
	require.Equal(t, 1, strings.Count(msg, "\n")+1, "one line: %q", msg)
	require.Contains(t, msg, "needs root")

	// A bad command line: exit 2 and the reason, for every kind of error.
	for _, args := range [][]string{{"extra"}, {"-step", "1", "-step", "2"}, {"-step", "9"}} {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.ErrorAs(t, cmd.Run(), &ee, "%q", args)
		require.Equal(t, 2, ee.ExitCode(), "%q", args)
		require.Contains(t, stderr.String(), "lab: ", "%q", args)
	}

	// As root, one step: exit 0 and its verdict line.
	links0, _ := hostState(t)
	ok := exec.Command(bin, "-step", "3")
	out, err := ok.CombinedOutput()
	require.NoError(t, err, "exit status 0 expected:\n%s", out)
	require.Contains(t, string(out), "step 3 ok:")
	require.Contains(t, string(out), "1 of 1 steps ok")
	links1, named1 := hostState(t)
	require.Equal(t, links0, links1, "host links changed")
	for _, n := range named1 {
		require.False(t, strings.HasPrefix(n, "nplab-"+strconv.Itoa(ok.Process.Pid)+"-"), "namespace %s left behind", n)
	}
}

func itoa(n int) string { return string(rune('0' + n)) }
