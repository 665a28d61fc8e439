package kafkac

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// asError fails the test unless err is an Error with code want whose message holds
// every one of parts.
func asError(t *testing.T, err error, want ErrorCode, parts ...string) Error {
	t.Helper()
	var ke Error
	if !errors.As(err, &ke) {
		t.Fatalf("want a kafkac.Error %v, got %T %v", want, err, err)
	}
	if ke.Code() != want {
		t.Fatalf("want code %v (%d), got %v (%d): %v", want, want, ke.Code(), ke.Code(), ke)
	}
	if ke.Name() != want.String() {
		t.Fatalf("Name() %q, want %q", ke.Name(), want.String())
	}
	for _, p := range parts {
		if !strings.Contains(ke.Error(), p) {
			t.Fatalf("message %q does not contain %q", ke.Error(), p)
		}
	}
	return ke
}

func TestBadConfigIsAnErrorWithCodeAndMessage(t *testing.T) {
	_, err := NewProducer(ConfigMap{"bootstrap.servers": "127.0.0.1:1", "no.such.property": 1})
	e := asError(t, err, ErrUnknownConfig, "no.such.property")
	if e.IsFatal() || e.Name() != "_UNKNOWN_CONFIG" {
		t.Fatalf("fatal %v, name %q", e.IsFatal(), e.Name())
	}

	_, err = NewConsumer(ConfigMap{"bootstrap.servers": "127.0.0.1:1", "session.timeout.ms": "soon"})
	asError(t, err, ErrLocalInvalidConfig, "session.timeout.ms", "soon")

	_, err = NewProducer(ConfigMap{"linger.ms": 5})
	asError(t, err, ErrLocalInvalidConfig, "bootstrap.servers", "required")

	_, err = NewProducer(ConfigMap{"bootstrap.servers": "127.0.0.1:1", "enable.idempotence": true, "acks": 1})
	asError(t, err, ErrLocalInvalidConfig, "acks")

	_, err = NewConsumer(ConfigMap{"bootstrap.servers": "127.0.0.1:1", "group.protocol": "nonsense"})
	asError(t, err, ErrLocalInvalidConfig, "group.protocol")

	_, err = NewAdminClient(ConfigMap{"bootstrap.servers": "127.0.0.1:1", "client.id": "x", "socket.timeout.ms": -4})
	asError(t, err, ErrLocalInvalidConfig, "socket.timeout.ms")

	// The package's own properties.
	_, err = NewProducer(ConfigMap{"bootstrap.servers": "127.0.0.1:1", "go.no.such": true})
	asError(t, err, ErrUnknownConfig, "go.no.such")
	_, err = NewProducer(ConfigMap{"bootstrap.servers": "127.0.0.1:1", "go.delivery.reports": "perhaps"})
	asError(t, err, ErrLocalInvalidConfig, "go.delivery.reports", "perhaps")
	_, err = NewConsumer(ConfigMap{"bootstrap.servers": "127.0.0.1:1", "go.delivery.reports": true})
	asError(t, err, ErrUnknownConfig, "go.delivery.reports")
}

