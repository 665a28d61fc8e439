package kafkac

/*
#include "glue.h"
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"
)

// Producer sends messages asynchronously. Delivery reports are served by Poll, Flush
// and Close, on the goroutine that calls them: each goes to the message's delivery
// channel or callback, else (with go.delivery.reports, the default) to Events().
type Producer struct {
	g       guard
	closeMu sync.Mutex
	p       *C.kc_producer_t
	handle  cgo.Handle
	events  *eventQueue
	reports bool
	oauth   oauthRefresher

	mu      sync.Mutex
	nextID  uintptr
	pending map[uintptr]*pendingMessage
	panics  []*CallbackPanicError
	topics  map[string]*C.char
}

type pendingMessage struct {
	msg *Message
	ch  chan Event
	fn  func(*Message)
}

// NewProducer creates a producer. conf takes the C library's properties
// ("bootstrap.servers" is required; "linger.ms", "acks", "enable.idempotence", ...) and
// these of the Go package:
//   - go.delivery.reports (bool, default true): send the delivery reports of messages
//     produced without a channel or callback to Events(); false discards them.
//   - go.events.channel.size (int, default 10000): the buffer of the Events() channel.
//     Events never wait for room in it (they queue in memory), so Poll and Flush never
//     block on an unread channel.
//   - oauthbearer_token_refresh_cb (an OAuthBearerTokenRefreshCb): gets the OAUTHBEARER
//     tokens; without it they are asked for with OAuthBearerTokenRefresh events (see
//     OAuthBearerToken).
//
// With transactional.id the producer is transactional: see InitTransactions.
//
// Bad configuration fails with an Error: ErrUnknownConfig for a property that does not
// exist, ErrLocalInvalidConfig for a value a property does not take or a missing
// bootstrap.servers.
func NewProducer(conf ConfigMap) (*Producer, error) {
	if err := conf.checkGoKeys("go.delivery.reports", "go.events.channel.size"); err != nil {
		return nil, err
	}
	reports, err := conf.goBool("go.delivery.reports", true)
	if err != nil {
		return nil, err
	}
	size, err := conf.goInt("go.events.channel.size", 10000)
	if err != nil {
		return nil, err
	}
	oauth, err := conf.oauthConf()
	if err != nil {
		return nil, err
	}
	cconf, err := conf.newConf()
	if err != nil {
		return nil, err
	}
	defer C.kc_conf_free(cconf)
	p := &Producer{
		reports: reports,
		oauth:   oauth,
		pending: map[uintptr]*pendingMessage{},
		topics:  map[string]*C.char{},
		events:  newEventQueue(size),
	}
	p.handle = cgo.NewHandle(p)
	var eb C.kc_go_errbuf
	code := C.kc_go_conf_producer_callbacks(cconf, C.uintptr_t(p.handle), &eb)
	if code == C.KC_OK && oauth.on {
		code = C.kc_go_conf_oauthbearer_cb(cconf, &eb)
	}
	if code == C.KC_OK {
		code = C.kc_go_producer_new(cconf, &p.p, &eb)
	}
	if err := newError(code, &eb); err != nil {
		p.handle.Delete()
		p.events.stop()
		return nil, err
	}
	return p, nil
}

// Events returns the channel of delivery reports (*Message) of messages produced
// without a channel or callback, of the producer's errors (an Error; IsFatal tells
// whether the producer can go on), and of OAUTHBEARER token requests
// (OAuthBearerTokenRefresh) and their callback's failures (an Error, a
// *CallbackPanicError). It is closed by Close.
func (p *Producer) Events() <-chan Event { return p.events.out }

func (p *Producer) cTopic(topic string) *C.char {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.topics[topic]; ok {
		return t
	}
	t := C.CString(topic)
	p.topics[topic] = t
	return t
}

func errClosed(what string) Error {
	return NewError(ErrDestroy, what+" is closed", false)
}

// Produce queues msg for sending to msg.TopicPartition (Partition: a partition or
// PartitionAny) and returns at once. Its delivery report, msg itself with
// TopicPartition.Offset (or TopicPartition.Error) and Timestamp filled in, goes to
// deliveryChan when it is not nil, else to Events(). The report is served by a later
// Poll, Flush or Close; sending on deliveryChan blocks that call until the channel
// takes it.
//
// A failure to queue (nothing was queued, no report will come) is an Error:
// ErrQueueFull (poll, then produce again), ErrMessageTooLarge, ErrUnknownPartition,
// ErrFatal, ErrDestroy (closed), ErrInvalidArg (no topic, or a topic with a NUL byte).
func (p *Producer) Produce(msg *Message, deliveryChan chan Event) error {
	return p.produce(msg, &pendingMessage{msg: msg, ch: deliveryChan})
}

// ProduceFunc is Produce with a delivery callback: onDelivery(msg) runs inside the
// Poll, Flush or Close that serves the report, on that goroutine. A panic in it is
// recovered and returned by that call as a *CallbackPanicError.
func (p *Producer) ProduceFunc(msg *Message, onDelivery func(*Message)) error {
	return p.produce(msg, &pendingMessage{msg: msg, fn: onDelivery})
}

func cBuf(b []byte) (unsafe.Pointer, C.size_t, C.int) {
	if b == nil {
		return nil, 0, 1
	}
	return unsafe.Pointer(unsafe.SliceData(b)), C.size_t(len(b)), 0
}

func (p *Producer) produce(msg *Message, pm *pendingMessage) error {
	if msg == nil {
		return NewError(ErrInvalidArg, "nil message", false)
	}
	if !p.g.enter() {
		return errClosed("producer")
	}
	defer p.g.exit()
	if strings.IndexByte(msg.TopicPartition.Topic, 0) >= 0 {
		return NewError(ErrInvalidArg, fmt.Sprintf("invalid topic name %q: it holds a NUL byte", msg.TopicPartition.Topic), false)
	}
	topic := p.cTopic(msg.TopicPartition.Topic)

	var hdata []byte
	var hlens []C.size_t
	for _, h := range msg.Headers {
		hdata = append(hdata, h.Key...)
		hdata = append(hdata, h.Value...)
		null := C.size_t(0)
		if h.Value == nil {
			null = 1
		}
		hlens = append(hlens, C.size_t(len(h.Key)), C.size_t(len(h.Value)), null)
	}
	var hdataPtr unsafe.Pointer
	if len(hdata) > 0 {
		hdataPtr = unsafe.Pointer(&hdata[0])
	}
	var hlensPtr *C.size_t
	if len(hlens) > 0 {
		hlensPtr = &hlens[0]
	}
	var ts int64
	if !msg.Timestamp.IsZero() {
		ts = msg.Timestamp.UnixMilli()
	}

	p.mu.Lock()
	p.nextID++
	id := p.nextID
	p.pending[id] = pm
	p.mu.Unlock()

	kp, kl, kn := cBuf(msg.Key)
	vp, vl, vn := cBuf(msg.Value)
	var eb C.kc_go_errbuf
	code := C.kc_go_producer_send(p.p, topic, C.int32_t(msg.TopicPartition.Partition),
		kp, kl, kn, vp, vl, vn, hdataPtr, hlensPtr, C.size_t(len(msg.Headers)),
		C.int64_t(ts), C.uintptr_t(id), &eb)
	if err := newError(code, &eb); err != nil {
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
		return err
	}
	return nil
}

// takePanic returns the first panic recovered from a callback since the last call, if
// any (later ones in the same call are dropped).
func (p *Producer) takePanic() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.panics) == 0 {
		return nil
	}
	e := p.panics[0]
	p.panics = nil
	return e
}

// Poll serves the delivery reports waiting, waiting up to timeoutMs for the first (0:
// don't wait; negative: indefinitely). It returns how many were served, and a
// *CallbackPanicError if a delivery callback panicked.
func (p *Producer) Poll(timeoutMs int) (int, error) {
	if !p.g.enter() {
		return 0, errClosed("producer")
	}
	defer p.g.exit()
	var code C.kc_err_t
	var eb C.kc_go_errbuf
	n := C.kc_go_producer_poll(p.p, C.int32_t(clampMs(timeoutMs)), &code, &eb)
	if err := p.takePanic(); err != nil {
		return int(n), err
	}
	if n < 0 {
		return 0, newError(code, &eb)
	}
	return int(n), nil
}

// Flush sends what is queued and serves delivery reports until every message produced
// before the call has its report, or timeoutMs passes (negative: indefinitely). It
// returns nil when everything was reported; an Error with code ErrTimedOut when
// messages remain (they stay queued: see Len); a *CallbackPanicError if a delivery
// callback panicked (the flush went on to the end).
func (p *Producer) Flush(timeoutMs int) error {
	if !p.g.enter() {
		return errClosed("producer")
	}
	defer p.g.exit()
	var eb C.kc_go_errbuf
	code := C.kc_go_producer_flush(p.p, C.int32_t(clampMs(timeoutMs)), &eb)
	if err := p.takePanic(); err != nil {
		return err
	}
	return newError(code, &eb)
}

// Len returns the number of messages not yet reported (queued, in flight, or with a
// report waiting for Poll).
func (p *Producer) Len() int {
	if !p.g.enter() {
		return 0
	}
	defer p.g.exit()
	return int(C.kc_producer_outq_len(p.p))
}

// FatalError returns the producer's fatal error (IsFatal true), or nil.
func (p *Producer) FatalError() error {
	if !p.g.enter() {
		return nil
	}
	defer p.g.exit()
	var eb C.kc_go_errbuf
	code := C.kc_go_producer_fatal_error(p.p, &eb)
	if code == C.KC_OK {
		return nil
	}
	return NewError(ErrorCode(code), C.GoString(&eb.msg[0]), true)
}

// Close gives up on the messages not delivered yet (call Flush first to deliver them):
// each gets its report, with ErrPurgeQueue (never sent) or ErrPurgeInflight (sent, no
// answer yet: the broker may still write it), served on this goroutine with the
// reports that were ready. So every message Produce accepted gets exactly one report.
// Then it frees the producer and closes Events(). Calls made after it fail with
// ErrDestroy; closing again does nothing and returns nil. It returns a
// *CallbackPanicError if a delivery callback it ran panicked. It must not be called
// from a delivery callback.
func (p *Producer) Close() error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.g.isClosed() {
		return nil
	}
	if p.g.enter() {
		// Every message still waiting gets its report now (ErrPurgeQueue or
		// ErrPurgeInflight), served by the close on this goroutine.
		C.kc_producer_purge(p.p, C.KC_PURGE_F_QUEUE|C.KC_PURGE_F_INFLIGHT)
		var eb C.kc_go_errbuf
		C.kc_go_producer_close(p.p, 0, nil, &eb)
		p.g.exit()
	}
	p.g.shut()
	C.kc_producer_free(p.p)
	p.p = nil
	p.handle.Delete()
	p.events.stop()
	p.mu.Lock()
	for _, t := range p.topics {
		C.free(unsafe.Pointer(t))
	}
	p.topics = nil
	p.pending = nil
	p.mu.Unlock()
	return p.takePanic()
}

// deliver handles one delivery report (inside Poll, Flush or Close).
func (p *Producer) deliver(r *C.kc_delivery_report_t) {
	id := uintptr(r.opaque)
	p.mu.Lock()
	pm := p.pending[id]
	delete(p.pending, id)
	p.mu.Unlock()
	if pm == nil {
		return
	}
	m := pm.msg
	m.TopicPartition.Topic = C.GoString(r.topic)
	m.TopicPartition.Partition = int32(r.partition)
	m.TopicPartition.Offset = Offset(r.offset)
	m.TopicPartition.Error = nil
	if r.err != C.KC_OK {
		var msg string
		if r.errstr != nil {
			msg = C.GoString(r.errstr)
		}
		m.TopicPartition.Error = NewError(ErrorCode(r.err), msg, false)
	}
	m.Timestamp = goTime(int64(r.timestamp))
	switch {
	case pm.fn != nil:
		if perr := callSafely("delivery", func() { pm.fn(m) }); perr != nil {
			p.addPanic(perr)
		}
	case pm.ch != nil:
		// A send on a channel the application closed panics: keep it out of C too.
		if perr := callSafely("delivery channel", func() { pm.ch <- m }); perr != nil {
			p.addPanic(perr)
		}
	case p.reports:
		p.events.push(m)
	}
}

func (p *Producer) addPanic(e *CallbackPanicError) {
	p.mu.Lock()
	p.panics = append(p.panics, e)
	p.mu.Unlock()
}

// clampMs turns a Go timeout in milliseconds into the C library's int32 (negative:
// indefinitely).
func clampMs(ms int) int32 {
	if ms < 0 {
		return -1
	}
	if ms > 1<<31-1 {
		return 1<<31 - 1
	}
	return int32(ms)
}
