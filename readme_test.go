package netpulse_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADMEExample keeps the README's "use it in your program" code equal
// to the compiled Example, so that it cannot rot.
func TestREADMEExample(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	s := string(src)
	start := strings.Index(s, "func Example() {")
	require.GreaterOrEqual(t, start, 0)
	end := strings.Index(s[start:], "\n}\n")
	require.Greater(t, end, 0)
	body := s[start : start+end+3]
	require.Contains(t, string(readme), "```go\n"+body+"```", "README.md must contain the Example verbatim")
}

// TestREADMECommands checks that the README opens with the two commands and
// that CI runs the README's test command.
func TestREADMECommands(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	ci, err := os.ReadFile(".ci/run")
	require.NoError(t, err)
	const demo, tests = "sudo go run ./examples/lab", "sudo go test -race -count=1 ./..."
	first := string(readme)[:strings.Index(string(readme), "## ")]
	require.Contains(t, first, demo)
	require.Contains(t, first, tests)
	require.Contains(t, string(ci), "\n"+strings.TrimPrefix(tests, "sudo ")+"\n")
	require.Contains(t, string(ci), "NETPULSE_REQUIRE_NETNS=1")
}
