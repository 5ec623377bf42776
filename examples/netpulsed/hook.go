package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netpulse/netpulse/internal/jsonl"
)

// hookQueue is how many notices may wait for the hook before new ones are
// dropped (and counted as failures): a hook never holds up detection or
// failover, and a stuck hook cannot make the daemon's memory grow.
const hookQueue = 1024

// hooks runs the notify hook for each notice, in order, one at a time, on
// its own goroutine.
type hooks struct {
	log *slog.Logger

	mu      sync.Mutex
	cfg     notifyConfig
	queue   []notice
	wake    chan struct{}
	closed  bool
	done    chan struct{}
	runs    atomic.Uint64
	failure atomic.Uint64
}

func newHooks(cfg notifyConfig, log *slog.Logger) *hooks {
	h := &hooks{cfg: cfg, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go h.loop()
	return h
}

// setConfig changes the hook (a reload); queued notices use the new one.
func (h *hooks) setConfig(cfg notifyConfig) {
	h.mu.Lock()
	h.cfg = cfg
	h.mu.Unlock()
}

// failures returns how many hooks failed, timed out or were dropped.
func (h *hooks) failures() uint64 { return h.failure.Load() }

// push queues n; it never blocks.
func (h *hooks) push(n notice) {
	h.mu.Lock()
	if h.cfg.Exec == "" || h.closed {
		h.mu.Unlock()
		return
	}
	if len(h.queue) >= hookQueue {
		h.mu.Unlock()
		h.failure.Add(1)
		h.log.Warn("notify hook queue full: event dropped", "event", n.Event, "time", jsonl.Stamp(n.Time))
		return
	}
	h.queue = append(h.queue, n)
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// close stops after the hook running now (the queue is dropped) and waits.
func (h *hooks) close() {
	h.mu.Lock()
	h.closed = true
	h.queue = nil
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	<-h.done
}

func (h *hooks) loop() {
	defer close(h.done)
	for range h.wake {
		for {
			h.mu.Lock()
			if h.closed {
				h.mu.Unlock()
				return
			}
			if len(h.queue) == 0 {
				h.mu.Unlock()
				break
			}
			n, cfg := h.queue[0], h.cfg
			h.queue = h.queue[1:]
			h.mu.Unlock()
			h.run(cfg, n)
		}
	}
}

// env returns the hook's environment variables for n.
func hookEnv(n notice) []string {
	env := []string{"NETPULSE_EVENT=" + n.Event, "NETPULSE_TIME=" + jsonl.Stamp(n.Time)}
	add := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	add("NETPULSE_GROUP", n.Group)
	add("NETPULSE_INTERFACE", n.Interface)
	add("NETPULSE_STATE", n.State)
	add("NETPULSE_FAILURE", n.Failure)
	add("NETPULSE_ADDRESSES", strings.Join(n.Addresses, ","))
	add("NETPULSE_FROM", n.From)
	add("NETPULSE_TO", n.To)
	add("NETPULSE_REASON", n.Reason)
	add("NETPULSE_PREFIX", n.Prefix)
	return env
}

// run runs the hook once; at its timeout the hook's whole process group is
// killed.
func (h *hooks) run(cfg notifyConfig, n notice) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.Exec)
	// The daemon's own NETPULSE_* variables are not passed on: the hook
	// sees only those of the event.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "NETPULSE_") })
	cmd.Env = append(env, hookEnv(n)...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	h.runs.Add(1)
	if err == nil {
		return
	}
	h.failure.Add(1)
	msg := strings.TrimSpace(string(out))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		h.log.Warn("notify hook killed at its timeout", "exec", cfg.Exec, "event", n.Event, "timeout", cfg.Timeout)
		return
	}
	h.log.Warn("notify hook failed", "exec", cfg.Exec, "event", n.Event, "err", err, "output", msg)
}
