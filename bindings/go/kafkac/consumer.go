package kafkac

/*
#include "glue.h"
*/
import "C"

import (
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// RebalanceCb is called with AssignedPartitions or RevokedPartitions when the group's
// assignment changes, inside Poll, ReadMessage or Close on the goroutine that calls
// them. The consumer applies the change itself once it returns, unless the callback
// takes it over with Assign (see there). It may call Assign, Unassign, Commit,
// CommitOffsets, StoreOffsets, Seek, Position and Committed; it must
// not call Close. A panic in it is recovered and returned by that Poll (as an event) or
// ReadMessage (as an error). Its returned error is ignored.
type RebalanceCb func(c *Consumer, ev Event) error

// Consumer reads records: as a member of a group (Subscribe) or from partitions the
// application assigns (Assign).
type Consumer struct {
	g       guard
	closeMu sync.Mutex
	c       *C.kc_consumer_t
	handle  cgo.Handle
	oauth   oauthRefresher

	mu          sync.Mutex
	rebalanceCb RebalanceCb
	queued      []Event
}

// NewConsumer creates a consumer. conf takes the C library's properties:
// "bootstrap.servers" (required), "group.id" (to subscribe or commit),
// "auto.offset.reset", "enable.auto.commit", "enable.partition.eof",
// "isolation.level", ..., and oauthbearer_token_refresh_cb (see OAuthBearerToken). Bad
// configuration fails with an Error (ErrUnknownConfig, ErrLocalInvalidConfig).
func NewConsumer(conf ConfigMap) (*Consumer, error) {
	if err := conf.checkGoKeys(); err != nil {
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
	c := &Consumer{oauth: oauth}
	c.handle = cgo.NewHandle(c)
	var eb C.kc_go_errbuf
	code := C.kc_go_conf_consumer_callbacks(cconf, C.uintptr_t(c.handle), &eb)
	if code == C.KC_OK && oauth.on {
		code = C.kc_go_conf_oauthbearer_cb(cconf, &eb)
	}
	if code == C.KC_OK {
		code = C.kc_go_consumer_new(cconf, &c.c, &eb)
	}
	if err := newError(code, &eb); err != nil {
		c.handle.Delete()
		return nil, err
	}
	return c, nil
}

// Subscribe subscribes to one topic (see SubscribeTopics).
func (c *Consumer) Subscribe(topic string, rebalanceCb RebalanceCb) error {
	return c.SubscribeTopics([]string{topic}, rebalanceCb)
}

// SubscribeTopics subscribes to topics (a name starting with "^" is a regular
// expression), replacing any earlier subscription or assignment. rebalanceCb may be
// nil. Needs group.id.
func (c *Consumer) SubscribeTopics(topics []string, rebalanceCb RebalanceCb) error {
	if !c.g.enter() {
		return errClosed("consumer")
	}
	defer c.g.exit()
	c.mu.Lock()
	c.rebalanceCb = rebalanceCb
	c.mu.Unlock()
	v := C.kc_go_strv_new(C.size_t(len(topics)))
	defer C.kc_go_strv_free(v, C.size_t(len(topics)))
	for i, t := range topics {
		C.kc_go_strv_set(v, C.size_t(i), C.CString(t))
	}
	var eb C.kc_go_errbuf
	return newError(C.kc_go_consumer_subscribe(c.c, v, C.size_t(len(topics)), &eb), &eb)
}

// Unsubscribe leaves the subscription (and the group).
func (c *Consumer) Unsubscribe() error {
	if !c.g.enter() {
		return errClosed("consumer")
	}
	defer c.g.exit()
	var eb C.kc_go_errbuf
	return newError(C.kc_go_consumer_unsubscribe(c.c, &eb), &eb)
}

// Assign consumes exactly these partitions, without group membership, each from its
// Offset (an offset, OffsetBeginning, OffsetEnd, or OffsetStored: the group's committed
// offset, else auto.offset.reset). Called from the rebalance callback it takes that
// rebalance over instead (kc_consumer_assign): for AssignedPartitions, the partitions
// listed start at their Offset and the ones left out stay assigned to the member but
// are not consumed (paused); for RevokedPartitions, Assign(nil) (or Unassign) is
// accepted and the consumer lets the partitions go itself.
func (c *Consumer) Assign(partitions []TopicPartition) error {
	return c.withParts(partitions, func(p *C.kc_topic_partition_t, n C.size_t, eb *C.kc_go_errbuf) C.kc_err_t {
		return C.kc_go_consumer_assign(c.c, p, n, eb)
	})
}

// withParts runs call, inside the consumer's guard, with partitions as a C array.
func (c *Consumer) withParts(partitions []TopicPartition, call func(*C.kc_topic_partition_t, C.size_t, *C.kc_go_errbuf) C.kc_err_t) error {
	if !c.g.enter() {
		return errClosed("consumer")
	}
	defer c.g.exit()
	cp := newCParts(partitions)
	defer cp.free()
	var eb C.kc_go_errbuf
	return newError(call(cp.ptr, cp.cnt, &eb), &eb)
}

// Unassign stops consuming the assigned partitions.
func (c *Consumer) Unassign() error { return c.Assign(nil) }

// Pause stops fetching and returning records of these partitions (their Offset is
// ignored) until Resume; records already fetched stay queued. Partitions not assigned
// are ignored, and a rebalance that assigns a partition again starts it unpaused (as
// kc_consumer_pause). An empty topic or a negative partition gives ErrInvalidArg.
func (c *Consumer) Pause(partitions []TopicPartition) error {
	return c.pause(partitions, false)
}

// Resume undoes Pause for these partitions, and starts the partitions an Assign from
// the rebalance callback left out.
func (c *Consumer) Resume(partitions []TopicPartition) error {
	return c.pause(partitions, true)
}

func (c *Consumer) pause(partitions []TopicPartition, resume bool) error {
	r := C.int(0)
	if resume {
		r = 1
	}
	return c.withParts(partitions, func(p *C.kc_topic_partition_t, n C.size_t, eb *C.kc_go_errbuf) C.kc_err_t {
		return C.kc_go_consumer_pause(c.c, p, n, r, eb)
	})
}

// Assignment returns the partitions assigned now, sorted by topic and partition.
func (c *Consumer) Assignment() ([]TopicPartition, error) {
	if !c.g.enter() {
		return nil, errClosed("consumer")
	}
	defer c.g.exit()
	var parts *C.kc_topic_partition_t
	var cnt C.size_t
	var eb C.kc_go_errbuf
	if err := newError(C.kc_go_consumer_assignment(c.c, &parts, &cnt, &eb), &eb); err != nil {
		return nil, err
	}
	defer C.kc_topic_partitions_free(parts, cnt)
	return partsFromC(parts, cnt), nil
}

func (c *Consumer) push(ev Event) {
	c.mu.Lock()
	c.queued = append(c.queued, ev)
	c.mu.Unlock()
}

func (c *Consumer) pop() Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queued) == 0 {
		return nil
	}
	ev := c.queued[0]
	c.queued[0] = nil
	c.queued = c.queued[1:]
	return ev
}

