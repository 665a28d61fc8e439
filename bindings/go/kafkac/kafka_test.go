package kafkac

// Tests against a running Apache Kafka broker whose address is in KAFKAC_BOOTSTRAP
// (tests/go_binding.rs starts one and runs these). Each test uses topics of its own.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const callTimeout = 30 * time.Second

func bootstrap(t testing.TB) string {
	t.Helper()
	b := os.Getenv("KAFKAC_BOOTSTRAP")
	if b == "" {
		t.Fatal("KAFKAC_BOOTSTRAP is not set: this test needs an Apache Kafka broker " +
			"(cargo test --release --test go_binding starts one and runs go test)")
	}
	return b
}

// newTopic creates a topic of its own for the calling test.
func newTopic(t testing.TB, partitions int) string {
	t.Helper()
	name := fmt.Sprintf("go-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	a, err := NewAdminClient(ConfigMap{"bootstrap.servers": bootstrap(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.CreateTopic(name, partitions, 1, nil, callTimeout); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return name
}

func newProducer(t testing.TB, extra ConfigMap) *Producer {
	t.Helper()
	conf := ConfigMap{"bootstrap.servers": bootstrap(t), "linger.ms": 5}
	for k, v := range extra {
		conf[k] = v
	}
	p, err := NewProducer(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func newConsumer(t *testing.T, extra ConfigMap) *Consumer {
	t.Helper()
	conf := ConfigMap{"bootstrap.servers": bootstrap(t), "auto.offset.reset": "earliest"}
	for k, v := range extra {
		conf[k] = v
	}
	c, err := NewConsumer(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testMessages are records with every kind of key, value and header: null, empty and
// not, binary bytes included.
func testMessages(topic string, partition int32, n int) []*Message {
	out := make([]*Message, n)
	for i := range out {
		m := &Message{
			TopicPartition: TopicPartition{Topic: topic, Partition: partition},
			Key:            []byte(fmt.Sprintf("key-%d", i)),
			Value:          []byte(fmt.Sprintf("value-%d\x00\xff", i)),
			Opaque:         i,
		}
		switch i % 5 {
		case 0:
			m.Key, m.Value = nil, nil
		case 1:
			m.Key, m.Value = []byte{}, []byte{}
		case 2:
			m.Headers = []Header{{"h-null", nil}, {"h-empty", []byte{}}, {"h", []byte("x\x00y")}, {"", []byte("v")}}
		case 3:
			m.Key = nil
			m.Headers = []Header{{"dup", []byte("1")}, {"dup", []byte("2")}}
		case 4:
			m.Value = bytes.Repeat([]byte{byte(i)}, 100000)
		}
		out[i] = m
	}
	return out
}

// sameBytes compares two buffers, nil and empty being different.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

func checkSame(t *testing.T, got, want *Message) {
	t.Helper()
	at := fmt.Sprintf("%s[%d]@%d", got.TopicPartition.Topic, got.TopicPartition.Partition, got.TopicPartition.Offset)
	if !sameBytes(got.Key, want.Key) {
		t.Errorf("%s: key %q (nil %v), want %q (nil %v)", at, got.Key, got.Key == nil, want.Key, want.Key == nil)
	}
	if !sameBytes(got.Value, want.Value) {
		t.Errorf("%s: value of %d bytes (nil %v), want %d (nil %v)", at, len(got.Value), got.Value == nil, len(want.Value), want.Value == nil)
	}
	if len(got.Headers) != len(want.Headers) {
		t.Errorf("%s: headers %v, want %v", at, got.Headers, want.Headers)
		return
	}
	for i := range got.Headers {
		if got.Headers[i].Key != want.Headers[i].Key || !sameBytes(got.Headers[i].Value, want.Headers[i].Value) {
			t.Errorf("%s: header %d %v (nil %v), want %v", at, i, got.Headers[i], got.Headers[i].Value == nil, want.Headers[i])
		}
	}
}

// produceAll produces msgs with a delivery channel, flushes, and returns the reports
// in the order of msgs.
func produceAll(t *testing.T, p *Producer, msgs []*Message) {
	t.Helper()
	ch := make(chan Event, len(msgs))
	for _, m := range msgs {
		if err := p.Produce(m, ch); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	if err := p.Flush(int(callTimeout / time.Millisecond)); err != nil {
		t.Fatalf("flush: %v", err)
	}
	for range msgs {
		select {
		case ev := <-ch:
			m, ok := ev.(*Message)
			if !ok {
				t.Fatalf("delivery report is a %T: %v", ev, ev)
			}
			if m.TopicPartition.Error != nil {
				t.Fatalf("delivery failed: %v", m.TopicPartition)
			}
		case <-time.After(callTimeout):
			t.Fatal("delivery reports missing after Flush")
		}
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len() %d after a flush that returned nil", n)
	}
}

func TestProduceDeliveryReportsWithOffsets(t *testing.T) {
	topic := newTopic(t, 1)
	p := newProducer(t, nil)
	msgs := testMessages(topic, 0, 20)
	before := time.Now().Add(-time.Second)
	ch := make(chan Event, len(msgs))
	for _, m := range msgs {
		if err := p.Produce(m, ch); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	if err := p.Flush(int(callTimeout / time.Millisecond)); err != nil {
		t.Fatalf("flush: %v", err)
	}
	// One partition, idempotent producer: reports in order, offsets 0..19.
	for i := range msgs {
		ev := <-ch
		m, ok := ev.(*Message)
		if !ok {
			t.Fatalf("report %d is a %T: %v", i, ev, ev)
		}
		if m != msgs[i] {
			t.Fatalf("report %d is not the message produced (%v)", i, m)
		}
		tp := m.TopicPartition
		if tp.Error != nil || tp.Topic != topic || tp.Partition != 0 || tp.Offset != Offset(i) {
			t.Fatalf("report %d: %v, want %s[0]@%d", i, tp, topic, i)
		}
		if m.Opaque != i {
			t.Fatalf("report %d: opaque %v", i, m.Opaque)
		}
		if m.Timestamp.Before(before) || m.Timestamp.After(time.Now().Add(time.Second)) {
			t.Fatalf("report %d: timestamp %v", i, m.Timestamp)
		}
	}
	select {
	case ev := <-ch:
		t.Fatalf("one report too many: %v", ev)
	default:
	}

	// Read back without a group: exact contents, null and empty kept apart.
	c := newConsumer(t, nil)
	if err := c.Assign([]TopicPartition{{Topic: topic, Partition: 0, Offset: OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		m, err := c.ReadMessage(callTimeout)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if m.TopicPartition.Offset != Offset(i) || m.TopicPartition.Topic != topic {
			t.Fatalf("read %d: %v", i, m.TopicPartition)
		}
		if m.TimestampType != TimestampCreateTime || !m.Timestamp.Equal(msgs[i].Timestamp) {
			t.Errorf("read %d: timestamp %v (%d), reported %v", i, m.Timestamp, m.TimestampType, msgs[i].Timestamp)
		}
		checkSame(t, m, msgs[i])
	}
}

func TestProduceWithTimestampAndToEvents(t *testing.T) {
	topic := newTopic(t, 1)
	p := newProducer(t, nil)
	ts := time.UnixMilli(1_600_000_000_123)
	if err := p.Produce(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: PartitionAny}, Value: []byte("e"), Timestamp: ts}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(int(callTimeout / time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-p.Events():
		m, ok := ev.(*Message)
		if !ok || m.TopicPartition.Error != nil || m.TopicPartition.Offset != 0 || !m.Timestamp.Equal(ts) {
			t.Fatalf("report on Events(): %v (timestamp %v)", ev, m.Timestamp)
		}
	case <-time.After(callTimeout):
		t.Fatal("no report on Events()")
	}

	// go.delivery.reports=false: nothing on Events().
	q := newProducer(t, ConfigMap{"go.delivery.reports": false})
	if err := q.Produce(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte("f")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := q.Flush(int(callTimeout / time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if ev, ok := <-q.Events(); ok {
		t.Fatalf("report with go.delivery.reports=false: %v", ev)
	}
}

// Reports for Events() wait in memory when nobody reads: a Flush never blocks on a
// full channel, and every report is read afterwards, in order.
func TestEventsNeverBlockFlush(t *testing.T) {
	topic := newTopic(t, 1)
	p := newProducer(t, ConfigMap{"go.events.channel.size": 1})
	const n = 50
	for i := 0; i < n; i++ {
		if err := p.Produce(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte{byte(i)}, Opaque: i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(int(callTimeout / time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		select {
		case ev := <-p.Events():
			m := ev.(*Message)
			if m.Opaque != i || m.TopicPartition.Offset != Offset(i) {
				t.Fatalf("report %d: %v (opaque %v)", i, m, m.Opaque)
			}
		case <-time.After(callTimeout):
			t.Fatalf("report %d missing", i)
		}
	}

	// A delivery channel the application closed: the send's panic is recovered and
	// returned by the Flush.
	ch := make(chan Event, 1)
	close(ch)
	if err := p.Produce(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte("c")}, ch); err != nil {
		t.Fatal(err)
	}
	err := p.Flush(int(callTimeout / time.Millisecond))
	var perr *CallbackPanicError
	if !errors.As(err, &perr) || perr.Callback != "delivery channel" || !strings.Contains(perr.Error(), "closed channel") {
		t.Fatalf("flush returned %T %v", err, err)
	}
}

// A partition the topic does not have: the send fails at once, or (if the topic's
// partitions were not known yet) its report does, with ErrUnknownPartition.
func TestProduceToMissingPartition(t *testing.T) {
	topic := newTopic(t, 1)
	p := newProducer(t, nil)
	produceAll(t, p, []*Message{{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte("x")}})
	ch := make(chan Event, 1)
	err := p.Produce(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: 7}, Value: []byte("y")}, ch)
	if err == nil {
		if ferr := p.Flush(int(callTimeout / time.Millisecond)); ferr != nil {
			t.Fatal(ferr)
		}
		err = (<-ch).(*Message).TopicPartition.Error
	}
	asError(t, err, ErrUnknownPartition, topic)
}

func TestConsumeInGroupExactContentsCommitAndResume(t *testing.T) {
	topic := newTopic(t, 3)
	group := topic + "-group"
	p := newProducer(t, nil)
	msgs := testMessages(topic, PartitionAny, 30)
	produceAll(t, p, msgs)
	want := map[TopicPartition]*Message{}
	counts := map[int32]int64{}
	for _, m := range msgs {
		tp := m.TopicPartition
		want[TopicPartition{Topic: tp.Topic, Partition: tp.Partition, Offset: tp.Offset}] = m
		counts[tp.Partition]++
	}

	var mu sync.Mutex
	var assigned []TopicPartition
	c := newConsumer(t, ConfigMap{"group.id": group, "enable.auto.commit": false})
	err := c.Subscribe(topic, func(c *Consumer, ev Event) error {
		mu.Lock()
		defer mu.Unlock()
		if a, ok := ev.(AssignedPartitions); ok {
			assigned = append(assigned, a.Partitions...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < len(msgs) {
		m, err := c.ReadMessage(callTimeout)
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		tp := m.TopicPartition
		w, ok := want[TopicPartition{Topic: tp.Topic, Partition: tp.Partition, Offset: tp.Offset}]
		if !ok {
			t.Fatalf("unexpected message at %v", tp)
		}
		delete(want, TopicPartition{Topic: tp.Topic, Partition: tp.Partition, Offset: tp.Offset})
		checkSame(t, m, w)
		got++
	}
	mu.Lock()
	got3 := map[int32]bool{}
	for _, a := range assigned {
		if a.Topic == topic {
			got3[a.Partition] = true
		}
	}
	if len(got3) != 3 || !got3[0] || !got3[1] || !got3[2] {
		t.Fatalf("rebalance callback assigned %v, want the 3 partitions", assigned)
	}
	mu.Unlock()
	asg, err := c.Assignment()
	if err != nil || len(asg) != 3 {
		t.Fatalf("Assignment() %v, %v", asg, err)
	}

	// Commit what was consumed; Committed and Position say the same.
	if err := c.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	parts := []TopicPartition{{Topic: topic, Partition: 0}, {Topic: topic, Partition: 1}, {Topic: topic, Partition: 2}}
	committed, err := c.Committed(parts, int(callTimeout/time.Millisecond))
	if err != nil {
		t.Fatalf("committed: %v", err)
	}
	pos, err := c.Position(parts)
	if err != nil {
		t.Fatalf("position: %v", err)
	}
	for i, cp := range committed {
		if cp.Error != nil || cp.Offset != Offset(counts[cp.Partition]) || cp.Partition != int32(i) {
			t.Errorf("committed %v, want offset %d", cp, counts[cp.Partition])
		}
		if pos[i].Offset != cp.Offset {
			t.Errorf("position %v, committed %v", pos[i], cp)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// A new member of the group resumes after the committed offsets: it gets only
	// what is produced now.
	last := &Message{TopicPartition: TopicPartition{Topic: topic, Partition: 1}, Key: []byte("last"), Value: []byte("one")}
	produceAll(t, p, []*Message{last})
	c2 := newConsumer(t, ConfigMap{"group.id": group})
	if err := c2.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	m, err := c2.ReadMessage(callTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if m.TopicPartition.Partition != 1 || m.TopicPartition.Offset != Offset(counts[1]) {
		t.Fatalf("resumed at %v, want %s[1]@%d", m.TopicPartition, topic, counts[1])
	}
	checkSame(t, m, last)
	if m, err := c2.ReadMessage(500 * time.Millisecond); err == nil {
		t.Fatalf("one message too many: %v", m)
	}
}

func TestCommitOffsetsCommittedAndStoredStart(t *testing.T) {
	topic := newTopic(t, 1)
	group := topic + "-group"
	p := newProducer(t, nil)
	msgs := testMessages(topic, 0, 6)
	produceAll(t, p, msgs)

	c := newConsumer(t, ConfigMap{"group.id": group, "enable.auto.commit": false})
	parts := []TopicPartition{{Topic: topic, Partition: 0}}
	committed, err := c.Committed(parts, int(callTimeout/time.Millisecond))
	if err != nil || committed[0].Offset != OffsetInvalid {
		t.Fatalf("nothing committed yet: %v, %v", committed, err)
	}
	if err := c.Assign([]TopicPartition{{Topic: topic, Partition: 0, Offset: 1}}); err != nil {
		t.Fatal(err)
	}
	m, err := c.ReadMessage(callTimeout)
	if err != nil || m.TopicPartition.Offset != 1 {
		t.Fatalf("first read from offset 1: %v, %v", m, err)
	}
	if err := c.CommitMessage(m); err != nil {
		t.Fatal(err)
	}
	committed, err = c.Committed(parts, int(callTimeout/time.Millisecond))
	if err != nil || committed[0].Offset != 2 {
		t.Fatalf("after CommitMessage: %v, %v", committed, err)
	}
	if err := c.CommitOffsets([]TopicPartition{{Topic: topic, Partition: 0, Offset: 4}}); err != nil {
		t.Fatal(err)
	}
	committed, err = c.Committed(parts, int(callTimeout/time.Millisecond))
	if err != nil || committed[0].Offset != 4 {
		t.Fatalf("after CommitOffsets: %v, %v", committed, err)
	}
	asError(t, c.CommitOffsets([]TopicPartition{{Topic: topic, Partition: 0, Offset: -5}}), ErrInvalidArg)

	// Seek back, and Position follows.
	if err := c.Seek(TopicPartition{Topic: topic, Partition: 0, Offset: 0}); err != nil {
		t.Fatal(err)
	}
	m, err = c.ReadMessage(callTimeout)
	if err != nil || m.TopicPartition.Offset != 0 {
		t.Fatalf("after seek to 0: %v, %v", m, err)
	}
	checkSame(t, m, msgs[0])
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// OffsetStored starts at the committed offset.
	c2 := newConsumer(t, ConfigMap{"group.id": group})
	if err := c2.Assign([]TopicPartition{{Topic: topic, Partition: 0, Offset: OffsetStored}}); err != nil {
		t.Fatal(err)
	}
	m, err = c2.ReadMessage(callTimeout)
	if err != nil || m.TopicPartition.Offset != 4 {
		t.Fatalf("OffsetStored start: %v, %v", m, err)
	}
	checkSame(t, m, msgs[4])
}

func TestAsyncCommitComesBackFromPoll(t *testing.T) {
	topic := newTopic(t, 1)
	p := newProducer(t, nil)
	produceAll(t, p, testMessages(topic, 0, 3))
	c := newConsumer(t, ConfigMap{"group.id": topic + "-group", "enable.auto.commit": false})
	if err := c.Assign([]TopicPartition{{Topic: topic, Partition: 0, Offset: OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.ReadMessage(callTimeout); err != nil {
			t.Fatal(err)
		}
	}
	// The third message counts as handed out once the next poll has run.
	if ev := c.Poll(0); ev != nil {
		t.Fatalf("unexpected event %v", ev)
	}
	if err := c.CommitAsync(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(callTimeout)
	for time.Now().Before(deadline) {
		if oc, ok := c.Poll(100).(OffsetsCommitted); ok {
			if oc.Error != nil || len(oc.Offsets) != 1 || oc.Offsets[0].Offset != 3 {
				t.Fatalf("commit result %v", oc)
			}
			return
		}
	}
	t.Fatal("no OffsetsCommitted from Poll")
}

func TestPartitionEOFEvent(t *testing.T) {
	topic := newTopic(t, 1)
	p := newProducer(t, nil)
	produceAll(t, p, testMessages(topic, 0, 2))
	c := newConsumer(t, ConfigMap{"enable.partition.eof": true})
	if err := c.Assign([]TopicPartition{{Topic: topic, Partition: 0, Offset: OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	deadline := time.Now().Add(callTimeout)
	for time.Now().Before(deadline) {
		switch ev := c.Poll(100).(type) {
		case *Message:
			seen = append(seen, fmt.Sprint(ev.TopicPartition.Offset))
		case PartitionEOF:
			if ev.Topic != topic || ev.Partition != 0 || ev.Offset != 2 || !reflect.DeepEqual(seen, []string{"0", "1"}) {
				t.Fatalf("EOF %v after %v", ev, seen)
			}
			return
		case nil:
		default:
			t.Fatalf("unexpected event %T %v", ev, ev)
		}
	}
	t.Fatal("no PartitionEOF")
}

// A delivery callback that panics: the panic never reaches C; the Flush that ran it
// returns it, the other callbacks still run, and the producer goes on working.
func TestDeliveryCallbackPanicIsReturnedByFlushAndPoll(t *testing.T) {
	topic := newTopic(t, 1)
	p := newProducer(t, nil)
	var ran atomic.Int32
	for i := 0; i < 3; i++ {
		i := i
		err := p.ProduceFunc(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte{byte(i)}}, func(m *Message) {
			ran.Add(1)
			if m.TopicPartition.Error != nil {
				t.Errorf("delivery %d: %v", i, m.TopicPartition)
			}
			if i == 1 {
				panic("boom in delivery callback")
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := p.Flush(int(callTimeout / time.Millisecond))
	var perr *CallbackPanicError
	if !errors.As(err, &perr) {
		t.Fatalf("flush returned %T %v, want a *CallbackPanicError", err, err)
	}
	if perr.Value != "boom in delivery callback" || perr.Callback != "delivery" || len(perr.Stack) == 0 {
		t.Fatalf("panic error %#v", perr)
	}
	if !strings.Contains(perr.Error(), "boom in delivery callback") {
		t.Fatalf("message %q", perr.Error())
	}
	if ran.Load() != 3 || p.Len() != 0 {
		t.Fatalf("%d callbacks ran, %d messages left", ran.Load(), p.Len())
	}
	// Reported once only.
	if err := p.Flush(1000); err != nil {
		t.Fatalf("second flush: %v", err)
	}

	// Served by Poll: Poll returns it.
	panicErr := errors.New("an error value")
	if err := p.ProduceFunc(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte("p")}, func(*Message) { panic(panicErr) }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(callTimeout)
	for {
		n, err := p.Poll(100)
		if err != nil {
			if !errors.As(err, &perr) || !errors.Is(err, panicErr) || n != 1 {
				t.Fatalf("poll returned %d, %v", n, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no report served")
		}
	}
	// Still working.
	produceAll(t, p, []*Message{{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte("after")}})
}

// A rebalance callback that panics: ReadMessage returns the panic, the assignment is
// applied anyway, and the next reads get the records.
func TestRebalanceCallbackPanicIsReturnedByPoll(t *testing.T) {
	topic := newTopic(t, 1)
	p := newProducer(t, nil)
	msgs := testMessages(topic, 0, 2)
	produceAll(t, p, msgs)
	c := newConsumer(t, ConfigMap{"group.id": topic + "-group"})
	var revoked atomic.Int32
	err := c.Subscribe(topic, func(c *Consumer, ev Event) error {
		switch ev.(type) {
		case AssignedPartitions:
			panic(fmt.Sprintf("boom on %v", ev))
		case RevokedPartitions:
			revoked.Add(1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadMessage(callTimeout)
	var perr *CallbackPanicError
	if !errors.As(err, &perr) || perr.Callback != "rebalance" || !strings.Contains(fmt.Sprint(perr.Value), "boom on AssignedPartitions") {
		t.Fatalf("first read: %T %v", err, err)
	}
	for i := range msgs {
		m, err := c.ReadMessage(callTimeout)
		if err != nil {
			t.Fatalf("read %d after the panic: %v", i, err)
		}
		checkSame(t, m, msgs[i])
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if revoked.Load() < 1 {
		t.Fatal("the revoke callback did not run during Close")
	}
}

// Many goroutines produce on one producer while others poll (run with -race).
func TestConcurrentProduceAndPoll(t *testing.T) {
	topic := newTopic(t, 3)
	p := newProducer(t, nil)
	const workers, each = 4, 250
	var delivered atomic.Int32
	var mu sync.Mutex
	offsets := map[TopicPartition]bool{}
	stop := make(chan struct{})
	var pollers sync.WaitGroup
	for i := 0; i < 2; i++ {
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := p.Poll(10); err != nil {
					t.Errorf("poll: %v", err)
					return
				}
			}
		}()
	}
	var producers sync.WaitGroup
	for w := 0; w < workers; w++ {
		producers.Add(1)
		go func(w int) {
			defer producers.Done()
			for i := 0; i < each; i++ {
				m := &Message{TopicPartition: TopicPartition{Topic: topic, Partition: PartitionAny}, Key: []byte(fmt.Sprintf("%d-%d", w, i)), Value: []byte("v")}
				err := p.ProduceFunc(m, func(m *Message) {
					if m.TopicPartition.Error != nil {
						t.Errorf("delivery: %v", m.TopicPartition)
						return
					}
					mu.Lock()
					tp := m.TopicPartition
					tp.Error = nil
					offsets[tp] = true
					mu.Unlock()
					delivered.Add(1)
				})
				if err != nil {
					t.Errorf("produce: %v", err)
					return
				}
			}
		}(w)
	}
	producers.Wait()
	if err := p.Flush(int(callTimeout / time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	close(stop)
	pollers.Wait()
	if delivered.Load() != workers*each || len(offsets) != workers*each {
		t.Fatalf("%d delivered, %d distinct offsets, want %d", delivered.Load(), len(offsets), workers*each)
	}
}

// Close while another goroutine is inside Poll: the poll ends, Close returns, nothing
// crashes.
func TestCloseWhilePolling(t *testing.T) {
	topic := newTopic(t, 1)
	c := newConsumer(t, ConfigMap{"group.id": topic + "-group"})
	if err := c.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan Event, 1)
	go func() { done <- c.Poll(20000) }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-done:
		if ev != nil {
			if e, ok := ev.(Error); !ok || e.Code() != ErrDestroy {
				t.Fatalf("poll during close returned %v", ev)
			}
		}
	case <-time.After(15 * time.Second):
		t.Fatal("poll still running after Close")
	}
	if took := time.Since(start); took > 12*time.Second {
		t.Fatalf("Close took %v", took)
	}
}

// A subscribed topic that does not exist comes back from Poll as an Error event naming
// it, and from ReadMessage as an error.
func TestConsumerErrorEvent(t *testing.T) {
	topic := fmt.Sprintf("go-missing-%d", time.Now().UnixNano())
	c := newConsumer(t, ConfigMap{"group.id": topic + "-group"})
	if err := c.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.ReadMessage(callTimeout)
	e := asError(t, err, ErrUnknownTopic, topic)
	if e.IsFatal() {
		t.Fatalf("%v is not fatal", e)
	}
}

func TestAdminErrors(t *testing.T) {
	topic := newTopic(t, 1)
	a, err := NewAdminClient(ConfigMap{"bootstrap.servers": bootstrap(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	asError(t, a.CreateTopic(topic, 1, 1, nil, callTimeout), ErrTopicAlreadyExists, topic)
	asError(t, a.CreateTopic(topic+"-bad", 1, 1, map[string]string{"cleanup.policy": "nonsense"}, callTimeout), ErrInvalidConfig)
	if err := a.DeleteTopic(topic, callTimeout); err != nil {
		t.Fatal(err)
	}
}

// Assign from the rebalance callback takes the assignment over: partition 0 from
// offset 1, partition 1 left out (not consumed); Unassign from the revoke callback is
// accepted, and so is a commit there.
func TestRebalanceCallbackAssignTakesTheAssignmentOver(t *testing.T) {
	topic := newTopic(t, 2)
	p := newProducer(t, nil)
	msgs := testMessages(topic, 0, 3)
	produceAll(t, p, msgs)
	left := testMessages(topic, 1, 3)
	produceAll(t, p, left)
	c := newConsumer(t, ConfigMap{"group.id": topic + "-group", "enable.auto.commit": false})
	var mu sync.Mutex
	var errs []error
	var kinds []string
	err := c.Subscribe(topic, func(c *Consumer, ev Event) error {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case AssignedPartitions:
			kinds = append(kinds, fmt.Sprintf("assign %d", len(e.Partitions)))
			errs = append(errs, c.Assign([]TopicPartition{{Topic: topic, Partition: 0, Offset: 1}}))
		case RevokedPartitions:
			kinds = append(kinds, fmt.Sprintf("revoke %d", len(e.Partitions)))
			errs = append(errs, c.Unassign())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		m, err := c.ReadMessage(callTimeout)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if m.TopicPartition.Partition != 0 || m.TopicPartition.Offset != Offset(i) {
			t.Fatalf("read %d: got %v", i, m.TopicPartition)
		}
		checkSame(t, m, msgs[i])
	}
	if m, err := c.ReadMessage(time.Second); err == nil {
		t.Fatalf("a record of the partition left out: %v", m.TopicPartition)
	} else {
		asError(t, err, ErrTimedOut)
	}
	asg, err := c.Assignment()
	if err != nil || len(asg) != 2 {
		t.Fatalf("Assignment() %v, %v: the partition left out stays assigned", asg, err)
	}
	// Resume starts the partition left out, from its beginning (nothing committed).
	p1 := []TopicPartition{{Topic: topic, Partition: 1}}
	if err := c.Resume(p1); err != nil {
		t.Fatal(err)
	}
	readFrom := func(partition int32, offset int, want *Message) {
		t.Helper()
		m, err := c.ReadMessage(callTimeout)
		if err != nil {
			t.Fatalf("read %d-%d: %v", partition, offset, err)
		}
		if m.TopicPartition.Partition != partition || m.TopicPartition.Offset != Offset(offset) {
			t.Fatalf("read %d-%d: got %v", partition, offset, m.TopicPartition)
		}
		checkSame(t, m, want)
	}
	for i := 0; i < 3; i++ {
		readFrom(1, i, left[i])
	}
	// Pause holds partition 0 back while a record waits there; Resume lets it through.
	p0 := []TopicPartition{{Topic: topic, Partition: 0}}
	if err := c.Pause(p0); err != nil {
		t.Fatal(err)
	}
	more := testMessages(topic, 0, 4)[3:]
	produceAll(t, p, more)
	if m, err := c.ReadMessage(time.Second); err == nil {
		t.Fatalf("a record of the paused partition: %v", m.TopicPartition)
	} else {
		asError(t, err, ErrTimedOut)
	}
	if err := c.Resume(p0); err != nil {
		t.Fatal(err)
	}
	readFrom(0, 3, more[0])
	asError(t, c.Pause([]TopicPartition{{Topic: topic, Partition: -1}}), ErrInvalidArg)
	asError(t, c.Resume([]TopicPartition{{Topic: "", Partition: 0}}), ErrInvalidArg)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	asError(t, c.Pause(p0), ErrDestroy)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(kinds) != "[assign 2 revoke 2]" {
		t.Fatalf("rebalances %v", kinds)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("%s: %v", kinds[i], e)
		}
	}
}
