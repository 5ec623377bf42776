package health

import (
	"time"

	"github.com/netpulse/netpulse"
)

// delivery is an event on its way to one subscriber, with the number of
// events folded into it or dropped before it (told as a DropEvent first).
type delivery struct {
	ev     netpulse.Event // *EvidenceEvent or *netpulse.ConditionEvent
	lost   uint64
	lostAt time.Time // when the first of them was lost
}

// key is the fan-out key: the interface name, or "" (no interface has that
// name) for the Monitor's condition.
func (d delivery) key() string {
	if e, ok := d.ev.(*EvidenceEvent); ok {
		return e.Evidence.Interface.Name
	}
	return ""
}

// merge folds a newer event into a waiting one of the same key: the
// subscriber gets the newer state, with the Previous it saw last.
func (d delivery) merge(next delivery) (delivery, bool) {
	at := d.lostAt
	if d.lost == 0 {
		at = next.ev.EventTime()
	}
	switch old := d.ev.(type) {
	case *EvidenceEvent:
		e := *next.ev.(*EvidenceEvent)
		e.Previous, e.Initial = old.Previous, old.Initial
		next.ev = &e
	case *netpulse.ConditionEvent:
		e := *next.ev.(*netpulse.ConditionEvent)
		e.Previous = old.Previous
		next.ev = &e
	}
	next.lost += d.lost + 1
	next.lostAt = at
	return next, true
}

// addLost marks the next event after the queue cap dropped n events.
func (d delivery) addLost(n uint64) delivery {
	if d.lost == 0 {
		d.lostAt = d.ev.EventTime()
	}
	d.lost += n
	return d
}
