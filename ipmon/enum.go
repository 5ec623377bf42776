package ipmon

import "github.com/netpulse/netpulse/internal/words"

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

// String returns "auto", "raw" or "unprivileged".
func (m Mode) String() string { return words.Name(modeNames[:], m, "Mode") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (m Mode) MarshalText() ([]byte, error) { return words.Marshal(modeNames[:], m, "ipmon", "Mode") }

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (m *Mode) UnmarshalText(b []byte) error {
	return words.Unmarshal(modeNames[:], b, m, "ipmon", "Mode")
}

// String returns "echo", "arp", "link-local-echo" or "bfd".
func (k ProbeKind) String() string { return words.Name(probeKindNames[:], k, "ProbeKind") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (k ProbeKind) MarshalText() ([]byte, error) {
	return words.Marshal(probeKindNames[:], k, "ipmon", "ProbeKind")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (k *ProbeKind) UnmarshalText(b []byte) error {
	return words.Unmarshal(probeKindNames[:], b, k, "ipmon", "ProbeKind")
}

// String returns "unknown", "up", "down" or "unverified".
func (s TargetState) String() string {
	return words.Name(targetStateNames[:], s, "TargetState")
}

// MarshalText implements encoding.TextMarshaler with String's words.
func (s TargetState) MarshalText() ([]byte, error) {
	return words.Marshal(targetStateNames[:], s, "ipmon", "TargetState")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (s *TargetState) UnmarshalText(b []byte) error {
	return words.Unmarshal(targetStateNames[:], b, s, "ipmon", "TargetState")
}

// String returns "any", "all" or "quorum".
func (k RuleKind) String() string { return words.Name(ruleKindNames[:], k, "RuleKind") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (k RuleKind) MarshalText() ([]byte, error) {
	return words.Marshal(ruleKindNames[:], k, "ipmon", "RuleKind")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (k *RuleKind) UnmarshalText(b []byte) error {
	return words.Unmarshal(ruleKindNames[:], b, k, "ipmon", "RuleKind")
}

// String returns "none", "local" or "no-source".
func (h Hold) String() string { return words.Name(holdNames[:], h, "Hold") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (h Hold) MarshalText() ([]byte, error) { return words.Marshal(holdNames[:], h, "ipmon", "Hold") }

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (h *Hold) UnmarshalText(b []byte) error {
	return words.Unmarshal(holdNames[:], b, h, "ipmon", "Hold")
}

// String returns "admin-down", "down", "init" or "up", the words of the
// JSON records.
func (s BFDState) String() string { return words.Name(bfdStateNames[:], s, "BFDState") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (s BFDState) MarshalText() ([]byte, error) {
	return words.Marshal(bfdStateNames[:], s, "ipmon", "BFDState")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (s *BFDState) UnmarshalText(b []byte) error {
	return words.Unmarshal(bfdStateNames[:], b, s, "ipmon", "BFDState")
}

// String returns the words of the JSON records: "none",
// "control-detection-time-expired", "echo-failed",
// "neighbor-signaled-session-down", "forwarding-plane-reset", "path-down",
// "concatenated-path-down", "admin-down" or "reverse-concatenated-path-down".
func (d BFDDiag) String() string { return words.Name(bfdDiagNames[:], d, "BFDDiag") }

// MarshalText implements encoding.TextMarshaler with String's words.
func (d BFDDiag) MarshalText() ([]byte, error) {
	return words.Marshal(bfdDiagNames[:], d, "ipmon", "BFDDiag")
}

// UnmarshalText implements encoding.TextUnmarshaler for String's words;
// another word is an error wrapping os.ErrInvalid.
func (d *BFDDiag) UnmarshalText(b []byte) error {
	return words.Unmarshal(bfdDiagNames[:], b, d, "ipmon", "BFDDiag")
}
