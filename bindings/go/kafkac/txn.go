package kafkac

/*
#include "glue.h"
*/
import "C"

import (
	"context"
	"runtime"
	"time"
)

// Transactions (a producer with transactional.id): InitTransactions once, then for
// each transaction BeginTransaction, Produce, optionally SendOffsetsToTransaction, and
// CommitTransaction or AbortTransaction. A failed call returns an Error whose class
// says what to do: IsRetriable (call it again), TxnRequiresAbort (abort, rewind the
// input, begin again) or IsFatal (close the producer). The class and the message are
// read in the same C call as the transactional call, on its OS thread (the C library
// keeps them per thread).

// ctxTimeoutMs is the time left before ctx's deadline, in the C library's
// milliseconds: 0 when it passed (or ctx is done), -1 (indefinitely) without one.
func ctxTimeoutMs(ctx context.Context) C.int32_t {
	if ctx == nil {
		return -1
	}
	if ctx.Err() != nil {
		return 0
	}
	d, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	left := time.Until(d)
	if left <= 0 {
		return 0
	}
	return C.int32_t(clampMs(int((left + time.Millisecond - 1) / time.Millisecond)))
}

// errTxnClosed is the error of a transactional call on a closed producer: fatal, as
// the C library classes it.
func errTxnClosed() error {
	e := errClosed("producer")
	e.txn = txnFatal
	return e
}

// InitTransactions gets the producer id for transactional.id from the transaction
// coordinator, fencing older producers with the same id and aborting the transaction
// they left open. Call it once, before the first transaction. It returns by ctx's
// deadline (without one it waits as long as it takes).
//
// Errors: ErrTimedOut (IsRetriable: call it again, it continues), a fatal broker error
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), ErrState (not a transactional producer, or
// already initialised), ErrDestroy (closed).
func (p *Producer) InitTransactions(ctx context.Context) error {
	if !p.g.enter() {
		return errTxnClosed()
	}
	defer p.g.exit()
	var cls C.int
	var eb C.kc_go_errbuf
	code := C.kc_go_txn_init(p.p, ctxTimeoutMs(ctx), &cls, &eb)
	return newTxnError(code, cls, &eb)
}

// BeginTransaction begins a transaction: messages produced until CommitTransaction or
// AbortTransaction belong to it (a transactional producer's Produce outside a
// transaction fails with ErrState).
//
// Errors: ErrState (no InitTransactions, a transaction in progress, or an abortable
// error not aborted yet), a fatal error, ErrDestroy.
func (p *Producer) BeginTransaction() error {
	if !p.g.enter() {
		return errTxnClosed()
	}
	defer p.g.exit()
	var cls C.int
	var eb C.kc_go_errbuf
	code := C.kc_go_txn_begin(p.p, &cls, &eb)
	return newTxnError(code, cls, &eb)
}

// ConsumerGroupMetadata is a consumer's group and membership (group.id,
// group.instance.id, generation and member id), for SendOffsetsToTransaction. Get it
// from Consumer.GetConsumerGroupMetadata after the poll whose records the transaction
// holds. It holds C memory, freed when it is garbage collected.
type ConsumerGroupMetadata struct {
	m *C.kc_group_metadata_t
}

// GetConsumerGroupMetadata returns the consumer's group metadata as of now, for
// Producer.SendOffsetsToTransaction: the group coordinator refuses the offsets (an
// error with TxnRequiresAbort) when the member has left the group or the group has
// rebalanced since.
//
// Errors: ErrInvalidArg (the consumer has no group.id), ErrDestroy (closed).
func (c *Consumer) GetConsumerGroupMetadata() (*ConsumerGroupMetadata, error) {
	if !c.g.enter() {
		return nil, errClosed("consumer")
	}
	defer c.g.exit()
	var m *C.kc_group_metadata_t
	var eb C.kc_go_errbuf
	if err := newError(C.kc_go_consumer_group_metadata(c.c, &m, &eb), &eb); err != nil {
		return nil, err
	}
	md := &ConsumerGroupMetadata{m: m}
	runtime.SetFinalizer(md, func(md *ConsumerGroupMetadata) { C.kc_group_metadata_free(md.m) })
	return md, nil
}

// SendOffsetsToTransaction commits offsets (each the next record to consume: the
// consumed message's offset + 1) of the group in consumerMetadata as part of the
// transaction: they become the group's committed offsets when, and only if, the
// transaction commits. An empty list changes nothing. It returns by ctx's deadline.
//
// Errors: ErrTimedOut (IsRetriable), abortable errors (ILLEGAL_GENERATION,
// UNKNOWN_MEMBER_ID, GROUP_AUTHORIZATION_FAILED, ...: TxnRequiresAbort), fatal errors,
// ErrState (no transaction), ErrInvalidArg (no metadata), ErrDestroy.
func (p *Producer) SendOffsetsToTransaction(ctx context.Context, offsets []TopicPartition, consumerMetadata *ConsumerGroupMetadata) error {
	if consumerMetadata == nil || consumerMetadata.m == nil {
		return NewError(ErrInvalidArg, "SendOffsetsToTransaction: consumerMetadata is nil (get it with Consumer.GetConsumerGroupMetadata)", false)
	}
	if !p.g.enter() {
		return errTxnClosed()
	}
	defer p.g.exit()
	cp := newCParts(offsets)
	defer cp.free()
	var cls C.int
	var eb C.kc_go_errbuf
	code := C.kc_go_txn_send_offsets(p.p, cp.ptr, cp.cnt, consumerMetadata.m, ctxTimeoutMs(ctx), &cls, &eb)
	runtime.KeepAlive(consumerMetadata)
	return newTxnError(code, cls, &eb)
}

// CommitTransaction commits the transaction: it sends what is queued, waits for every
// outstanding message (serving delivery reports on this goroutine, as Flush does), then
// asks the transaction coordinator to commit. It returns by ctx's deadline. A panic of a
// delivery callback it ran is returned by the next Poll, Flush or Close.
//
// Errors: ErrTimedOut (IsRetriable: call it again, the commit continues), abortable
// errors (a message of the transaction failed: TxnRequiresAbort), fatal errors (fenced;
// or the coordinator aborted a transaction that outlived transaction.timeout.ms: never
// committed), ErrState, ErrDestroy.
func (p *Producer) CommitTransaction(ctx context.Context) error {
	if !p.g.enter() {
		return errTxnClosed()
	}
	defer p.g.exit()
	var cls C.int
	var eb C.kc_go_errbuf
	code := C.kc_go_txn_commit(p.p, ctxTimeoutMs(ctx), &cls, &eb)
	return newTxnError(code, cls, &eb)
}

// AbortTransaction aborts the transaction: what is queued is purged (each message gets
// its delivery report, ErrPurgeQueue), what is in flight is waited for (serving reports
// on this goroutine), then the coordinator aborts. Its records are never seen by
// read_committed consumers. It returns by ctx's deadline.
//
// Errors: ErrTimedOut (IsRetriable: call it again), fatal errors, ErrState (no
// transaction), ErrDestroy.
func (p *Producer) AbortTransaction(ctx context.Context) error {
	if !p.g.enter() {
		return errTxnClosed()
	}
	defer p.g.exit()
	var cls C.int
	var eb C.kc_go_errbuf
	code := C.kc_go_txn_abort(p.p, ctxTimeoutMs(ctx), &cls, &eb)
	return newTxnError(code, cls, &eb)
}
