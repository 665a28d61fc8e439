package kafkac

import "sync"

// eventQueue hands events to an application through a channel without ever blocking
// the producer of the events (a callback running inside a C call): events wait in an
// unbounded slice until the channel takes them.
type eventQueue struct {
	mu    sync.Mutex
	items []Event
	wake  chan struct{}
	done  chan struct{}
	out   chan Event
	once  sync.Once
	ended chan struct{}
}

func newEventQueue(size int) *eventQueue {
	q := &eventQueue{
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		out:   make(chan Event, size),
		ended: make(chan struct{}),
	}
	go q.run()
	return q
}

func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) run() {
	defer close(q.ended)
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-q.done:
				q.finish(nil)
				return
			}
		}
		ev := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		q.mu.Unlock()
		select {
		case q.out <- ev:
		case <-q.done:
			q.finish(ev)
			return
		}
	}
}

// finish puts what the channel's buffer can hold into it (it stays readable after the
// close), drops the rest and closes the channel.
func (q *eventQueue) finish(first Event) {
	q.mu.Lock()
	rest := q.items
	q.items = nil
	q.mu.Unlock()
	if first != nil {
		rest = append([]Event{first}, rest...)
	}
	for _, e := range rest {
		select {
		case q.out <- e:
		default:
		}
	}
	close(q.out)
}

// stop ends the queue: the events that fit in the channel's buffer stay readable, then
// the channel is closed.
func (q *eventQueue) stop() {
	q.once.Do(func() { close(q.done) })
	<-q.ended
}