// Poll waits up to timeoutMs (0: don't wait; negative: indefinitely) for the next
// event, running the rebalance callback meanwhile, and returns it: a *Message, an
// Error (a partition's or the group's error; IsFatal says whether the consumer can go
// on), PartitionEOF, OffsetsCommitted (the result of an automatic or asynchronous
// commit), OAuthBearerTokenRefresh (answer it with SetOAuthBearerToken), a
// *CallbackPanicError (the rebalance or the token refresh callback panicked), or nil
// when nothing came in time. A closed consumer returns an Error with code ErrDestroy.
func (c *Consumer) Poll(timeoutMs int) Event {
	if ev := c.pop(); ev != nil {
		return ev
	}
	if !c.g.enter() {
		return errClosed("consumer")
	}
	defer c.g.exit()
	var code C.kc_err_t
	var eb C.kc_go_errbuf
	m := C.kc_go_consumer_poll(c.c, C.int32_t(clampMs(timeoutMs)), &code, &eb)
	if m != nil {
		c.push(messageFromC(m))
		C.kc_message_free(m)
	} else if code != C.KC_OK {
		c.push(newError(code, &eb).(Error))
	}
	return c.pop()
}

// messageFromC copies a C message (a record or an event) into Go memory.
func messageFromC(m *C.kc_message_t) Event {
	tp := TopicPartition{Partition: int32(C.kc_message_partition(m)), Offset: Offset(C.kc_message_offset(m))}
	if t := C.kc_message_topic(m); t != nil {
		tp.Topic = C.GoString(t)
	}
	if code := C.kc_message_err(m); code != C.KC_OK {
		if code == C.KC_ERR__PARTITION_EOF {
			return PartitionEOF(tp)
		}
		msg := ""
		if s := C.kc_message_errstr(m); s != nil {
			msg = C.GoString(s)
		}
		return NewError(ErrorCode(code), msg, C.kc_message_is_fatal(m) != 0)
	}
	if e := C.kc_message_leader_epoch(m); e >= 0 {
		epoch := int32(e)
		tp.LeaderEpoch = &epoch
	}
	out := &Message{TopicPartition: tp}
	var tstype C.int32_t
	out.Timestamp = goTime(int64(C.kc_message_timestamp(m, &tstype)))
	out.TimestampType = TimestampType(tstype)
	var n C.size_t
	k := C.kc_message_key(m, &n)
	out.Key = goBytes(k, n)
	v := C.kc_message_value(m, &n)
	out.Value = goBytes(v, n)
	if cnt := int(C.kc_message_header_cnt(m)); cnt > 0 {
		out.Headers = make([]Header, cnt)
		for i := range out.Headers {
			var h C.kc_go_header
			if C.kc_go_message_header(m, C.size_t(i), &h) != C.KC_OK {
				continue
			}
			out.Headers[i] = Header{
				Key:   string(goBytes(unsafe.Pointer(h.key), h.key_len)),
				Value: goBytes(h.value, h.value_len),
			}
		}
	}
	return out
}

