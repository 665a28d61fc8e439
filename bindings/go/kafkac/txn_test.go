package kafkac

// Transactions against the broker in KAFKAC_BOOTSTRAP: commit, abort, fencing, the
// error classes, and the calls made in the wrong state.

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func txnCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

func txnID(t *testing.T, what string) string {
	return fmt.Sprintf("go-txn-%s-%s-%d", t.Name(), what, time.Now().UnixNano())
}

// newTxnProducer makes a transactional producer and initialises it.
func newTxnProducer(t *testing.T, id string) *Producer {
	t.Helper()
	p := newProducer(t, ConfigMap{"transactional.id": id})
	if err := p.InitTransactions(txnCtx(t)); err != nil {
		t.Fatalf("InitTransactions: %v", err)
	}
	return p
}

// produceValues produces one record per value to partition 0 of topic, with a delivery
// channel, and waits for the reports (Flush).
func produceValues(t *testing.T, p *Producer, topic string, values ...string) {
	t.Helper()
	ch := make(chan Event, len(values))
	for _, v := range values {
		m := &Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte(v)}
		if err := p.Produce(m, ch); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	if err := p.Flush(int(callTimeout / time.Millisecond)); err != nil {
		t.Fatalf("flush: %v", err)
	}
	for range values {
		m := (<-ch).(*Message)
		if m.TopicPartition.Error != nil {
			t.Fatalf("delivery of %s: %v", m.Value, m.TopicPartition.Error)
		}
	}
}

