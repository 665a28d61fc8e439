package kafkac

import "sync"

// guard counts the calls in progress on a C handle, so that Close frees the handle only
// once none is left and no new one can start (a call that starts after the C _free is
// a use after free). Unlike a sync.RWMutex it lets a callback, running inside a call,
// make further calls while a Close waits.
type guard struct {
	mu     sync.Mutex
	cond   *sync.Cond
	active int
	closed bool
}

// enter registers a call; false once the handle is closed (or closing).
func (g *guard) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.active++
	return true
}

func (g *guard) exit() {
	g.mu.Lock()
	g.active--
	if g.active == 0 && g.cond != nil {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// shut marks the handle closed and waits for the calls in progress. It returns false
// if the handle was closed already.
func (g *guard) shut() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.closed = true
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	for g.active > 0 {
		g.cond.Wait()
	}
	return true
}

func (g *guard) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}