// ReadMessage polls until a message comes, skipping the other events, and returns it;
// or returns an Error: a consumer error event, or ErrTimedOut when nothing came within
// timeout (negative: wait indefinitely); or a *CallbackPanicError.
func (c *Consumer) ReadMessage(timeout time.Duration) (*Message, error) {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		wait := -1
		if timeout >= 0 {
			left := time.Until(deadline)
			if left < 0 {
				left = 0
			}
			wait = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		switch ev := c.Poll(wait).(type) {
		case *Message:
			return ev, nil
		case Error:
			return nil, ev
		case *CallbackPanicError:
			return nil, ev
		}
		if timeout >= 0 && !time.Now().Before(deadline) {
			return nil, NewError(ErrTimedOut, "no message within "+timeout.String(), false)
		}
	}
}

// Commit commits, synchronously, the offsets of what the polls handed out so far
// (with enable.auto.offset.store=false: what was stored with StoreOffsets).
func (c *Consumer) Commit() error { return c.commit(nil, false) }

// CommitMessage commits, synchronously, the offset after m.
func (c *Consumer) CommitMessage(m *Message) error {
	tp := m.TopicPartition
	tp.Offset++
	return c.commit([]TopicPartition{tp}, false)
}

// CommitOffsets commits, synchronously, these offsets (each the next record to
// consume).
func (c *Consumer) CommitOffsets(offsets []TopicPartition) error {
	if len(offsets) == 0 {
		return nil
	}
	return c.commit(offsets, false)
}

// CommitAsync commits what Commit would without waiting: the result comes back from a
// later Poll as OffsetsCommitted.
func (c *Consumer) CommitAsync() error { return c.commit(nil, true) }

func (c *Consumer) commit(offsets []TopicPartition, async bool) error {
	if !c.g.enter() {
		return errClosed("consumer")
	}
	defer c.g.exit()
	var cp cParts
	if offsets != nil {
		cp = newCParts(offsets)
		defer cp.free()
	}
	a := C.int(0)
	if async {
		a = 1
	}
	var eb C.kc_go_errbuf
	return newError(C.kc_go_consumer_commit(c.c, cp.ptr, cp.cnt, a, &eb), &eb)
}

// StoreOffsets stores offsets (each the next record to consume, of an assigned
// partition) for the next commit, for enable.auto.offset.store=false.
func (c *Consumer) StoreOffsets(offsets []TopicPartition) error {
	if !c.g.enter() {
		return errClosed("consumer")
	}
	defer c.g.exit()
	for _, o := range offsets {
		t := C.CString(o.Topic)
		var eb C.kc_go_errbuf
		err := newError(C.kc_go_consumer_store_offset(c.c, t, C.int32_t(o.Partition), C.int64_t(o.Offset), &eb), &eb)
		C.free(unsafe.Pointer(t))
		if err != nil {
			return err
		}
	}
	return nil
}

