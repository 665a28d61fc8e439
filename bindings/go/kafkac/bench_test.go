package kafkac

import "testing"

// BenchmarkProduce measures the producer through the binding: 100-byte values to one
// partition, reports served by Poll every 1000 messages and counted by a callback,
// everything flushed. Run it by hand against a broker:
//
//	KAFKAC_BOOTSTRAP=127.0.0.1:9092 go test -run '^$' -bench Produce -benchtime 200000x
func BenchmarkProduce(b *testing.B) {
	topic := newTopic(b, 1)
	p := newProducer(b, ConfigMap{"go.delivery.reports": false})
	value := make([]byte, 100)
	delivered := 0
	onDelivery := func(m *Message) {
		if m.TopicPartition.Error == nil {
			delivered++
		}
	}
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := &Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: value}
		for {
			err := p.ProduceFunc(m, onDelivery)
			if err == nil {
				break
			}
			if e, ok := err.(Error); !ok || e.Code() != ErrQueueFull {
				b.Fatal(err)
			}
			if _, err := p.Poll(10); err != nil {
				b.Fatal(err)
			}
		}
		if i%1000 == 999 {
			if _, err := p.Poll(0); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := p.Flush(60000); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if delivered != b.N {
		b.Fatalf("%d of %d delivered", delivered, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
