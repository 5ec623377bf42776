//go:build linux

package linkmon

import (
	"errors"
	"os"
	"sync"
	"time"

	"github.com/mdlayher/ethtool"
)

// ethWorker reads ethtool detail off the event path.
type ethWorker struct {
	k      *kernel
	client *ethtool.Client
	mu     sync.Mutex
	set    map[int]bool
	kick   chan struct{}
}

func newEthWorker(k *kernel) *ethWorker {
	w := &ethWorker{k: k, set: make(map[int]bool), kick: make(chan struct{}, 1)}
	err := inNetNS(k.netns, func() error {
		var err error
		w.client, err = ethtool.New()
		return err
	})
	if err != nil {
		k.log.Warn("linkmon: ethtool unavailable; detail stays unknown", "err", err)
	}
	return w
}

func (w *ethWorker) want(index int) {
	w.mu.Lock()
	w.set[index] = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *ethWorker) run() {
	defer w.k.wg.Done()
	var todo []int
	for {
		select {
		case <-w.k.done:
			return
		case <-w.kick:
		}
		if w.client == nil {
			continue
		}
		w.mu.Lock()
		todo = todo[:0]
		for i := range w.set {
			todo = append(todo, i)
		}
		clear(w.set)
		w.mu.Unlock()
		for _, i := range todo {
			name, ok := w.k.c.name(i)
			if !ok {
				continue
			}
			d := w.detail(i)
			w.k.c.setDetail(i, name, d, time.Now())
		}
	}
}

func (w *ethWorker) detail(index int) Detail {
	d := Detail{Read: true}
	ifi := ethtool.Interface{Index: index}
	lm, err := w.client.LinkMode(ifi)
	switch {
	case err == nil:
		d.Supported = true
		if s := lm.SpeedMegabits; s > 0 && uint32(s) != 0xFFFFFFFF {
			d.SpeedMbps = s
		}
		switch lm.Duplex {
		case ethtool.Half:
			d.Duplex = DuplexHalf
		case ethtool.Full:
			d.Duplex = DuplexFull
		}
		switch lm.Autoneg {
		case ethtool.AutonegOn:
			d.Autoneg = TristateYes
		case ethtool.AutonegOff:
			d.Autoneg = TristateNo
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		w.k.c.count(func(c *Counters) { c.EthtoolErrors++ })
	}
	ls, err := w.client.LinkState(ifi)
	switch {
	case err == nil:
		d.LinkDetected = TristateNo
		if ls.Link {
			d.LinkDetected = TristateYes
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		w.k.c.count(func(c *Counters) { c.EthtoolErrors++ })
	}
	return d
}

func (w *ethWorker) close() {
	if w.client != nil {
		w.client.Close()
		w.client = nil
	}
}