// Committed asks the group's coordinator for the committed offsets of partitions
// (OffsetInvalid: nothing committed), waiting up to timeoutMs.
func (c *Consumer) Committed(partitions []TopicPartition, timeoutMs int) ([]TopicPartition, error) {
	if !c.g.enter() {
		return nil, errClosed("consumer")
	}
	defer c.g.exit()
	cp := newCParts(partitions)
	defer cp.free()
	var eb C.kc_go_errbuf
	if err := newError(C.kc_go_consumer_committed(c.c, cp.ptr, cp.cnt, C.int32_t(clampMs(timeoutMs)), &eb), &eb); err != nil {
		return nil, err
	}
	return partsFromC(cp.ptr, cp.cnt), nil
}

// Position returns the offset of the next record a poll hands out for each partition
// (OffsetInvalid when not known yet; Error ErrUnknownPartition when not assigned).
func (c *Consumer) Position(partitions []TopicPartition) ([]TopicPartition, error) {
	if !c.g.enter() {
		return nil, errClosed("consumer")
	}
	defer c.g.exit()
	cp := newCParts(partitions)
	defer cp.free()
	var eb C.kc_go_errbuf
	if err := newError(C.kc_go_consumer_position(c.c, cp.ptr, cp.cnt, &eb), &eb); err != nil {
		return nil, err
	}
	return partsFromC(cp.ptr, cp.cnt), nil
}

// Seek moves an assigned partition's position to partition.Offset (an offset,
// OffsetBeginning or OffsetEnd).
func (c *Consumer) Seek(partition TopicPartition) error {
	if !c.g.enter() {
		return errClosed("consumer")
	}
	defer c.g.exit()
	t := C.CString(partition.Topic)
	defer C.free(unsafe.Pointer(t))
	var eb C.kc_go_errbuf
	return newError(C.kc_go_consumer_seek(c.c, t, C.int32_t(partition.Partition), C.int64_t(partition.Offset), &eb), &eb)
}

// closeTimeoutMs bounds Close's leaving of the group, as the C library bounds the close
// done by kc_consumer_free.
const closeTimeoutMs = 10000

// Close leaves the group cleanly (the rebalance callback runs with RevokedPartitions;
// with enable.auto.commit, what was consumed is committed), within 10 s even with the
// cluster unreachable, then frees the consumer. Calls made after it fail with
// ErrDestroy; closing again does nothing and returns nil. It returns a
// *CallbackPanicError if the rebalance callback panicked during the close. It must not
// be called from the rebalance callback.
func (c *Consumer) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.g.isClosed() {
		return nil
	}
	var err error
	if c.g.enter() {
		var eb C.kc_go_errbuf
		err = newError(C.kc_go_consumer_close(c.c, closeTimeoutMs, &eb), &eb)
		c.g.exit()
	}
	c.g.shut()
	C.kc_consumer_free(c.c)
	c.c = nil
	c.handle.Delete()
	c.mu.Lock()
	queued := c.queued
	c.queued = nil
	c.mu.Unlock()
	for _, ev := range queued {
		if p, ok := ev.(*CallbackPanicError); ok {
			return p
		}
	}
	return err
}

// rebalance runs the application's rebalance callback (inside a poll or the close).
func (c *Consumer) rebalance(kind C.kc_err_t, parts *C.kc_topic_partition_t, cnt C.size_t) {
	c.mu.Lock()
	cb := c.rebalanceCb
	c.mu.Unlock()
	if cb == nil {
		return
	}
	tps := partsFromC(parts, cnt)
	var ev Event
	switch kind {
	case C.KC_ERR__ASSIGN_PARTITIONS:
		ev = AssignedPartitions{Partitions: tps}
	case C.KC_ERR__ASSIGNMENT_LOST:
		ev = RevokedPartitions{Partitions: tps, Lost: true}
	default:
		ev = RevokedPartitions{Partitions: tps}
	}
	if perr := callSafely("rebalance", func() { _ = cb(c, ev) }); perr != nil {
		c.push(perr)
	}
}

// committed queues the result of an asynchronous or automatic commit for Poll.
func (c *Consumer) committed(code C.kc_err_t, parts *C.kc_topic_partition_t, cnt C.size_t) {
	ev := OffsetsCommitted{Offsets: partsFromC(parts, cnt)}
	if code != C.KC_OK {
		ev.Error = NewError(ErrorCode(code), "", false)
	}
	c.push(ev)
}
