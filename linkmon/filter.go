package linkmon

import (
	"math"
	"time"
)

// filter turns the kernel's carrier of one link into the reported carrier:
// up-delay and down-delay with bonding's semantics, and flap damping. It is
// pure: time is passed in, and the caller arms a timer for next().
type filter struct {
	upDelay, downDelay time.Duration
	damp               *Damping

	kernel  bool      // last kernel carrier
	deb     bool      // debounced carrier
	pending time.Time // when deb follows kernel; zero: nothing pending

	penalty   float64   // damping penalty at penaltyAt
	penaltyAt time.Time // time penalty was last updated
	damped    bool

	suppressed uint64 // transitions shorter than the delay
}

func newFilter(cfg *config, kernel bool, now time.Time) *filter {
	if cfg.UpDelay == 0 && cfg.DownDelay == 0 && cfg.Damping == nil {
		return nil
	}
	return &filter{upDelay: cfg.UpDelay, downDelay: cfg.DownDelay, damp: cfg.Damping,
		kernel: kernel, deb: kernel, penaltyAt: now}
}

// reported is the carrier an application should see.
func (f *filter) reported() bool { return f.deb && !f.damped }

// observe records the kernel's carrier and admin state at now. otherUp says
// whether another watched link is reported up (see Config.UpDelay).
func (f *filter) observe(now time.Time, kernel, adminUp, otherUp bool) {
	if !adminUp {
		// An operator's "link set down" is reported at once and is not a
		// flap: it is no failure.
		f.kernel, f.deb, f.pending = false, false, time.Time{}
		f.advance(now, otherUp)
		return
	}
	if kernel != f.kernel {
		if f.kernel && !kernel && f.damp != nil {
			p := math.Min(f.penaltyNow(now)+f.damp.Penalty, f.damp.Max)
			f.penalty, f.penaltyAt = p, now
			if p > f.damp.Suppress {
				f.damped = true
			}
		}
		f.kernel = kernel
		switch {
		case kernel == f.deb:
			if !f.pending.IsZero() {
				f.suppressed++
				f.pending = time.Time{}
			}
		default:
			d := f.downDelay
			if kernel {
				d = f.upDelay
				if !otherUp {
					d = 0
				}
			}
			if d == 0 {
				f.deb, f.pending = kernel, time.Time{}
			} else {
				f.pending = now.Add(d)
			}
		}
	}
	f.advance(now, otherUp)
}

// advance applies what became due by now.
func (f *filter) advance(now time.Time, otherUp bool) {
	if !f.pending.IsZero() {
		// No link up any more: the up-delay no longer applies.
		if !now.Before(f.pending) || (f.kernel && !otherUp) {
			f.deb, f.pending = f.kernel, time.Time{}
		}
	}
	if f.damped && f.penaltyNow(now) <= f.damp.Reuse*(1+1e-9) {
		f.damped = false
		f.penalty, f.penaltyAt = f.penaltyNow(now), now
	}
}

// next returns when advance has something to do, or the zero time.
func (f *filter) next() time.Time {
	t := f.pending
	if f.damped {
		// penalty * 2^(-dt/halfLife) = reuse  =>  dt = halfLife * log2(penalty/reuse)
		dt := time.Duration(float64(f.damp.HalfLife) * math.Log2(f.penalty/f.damp.Reuse))
		r := f.penaltyAt.Add(max(dt, 0))
		if t.IsZero() || r.Before(t) {
			t = r
		}
	}
	return t
}

// penaltyNow is the decayed penalty at now.
func (f *filter) penaltyNow(now time.Time) float64 {
	if f.damp == nil || f.penalty == 0 {
		return 0
	}
	if f.damp.HalfLife == 0 {
		return f.penalty
	}
	dt := now.Sub(f.penaltyAt)
	if dt <= 0 {
		return f.penalty
	}
	return f.penalty * math.Exp2(-float64(dt)/float64(f.damp.HalfLife))
}