// readAll reads partition 0 of topic from the beginning with isolation.level until
// `last` comes (a value produced after the records of interest, outside any
// transaction), and returns the values and offsets before it.
func readAll(t *testing.T, topic, isolation, last string) ([]string, []Offset) {
	t.Helper()
	c := newConsumer(t, ConfigMap{"isolation.level": isolation})
	if err := c.Assign([]TopicPartition{{Topic: topic, Partition: 0, Offset: OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	var values []string
	var offsets []Offset
	for {
		m, err := c.ReadMessage(callTimeout)
		if err != nil {
			t.Fatalf("read %s (%s) after %v: %v", topic, isolation, values, err)
		}
		if string(m.Value) == last {
			return values, offsets
		}
		values = append(values, string(m.Value))
		offsets = append(offsets, m.TopicPartition.Offset)
	}
}

// checkClass checks a transactional call's error: its code and its class (one of
// "retriable", "abortable", "fatal", or "" for none).
func checkClass(t *testing.T, err error, code ErrorCode, class string, words ...string) Error {
	t.Helper()
	e, ok := err.(Error)
	if !ok {
		t.Fatalf("got %T %v, want an Error %v", err, err, code)
	}
	if e.Code() != code {
		t.Errorf("code %v (%s), want %v", e.Code(), e, code)
	}
	got := map[string]bool{"retriable": e.IsRetriable(), "abortable": e.TxnRequiresAbort(), "fatal": e.IsFatal()}
	for k, v := range got {
		if v != (k == class) {
			t.Errorf("%s: %s is %v, want class %q", e, k, v, class)
		}
	}
	if e.Error() == "" {
		t.Errorf("no message for %v", code)
	}
	for _, w := range words {
		if !strings.Contains(e.Error(), w) {
			t.Errorf("%q not in the message %q", w, e.Error())
		}
	}
	return e
}

// A committed transaction's records are read back exactly by a read_committed consumer,
// and its offsets become the group's committed offsets with the commit, not before.
func TestTransactionCommitsRecordsAndOffsets(t *testing.T) {
	input := newTopic(t, 1)
	output := newTopic(t, 1)
	group := input + "-copier"
	plain := newProducer(t, nil)
	produceValues(t, plain, input, "in-0", "in-1", "in-2", "in-3")

	// Consume the input as a member of the group, read_committed.
	c := newConsumer(t, ConfigMap{"group.id": group, "enable.auto.commit": false, "isolation.level": "read_committed"})
	if err := c.Assign([]TopicPartition{{Topic: input, Partition: 0, Offset: OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	var got []*Message
	for len(got) < 4 {
		m, err := c.ReadMessage(callTimeout)
		if err != nil {
			t.Fatalf("read the input: %v", err)
		}
		got = append(got, m)
	}

	p := newTxnProducer(t, txnID(t, "copier"))
	if err := p.BeginTransaction(); err != nil {
		t.Fatalf("BeginTransaction: %v", err)
	}
	var want []string
	for _, m := range got {
		want = append(want, "copy-of-"+string(m.Value))
		if err := p.Produce(&Message{TopicPartition: TopicPartition{Topic: output, Partition: 0}, Value: []byte(want[len(want)-1])}, nil); err != nil {
			t.Fatal(err)
		}
	}
	md, err := c.GetConsumerGroupMetadata()
	if err != nil {
		t.Fatalf("GetConsumerGroupMetadata: %v", err)
	}
	next := got[len(got)-1].TopicPartition.Offset + 1
	// Nothing committed before the transaction.
	tp := []TopicPartition{{Topic: input, Partition: 0}}
	before, err := c.Committed(tp, int(callTimeout/time.Millisecond))
	if err != nil {
		t.Fatalf("Committed before the transaction's offsets: %v", err)
	}
	if before[0].Offset != OffsetInvalid {
		t.Fatalf("committed offset before the transaction: %v, want none", before[0].Offset)
	}
	if err := p.SendOffsetsToTransaction(txnCtx(t), []TopicPartition{{Topic: input, Partition: 0, Offset: next}}, md); err != nil {
		t.Fatalf("SendOffsetsToTransaction: %v", err)
	}
	// Not committed yet: the group's offset is pending (Committed asks for stable
	// offsets, so it waits for the transaction's end, here past its 2 s).
	if _, err := c.Committed(tp, 2000); err == nil || err.(Error).Code() != ErrTimedOut {
		t.Fatalf("Committed while the transaction is open: %v, want ErrTimedOut (pending)", err)
	}
	if err := p.CommitTransaction(txnCtx(t)); err != nil {
		t.Fatalf("CommitTransaction: %v", err)
	}
	after, err := c.Committed([]TopicPartition{{Topic: input, Partition: 0}}, int(callTimeout/time.Millisecond))
	if err != nil {
		t.Fatalf("Committed after the commit: %v", err)
	}
	if after[0].Offset != next || next != 4 {
		t.Fatalf("committed offset after the commit: %v, want %v (4)", after[0].Offset, next)
	}

	produceValues(t, plain, output, "end")
	values, _ := readAll(t, output, "read_committed", "end")
	if !reflect.DeepEqual(values, want) {
		t.Fatalf("read_committed read %q, want %q", values, want)
	}
}

// An aborted transaction's records are never seen by a read_committed consumer (their
// offsets are skipped), and are by a read_uncommitted one.
func TestTransactionAbortIsInvisibleToReadCommitted(t *testing.T) {
	topic := newTopic(t, 1)
	p := newTxnProducer(t, txnID(t, "abort"))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceValues(t, p, topic, "aborted-0", "aborted-1", "aborted-2")
	if err := p.AbortTransaction(txnCtx(t)); err != nil {
		t.Fatalf("AbortTransaction: %v", err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceValues(t, p, topic, "kept-0", "kept-1")
	if err := p.CommitTransaction(txnCtx(t)); err != nil {
		t.Fatalf("CommitTransaction: %v", err)
	}
	produceValues(t, newProducer(t, nil), topic, "end")

	values, offsets := readAll(t, topic, "read_committed", "end")
	if want := []string{"kept-0", "kept-1"}; !reflect.DeepEqual(values, want) {
		t.Fatalf("read_committed read %q, want %q", values, want)
	}
	// Offsets 0-2: the aborted records, 3: the abort marker.
	if want := []Offset{4, 5}; !reflect.DeepEqual(offsets, want) {
		t.Fatalf("read_committed offsets %v, want %v", offsets, want)
	}
	values, offsets = readAll(t, topic, "read_uncommitted", "end")
	if want := []string{"aborted-0", "aborted-1", "aborted-2", "kept-0", "kept-1"}; !reflect.DeepEqual(values, want) {
		t.Fatalf("read_uncommitted read %q, want %q", values, want)
	}
	if want := []Offset{0, 1, 2, 4, 5}; !reflect.DeepEqual(offsets, want) {
		t.Fatalf("read_uncommitted offsets %v, want %v", offsets, want)
	}
}

// A second producer with the same transactional.id fences the first: the first one's
// next transactional call fails with a fatal error, and so does every later one.
func TestTransactionFencedProducerGetsAFatalError(t *testing.T) {
	topic := newTopic(t, 1)
	id := txnID(t, "fenced")
	p1 := newTxnProducer(t, id)
	if err := p1.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceValues(t, p1, topic, "p1-committed")
	if err := p1.CommitTransaction(txnCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p1.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceValues(t, p1, topic, "p1-open")

	p2 := newTxnProducer(t, id)
	_ = p1.Produce(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte("p1-after")}, nil)
	err := p1.CommitTransaction(txnCtx(t))
	if err == nil {
		t.Fatal("the fenced producer's commit succeeded")
	}
	e, _ := err.(Error)
	if c := e.Code(); c != ErrProducerFenced && c != ErrInvalidProducerEpoch && c != ErrFatal {
		t.Errorf("the fenced producer's commit: code %v (%s), want PRODUCER_FENCED, INVALID_PRODUCER_EPOCH or _FATAL", c, e)
	}
	checkClass(t, err, e.Code(), "fatal")
	t.Logf("fenced: %s: %s", e.Name(), e)
	// Every later call is fatal too.
	if err := p1.AbortTransaction(txnCtx(t)); err == nil || !err.(Error).IsFatal() {
		t.Errorf("abort after the fencing: %v, want a fatal error", err)
	}
	if err := p1.BeginTransaction(); err == nil || !err.(Error).IsFatal() {
		t.Errorf("begin after the fencing: %v, want a fatal error", err)
	}

	if err := p2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceValues(t, p2, topic, "p2")
	if err := p2.CommitTransaction(txnCtx(t)); err != nil {
		t.Fatal(err)
	}
	produceValues(t, newProducer(t, nil), topic, "end")
	values, _ := readAll(t, topic, "read_committed", "end")
	if want := []string{"p1-committed", "p2"}; !reflect.DeepEqual(values, want) {
		t.Fatalf("read_committed read %q, want %q", values, want)
	}
}

// InitTransactions whose deadline has passed gives a retriable timeout; called again
// with time to spare it continues and succeeds.
func TestTransactionInitTimeoutIsRetriable(t *testing.T) {
	topic := newTopic(t, 1)
	p := newProducer(t, ConfigMap{"transactional.id": txnID(t, "retry")})
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err := p.InitTransactions(past)
	checkClass(t, err, ErrTimedOut, "retriable")
	if !err.(Error).IsTimeout() {
		t.Errorf("%v: IsTimeout is false", err)
	}
	if err := p.InitTransactions(txnCtx(t)); err != nil {
		t.Fatalf("InitTransactions again: %v", err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceValues(t, p, topic, "after-retry")
	if err := p.CommitTransaction(txnCtx(t)); err != nil {
		t.Fatal(err)
	}
	produceValues(t, newProducer(t, nil), topic, "end")
	values, _ := readAll(t, topic, "read_committed", "end")
	if want := []string{"after-retry"}; !reflect.DeepEqual(values, want) {
		t.Fatalf("read_committed read %q, want %q", values, want)
	}
}

// The calls made in the wrong state, or without what they need, fail with their code
// and a message, and no class (the producer can go on).
func TestTransactionCallsInTheWrongState(t *testing.T) {
	topic := newTopic(t, 1)
	// A transactional producer not initialised.
	p := newProducer(t, ConfigMap{"transactional.id": txnID(t, "state")})
	e := checkClass(t, p.BeginTransaction(), ErrState, "")
	t.Logf("begin without init: %s", e)
	checkClass(t, p.CommitTransaction(txnCtx(t)), ErrState, "")
	if err := p.InitTransactions(txnCtx(t)); err != nil {
		t.Fatal(err)
	}
	checkClass(t, p.InitTransactions(txnCtx(t)), ErrState, "")
	// Produce outside a transaction.
	err := p.Produce(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte("x")}, nil)
	if e, ok := err.(Error); !ok || e.Code() != ErrState {
		t.Errorf("produce outside a transaction: %v, want ErrState", err)
	}
	checkClass(t, p.CommitTransaction(txnCtx(t)), ErrState, "")
	checkClass(t, p.AbortTransaction(txnCtx(t)), ErrState, "")
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	checkClass(t, p.BeginTransaction(), ErrState, "")
	checkClass(t, p.SendOffsetsToTransaction(txnCtx(t), []TopicPartition{{Topic: topic, Partition: 0, Offset: 1}}, nil),
		ErrInvalidArg, "", "consumerMetadata is nil")
	// The producer goes on: the transaction commits.
	produceValues(t, p, topic, "still-works")
	if err := p.CommitTransaction(txnCtx(t)); err != nil {
		t.Fatalf("commit after the refused calls: %v", err)
	}

	// A producer without transactional.id.
	plain := newProducer(t, nil)
	e = checkClass(t, plain.InitTransactions(txnCtx(t)), ErrState, "", "transactional.id")
	t.Logf("init on a non-transactional producer: %s", e)
	checkClass(t, plain.BeginTransaction(), ErrState, "", "transactional.id")

	// A consumer without group.id has no group metadata.
	c := newConsumer(t, nil)
	if _, err := c.GetConsumerGroupMetadata(); err == nil {
		t.Error("GetConsumerGroupMetadata without group.id succeeded")
	} else {
		checkClass(t, err, ErrInvalidArg, "", "group.id")
	}

	// Closed: ErrDestroy, fatal.
	closed, err := NewProducer(ConfigMap{"bootstrap.servers": bootstrap(t), "transactional.id": txnID(t, "closed")})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	checkClass(t, closed.InitTransactions(txnCtx(t)), ErrDestroy, "fatal", "closed")
	checkClass(t, closed.BeginTransaction(), ErrDestroy, "fatal", "closed")
	_ = c.Close()
	if _, err := c.GetConsumerGroupMetadata(); err == nil || err.(Error).Code() != ErrDestroy {
		t.Errorf("GetConsumerGroupMetadata on a closed consumer: %v", err)
	}
}

// A message of the transaction that the broker refuses (larger than the topic's
// max.message.bytes) makes the transaction abortable: CommitTransaction fails with an
// error whose class is TxnRequiresAbort, the message's delivery report carries the
// broker's error, and after AbortTransaction the producer's next transaction commits;
// a read_committed reader sees only that one.
func TestTransactionFailedMessageRequiresAbort(t *testing.T) {
	topic := fmt.Sprintf("go-%s-%d", t.Name(), time.Now().UnixNano())
	a, err := NewAdminClient(ConfigMap{"bootstrap.servers": bootstrap(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CreateTopic(topic, 1, 1, map[string]string{"max.message.bytes": "1024"}, callTimeout); err != nil {
		a.Close()
		t.Fatalf("create %s: %v", topic, err)
	}
	a.Close()
	p := newTxnProducer(t, txnID(t, "abortable"))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan Event, 1)
	big := &Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte(strings.Repeat("x", 8192))}
	if err := p.Produce(big, ch); err != nil {
		t.Fatalf("produce the large message: %v", err)
	}
	err = p.CommitTransaction(txnCtx(t))
	if err == nil {
		t.Fatal("the commit of a transaction with a refused message succeeded")
	}
	e := checkClass(t, err, err.(Error).Code(), "abortable")
	t.Logf("commit: %s: %s", e.Name(), e)
	select {
	case ev := <-ch:
		m, ok := ev.(*Message)
		if !ok {
			t.Fatalf("delivery report: %T %v", ev, ev)
		}
		de, ok := m.TopicPartition.Error.(Error)
		if !ok {
			t.Fatalf("the large message was delivered: %v", m.TopicPartition)
		}
		if de.Code() != ErrMessageTooLarge && de.Code() != ErrRecordListTooLarge {
			t.Errorf("the large message's delivery error: %v (%s), want MESSAGE_TOO_LARGE", de.Code(), de)
		}
	case <-time.After(callTimeout):
		t.Fatal("no delivery report for the large message")
	}
	// Committing again does not help: the transaction can only be aborted.
	checkClass(t, p.CommitTransaction(txnCtx(t)), e.Code(), "abortable")
	if err := p.AbortTransaction(txnCtx(t)); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatalf("begin after the abort: %v", err)
	}
	produceValues(t, p, topic, "after-abort")
	if err := p.CommitTransaction(txnCtx(t)); err != nil {
		t.Fatalf("commit after the abort: %v", err)
	}
	produceValues(t, newProducer(t, nil), topic, "end")
	values, _ := readAll(t, topic, "read_committed", "end")
	if want := []string{"after-abort"}; !reflect.DeepEqual(values, want) {
		t.Fatalf("read_committed read %q, want %q", values, want)
	}
}
