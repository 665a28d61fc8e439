package kafkac

/*
#include "glue.h"
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// Offset is a position in a partition: the offset of a record, or one of the Offset*
// values.
type Offset int64

// Special offsets, from include/kafkac.h.
const (
	// OffsetBeginning is the start of the partition's log.
	OffsetBeginning Offset = C.KC_OFFSET_BEGINNING
	// OffsetEnd is the end of the log: only records written from now on.
	OffsetEnd Offset = C.KC_OFFSET_END
	// OffsetStored is the group's committed offset, else where auto.offset.reset says.
	OffsetStored Offset = C.KC_OFFSET_STORED
	// OffsetInvalid is no offset (nothing committed, or not known yet).
	OffsetInvalid Offset = C.KC_OFFSET_INVALID
)

// PartitionAny lets the partitioner choose the partition of a produced message.
const PartitionAny int32 = C.KC_PARTITION_UA

func (o Offset) String() string {
	switch o {
	case OffsetBeginning:
		return "beginning"
	case OffsetEnd:
		return "end"
	case OffsetStored:
		return "stored"
	case OffsetInvalid:
		return "unset"
	}
	return fmt.Sprint(int64(o))
}

// TopicPartition is a partition of a topic, with an offset and, where a call reports
// one, a per-partition error.
type TopicPartition struct {
	Topic     string
	Partition int32
	Offset    Offset
	// LeaderEpoch is the leader epoch of the record before Offset; nil when unknown.
	LeaderEpoch *int32
	// Error is this partition's result, where a call reports one (a delivery report,
	// Committed, Position).
	Error error
}

func (p TopicPartition) String() string {
	s := fmt.Sprintf("%s[%d]@%s", p.Topic, p.Partition, p.Offset)
	if p.Error != nil {
		s += fmt.Sprintf("(%v)", p.Error)
	}
	return s
}

// TimestampType says where a message's timestamp comes from.
type TimestampType int

// Timestamp types, from include/kafkac.h.
const (
	TimestampNotAvailable TimestampType = C.KC_TIMESTAMP_NOT_AVAILABLE
	TimestampCreateTime   TimestampType = C.KC_TIMESTAMP_CREATE_TIME
	TimestampLogAppend    TimestampType = C.KC_TIMESTAMP_LOG_APPEND_TIME
)

// Header is a record header. A nil Value is a null value, distinct from an empty one.
type Header struct {
	Key   string
	Value []byte
}

func (h Header) String() string {
	if h.Value == nil {
		return h.Key + "=<null>"
	}
	return fmt.Sprintf("%s=%q", h.Key, h.Value)
}

// Message is a record to produce, a produced record's delivery report, or a consumed
// record. A nil Key or Value is a null one; a non-nil empty slice is an empty one.
type Message struct {
	TopicPartition TopicPartition
	Key            []byte
	Value          []byte
	Headers        []Header
	// Timestamp: when producing, the zero time means "now"; in a delivery report and a
	// consumed record, the record's timestamp (zero when it has none).
	Timestamp     time.Time
	TimestampType TimestampType
	// Opaque is the application's own value, handed back in the delivery report.
	Opaque interface{}
}

func (m *Message) String() string {
	return fmt.Sprintf("%v key=%q value=%q", m.TopicPartition, m.Key, m.Value)
}

// Event is what a Consumer's Poll and a Producer's Events channel hand out: *Message,
// Error, PartitionEOF, AssignedPartitions, RevokedPartitions, OffsetsCommitted or
// *CallbackPanicError.
type Event interface {
	String() string
}

// PartitionEOF says the consumer reached the end of a partition (with
// enable.partition.eof=true); Offset is the end offset.
type PartitionEOF TopicPartition

func (p PartitionEOF) String() string {
	return fmt.Sprintf("EOF at %v", TopicPartition(p))
}

// AssignedPartitions is a rebalance that adds partitions, handed to the rebalance
// callback before their first record.
type AssignedPartitions struct {
	Partitions []TopicPartition
}

func (e AssignedPartitions) String() string {
	return fmt.Sprintf("AssignedPartitions: %v", e.Partitions)
}

// RevokedPartitions is a rebalance that takes partitions away. Lost is true when they
// were lost (the member was fenced or out of touch) rather than revoked cleanly: then
// their offsets must not be committed.
type RevokedPartitions struct {
	Partitions []TopicPartition
	Lost       bool
}

func (e RevokedPartitions) String() string {
	if e.Lost {
		return fmt.Sprintf("LostPartitions: %v", e.Partitions)
	}
	return fmt.Sprintf("RevokedPartitions: %v", e.Partitions)
}

// OffsetsCommitted is the result of an asynchronous or automatic commit.
type OffsetsCommitted struct {
	Error   error
	Offsets []TopicPartition
}

func (o OffsetsCommitted) String() string {
	return fmt.Sprintf("OffsetsCommitted (%v, %v)", o.Error, o.Offsets)
}

// goBytes copies a C buffer: nil for a NULL pointer, an empty non-nil slice for a
// non-NULL one of length 0.
func goBytes(p unsafe.Pointer, n C.size_t) []byte {
	if p == nil {
		return nil
	}
	if n == 0 {
		return []byte{}
	}
	return C.GoBytes(p, C.int(n))
}

func goTime(ms int64) time.Time {
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// partsFromC copies a C partition array.
func partsFromC(parts *C.kc_topic_partition_t, cnt C.size_t) []TopicPartition {
	if parts == nil || cnt == 0 {
		return nil
	}
	cs := unsafe.Slice(parts, int(cnt))
	out := make([]TopicPartition, len(cs))
	for i, p := range cs {
		out[i] = TopicPartition{
			Topic:     C.GoString(p.topic),
			Partition: int32(p.partition),
			Offset:    Offset(p.offset),
		}
		if p.leader_epoch >= 0 {
			e := int32(p.leader_epoch)
			out[i].LeaderEpoch = &e
		}
		if p.err != C.KC_OK {
			out[i].Error = NewError(ErrorCode(p.err), "", false)
		}
	}
	return out
}

// cParts is a partition array in C memory (its topics too); free it with free.
type cParts struct {
	ptr *C.kc_topic_partition_t
	cnt C.size_t
}

func newCParts(parts []TopicPartition) cParts {
	cp := cParts{ptr: C.kc_go_parts_new(C.size_t(len(parts))), cnt: C.size_t(len(parts))}
	for i, p := range parts {
		epoch := int32(-1)
		if p.LeaderEpoch != nil {
			epoch = *p.LeaderEpoch
		}
		C.kc_go_parts_set(cp.ptr, C.size_t(i), C.CString(p.Topic), C.int32_t(p.Partition),
			C.int64_t(p.Offset), C.int32_t(epoch))
	}
	return cp
}

func (cp cParts) free() { C.kc_go_parts_free(cp.ptr, cp.cnt) }
