package ipmon

import (
	"fmt"
	"os"
	"strconv"
)

// The words of each enum, indexed by value: what String returns, what
// MarshalText writes and UnmarshalText reads (the words of the example
// programs' JSON records).
var (
	modeNames        = [...]string{"auto", "raw", "unprivileged"}
	probeKindNames   = [...]string{"echo", "arp", "link-local-echo", "bfd"}
	targetStateNames = [...]string{"unknown", "up", "down", "unverified"}
	ruleKindNames    = [...]string{"any", "all", "quorum"}
	holdNames        = [...]string{"none", "local", "no-source"}
	bfdStateNames    = [...]string{"admin-down", "down", "init", "up"}
)

func enumString(names []string, v int, typ string) string {
	if v >= 0 && v < len(names) {
		return names[v]
	}
	return typ + "(" + strconv.Itoa(v) + ")"
}

func enumMarshal(names []string, v int, typ string) ([]byte, error) {
	if v >= 0 && v < len(names) {
		return []byte(names[v]), nil
	}
	return nil, fmt.Errorf("ipmon: invalid %s %d: %w", typ, v, os.ErrInvalid)
}

func enumUnmarshal(names []string, b []byte, typ string) (int, error) {
	for i, n := range names {
		if string(b) == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("ipmon: unknown %s %q: %w", typ, b, os.ErrInvalid)
}

// String returns "auto", "raw" or "unprivileged".
func (m Mode) String() string { return enumString(modeNames[:], int(m), "Mode") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (m Mode) MarshalText() ([]byte, error) { return enumMarshal(modeNames[:], int(m), "Mode") }

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := enumUnmarshal(modeNames[:], b, "Mode")
	if err != nil {
		return err
	}
	*m = Mode(v)
	return nil
}

// String returns "echo", "arp", "link-local-echo" or "bfd".
func (k ProbeKind) String() string { return enumString(probeKindNames[:], int(k), "ProbeKind") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (k ProbeKind) MarshalText() ([]byte, error) {
	return enumMarshal(probeKindNames[:], int(k), "ProbeKind")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (k *ProbeKind) UnmarshalText(b []byte) error {
	v, err := enumUnmarshal(probeKindNames[:], b, "ProbeKind")
	if err != nil {
		return err
	}
	*k = ProbeKind(v)
	return nil
}

// String returns "unknown", "up", "down" or "unverified".
func (s TargetState) String() string {
	return enumString(targetStateNames[:], int(s), "TargetState")
}

// MarshalText implements encoding.TextMarshaler with String's words.
func (s TargetState) MarshalText() ([]byte, error) {
	return enumMarshal(targetStateNames[:], int(s), "TargetState")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (s *TargetState) UnmarshalText(b []byte) error {
	v, err := enumUnmarshal(targetStateNames[:], b, "TargetState")
	if err != nil {
		return err
	}
	*s = TargetState(v)
	return nil
}

// String returns "any", "all" or "quorum".
func (k RuleKind) String() string { return enumString(ruleKindNames[:], int(k), "RuleKind") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (k RuleKind) MarshalText() ([]byte, error) {
	return enumMarshal(ruleKindNames[:], int(k), "RuleKind")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (k *RuleKind) UnmarshalText(b []byte) error {
	v, err := enumUnmarshal(ruleKindNames[:], b, "RuleKind")
	if err != nil {
		return err
	}
	*k = RuleKind(v)
	return nil
}

// String returns "none", "local" or "no-source".
func (h Hold) String() string { return enumString(holdNames[:], int(h), "Hold") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (h Hold) MarshalText() ([]byte, error) { return enumMarshal(holdNames[:], int(h), "Hold") }

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (h *Hold) UnmarshalText(b []byte) error {
	v, err := enumUnmarshal(holdNames[:], b, "Hold")
	if err != nil {
		return err
	}
	*h = Hold(v)
	return nil
}

// String returns "admin-down", "down", "init" or "up", the words of the
// JSON records.
func (s BFDState) String() string { return enumString(bfdStateNames[:], int(s), "BFDState") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (s BFDState) MarshalText() ([]byte, error) {
	return enumMarshal(bfdStateNames[:], int(s), "BFDState")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (s *BFDState) UnmarshalText(b []byte) error {
	v, err := enumUnmarshal(bfdStateNames[:], b, "BFDState")
	if err != nil {
		return err
	}
	*s = BFDState(v)
	return nil
}

// String returns the words of the JSON records: "none",
// "control-detection-time-expired", "echo-failed",
// "neighbor-signaled-session-down", "forwarding-plane-reset", "path-down",
// "concatenated-path-down", "admin-down" or "reverse-concatenated-path-down".
func (d BFDDiag) String() string { return enumString(bfdDiagNames[:], int(d), "BFDDiag") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (d BFDDiag) MarshalText() ([]byte, error) {
	return enumMarshal(bfdDiagNames[:], int(d), "BFDDiag")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (d *BFDDiag) UnmarshalText(b []byte) error {
	v, err := enumUnmarshal(bfdDiagNames[:], b, "BFDDiag")
	if err != nil {
		return err
	}
	*d = BFDDiag(v)
	return nil
}