func TestConfigValuesOfAnyType(t *testing.T) {
	p, err := NewProducer(ConfigMap{
		"bootstrap.servers":  "127.0.0.1:1",
		"linger.ms":          5,
		"enable.idempotence": false,
		"acks":               -1,
		"batch.size":         int64(65536),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close twice is safe on every handle, and calls after Close fail with ErrDestroy
// instead of touching freed memory.
func TestCloseTwiceAndCallsAfterClose(t *testing.T) {
	p, err := NewProducer(ConfigMap{"bootstrap.servers": "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("first close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	err = p.Produce(&Message{TopicPartition: TopicPartition{Topic: "t", Partition: PartitionAny}}, nil)
	asError(t, err, ErrDestroy, "closed")
	asError(t, p.Flush(100), ErrDestroy)
	_, err = p.Poll(0)
	asError(t, err, ErrDestroy)
	if _, ok := <-p.Events(); ok {
		t.Fatal("Events() is not closed after Close")
	}

	c, err := NewConsumer(ConfigMap{"bootstrap.servers": "127.0.0.1:1", "group.id": "g"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("first close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	asError(t, c.Subscribe("t", nil), ErrDestroy)
	ev := c.Poll(10)
	if e, ok := ev.(Error); !ok || e.Code() != ErrDestroy {
		t.Fatalf("poll after close: %v", ev)
	}
	_, err = c.ReadMessage(0)
	asError(t, err, ErrDestroy)

	a, err := NewAdminClient(ConfigMap{"bootstrap.servers": "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	a.Close()
	asError(t, a.DeleteTopic("t", 0), ErrDestroy)
}

// Errors of the calls themselves, with no broker needed.
func TestCallErrors(t *testing.T) {
	p, err := NewProducer(ConfigMap{"bootstrap.servers": "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	asError(t, p.Produce(&Message{TopicPartition: TopicPartition{Topic: "", Partition: PartitionAny}}, nil), ErrInvalidArg, "topic")
	asError(t, p.Produce(nil, nil), ErrInvalidArg)
	asError(t, p.Produce(&Message{TopicPartition: TopicPartition{Topic: "a\x00b", Partition: PartitionAny}}, nil), ErrInvalidArg, "NUL")

	c, err := NewConsumer(ConfigMap{"bootstrap.servers": "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// No group.id: subscribing and committing need one.
	asError(t, c.Subscribe("t", nil), ErrInvalidArg, "group.id")
	asError(t, c.Subscribe("^(", nil), ErrInvalidArg)
	asError(t, c.Assign([]TopicPartition{{Topic: "t", Partition: -1}}), ErrInvalidArg)
	asError(t, c.Seek(TopicPartition{Topic: "t", Partition: 0, Offset: 5}), ErrUnknownPartition)
	// Nothing comes: a poll returns nil, ReadMessage times out.
	if ev := c.Poll(0); ev != nil {
		t.Fatalf("poll of an idle consumer: %v", ev)
	}
	_, err = c.ReadMessage(50 * time.Millisecond)
	e := asError(t, err, ErrTimedOut)
	if !e.IsTimeout() {
		t.Fatal("IsTimeout false for a timeout")
	}
}

func TestErrorValues(t *testing.T) {
	e := NewError(ErrFatal, "", false)
	if !e.IsFatal() || e.Error() != ErrFatal.Description() || e.Name() != "_FATAL" {
		t.Fatalf("%#v: fatal %v, %q, %q", e, e.IsFatal(), e.Error(), e.Name())
	}
	e = NewError(ErrOffsetOutOfRange, "detail", false)
	if e.IsFatal() || e.IsTimeout() || e.Error() != "detail" || e.Code().String() != "OFFSET_OUT_OF_RANGE" {
		t.Fatalf("%#v", e)
	}
	if !NewError(ErrMsgTimedOut, "", false).IsTimeout() {
		t.Fatal("a message timeout is a timeout")
	}
	// A code this package does not know still has the library's name.
	if ErrorCode(-12345).String() != "_UNKNOWN" {
		t.Fatalf("unknown code named %q", ErrorCode(-12345).String())
	}
}

// Close gives every message it gives up on a report: with no broker to send to, each
// is purged from the queue.
func TestCloseReportsUndeliveredMessages(t *testing.T) {
	p, err := NewProducer(ConfigMap{"bootstrap.servers": "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var codes []ErrorCode
	ch := make(chan Event, n)
	for i := 0; i < n; i++ {
		m := &Message{TopicPartition: TopicPartition{Topic: "t", Partition: 0}, Value: []byte("v")}
		if i%2 == 0 {
			err = p.ProduceFunc(m, func(m *Message) {
				codes = append(codes, m.TopicPartition.Error.(Error).Code())
			})
		} else {
			err = p.Produce(m, ch)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	close(ch)
	for ev := range ch {
		codes = append(codes, ev.(*Message).TopicPartition.Error.(Error).Code())
	}
	if len(codes) != n {
		t.Fatalf("%d reports for %d messages", len(codes), n)
	}
	for _, c := range codes {
		if c != ErrPurgeQueue {
			t.Fatalf("report with %v, want %v", c, ErrPurgeQueue)
		}
	}
}
