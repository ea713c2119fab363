package relay

import (
	"fmt"
	"strconv"
	"strings"
)

// EventID is a room event's id: its entry id in the room's stream,
// <milliseconds>-<sequence> as Redis makes them (1700000000000-0). Ids grow
// with the stream's order, so a subscriber resumes after the last it saw.
type EventID struct {
	Ms, Seq uint64
}

// String is the id as Redis writes it.
func (id EventID) String() string { return fmt.Sprintf("%d-%d", id.Ms, id.Seq) }

// After reports whether id comes after o in the stream.
func (id EventID) After(o EventID) bool {
	return id.Ms > o.Ms || id.Ms == o.Ms && id.Seq > o.Seq
}

// ParseEventID reads an id as String writes it (and Redis does): two decimal
// numbers without sign or leading zeros, joined by '-'. The error says what is
// wrong with it.
func ParseEventID(s string) (EventID, error) {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return EventID{}, fmt.Errorf("event id %q: want <milliseconds>-<sequence>, such as 1700000000000-0", s)
	}
	var id EventID
	var err error
	if id.Ms, err = parsePart(ms); err != nil {
		return EventID{}, fmt.Errorf("event id %q: milliseconds: %w", s, err)
	}
	if id.Seq, err = parsePart(seq); err != nil {
		return EventID{}, fmt.Errorf("event id %q: sequence: %w", s, err)
	}
	return id, nil
}

func parsePart(s string) (uint64, error) {
	switch {
	case s == "":
		return 0, fmt.Errorf("empty")
	case strings.Trim(s, "0123456789") != "":
		return 0, fmt.Errorf("%q is not a decimal number", s)
	case len(s) > 1 && s[0] == '0':
		return 0, fmt.Errorf("%q has a leading zero", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is over 64 bits", s)
	}
	return n, nil
}
