package kafkac

/*
#include "glue.h"
*/
import "C"

import (
	"fmt"
	"runtime/debug"
)

// ErrorCode is a kafkac error code (kc_err_t): 0 is success, Kafka's error codes keep
// their wire numbers, local errors are negative. The constants (codes.go) are generated
// from include/kafkac.h and take their values from its macros.
type ErrorCode int32

// String returns the code's name without the KC_ERR_ prefix, as kc_err_name gives it
// ("OFFSET_OUT_OF_RANGE", "_TIMED_OUT"; "_UNKNOWN" for a code the library does not know).
func (c ErrorCode) String() string {
	return C.GoString(C.kc_err_name(C.kc_err_t(c)))
}

// Description returns the library's description of the code (kc_err_str).
func (c ErrorCode) Description() string {
	return C.GoString(C.kc_err_str(C.kc_err_t(c)))
}

// Error is a failure reported by kafkac: its code, and the detail the library gave
// (which broker, topic, partition, property).
type Error struct {
	code  ErrorCode
	str   string
	fatal bool
	// txn is the class of a transactional call's error: txnNone, txnRetriable,
	// txnAbortable or txnFatal.
	txn uint8
}

// The classes of a transactional call's error (kc_txn_error_is_*).
const (
	txnNone uint8 = iota
	txnRetriable
	txnAbortable
	txnFatal
)

// NewError makes an Error; an empty message is replaced by the code's description.
func NewError(code ErrorCode, message string, fatal bool) Error {
	if message == "" {
		message = code.Description()
	}
	return Error{code: code, str: message, fatal: fatal || code == ErrFatal}
}

func (e Error) Error() string { return e.str }

// String returns the message, as Error does (an Error is also a consumer Event).
func (e Error) String() string { return e.str }

// Code returns the kafkac error code.
func (e Error) Code() ErrorCode { return e.code }

// Name returns the code's name (kc_err_name, e.g. "_INVALID_CONFIG").
func (e Error) Name() string { return e.code.String() }

// IsFatal tells whether the client cannot go on: close it and make a new one. For a
// transactional call's error (InitTransactions, ...): the producer is fenced by a newer
// one with the same transactional.id, or not authorised, and the transaction in
// progress was not committed.
func (e Error) IsFatal() bool { return e.fatal || e.txn == txnFatal }

// IsRetriable tells whether a transactional call failed in a way that calling it again
// (with the same arguments) may fix: it continues where it stopped (a timeout).
func (e Error) IsRetriable() bool { return e.txn == txnRetriable }

// TxnRequiresAbort tells whether a transactional call failed in a way that needs the
// transaction aborted (AbortTransaction), the input rewound to the last committed
// point, and a new transaction begun.
func (e Error) TxnRequiresAbort() bool { return e.txn == txnAbortable }

// IsTimeout tells whether the error is a timeout (a call's or a message's).
func (e Error) IsTimeout() bool {
	return e.code == ErrTimedOut || e.code == ErrMsgTimedOut || e.code == ErrRequestTimedOut
}

// newError builds the Error of a failed C call from its code and the detail the C
// wrapper copied from kc_last_error in the same call.
func newError(code C.kc_err_t, eb *C.kc_go_errbuf) error {
	if code == C.KC_OK {
		return nil
	}
	msg := ""
	if eb != nil {
		msg = C.GoString(&eb.msg[0])
	}
	return NewError(ErrorCode(code), msg, false)
}

// newTxnError builds the Error of a failed transactional call from its code, the class
// and the detail the C wrapper read in the same call (on the thread that made it).
func newTxnError(code C.kc_err_t, cls C.int, eb *C.kc_go_errbuf) error {
	err := newError(code, eb)
	if err == nil {
		return nil
	}
	e := err.(Error)
	e.txn = uint8(cls)
	return e
}

// CallbackPanicError is a panic raised by a callback of the application (a delivery
// callback, a rebalance callback) and recovered before it could reach the C library.
// The call that ran the callback returns it; the client goes on working.
type CallbackPanicError struct {
	// Callback names the callback ("delivery", "rebalance").
	Callback string
	// Value is what the callback panicked with.
	Value interface{}
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

func (e *CallbackPanicError) Error() string {
	return fmt.Sprintf("kafkac: %s callback panicked: %v", e.Callback, e.Value)
}

func (e *CallbackPanicError) String() string { return e.Error() }

// Unwrap returns the panic value when it is an error.
func (e *CallbackPanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// callSafely runs f, turning a panic into a *CallbackPanicError.
func callSafely(callback string, f func()) (perr *CallbackPanicError) {
	defer func() {
		if r := recover(); r != nil {
			perr = &CallbackPanicError{Callback: callback, Value: r, Stack: debug.Stack()}
		}
	}()
	f()
	return nil
}
