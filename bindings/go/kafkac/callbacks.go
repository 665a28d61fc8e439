package kafkac

// The functions the C trampolines (glue.c) call. A file with //export may only
// declare in its preamble; the trampolines are defined in glue.c.

/*
#include "glue.h"
*/
import "C"

import "runtime/cgo"

// Each callback recovers from any panic of its own, so none reaches C: the panics of
// the application's callbacks are recovered (and returned) closer to them; this is a
// last line for a panic in the binding itself, which would otherwise crash through C.
func guardCallback() {
	_ = recover()
}

//export kafkacGoDelivery
func kafkacGoDelivery(h C.uintptr_t, r *C.kc_delivery_report_t) {
	defer guardCallback()
	if p, ok := cgo.Handle(h).Value().(*Producer); ok {
		p.deliver(r)
	}
}

//export kafkacGoProducerError
func kafkacGoProducerError(h C.uintptr_t, code C.kc_err_t, reason *C.char) {
	defer guardCallback()
	if p, ok := cgo.Handle(h).Value().(*Producer); ok {
		p.events.push(NewError(ErrorCode(code), C.GoString(reason), true))
	}
}

//export kafkacGoRebalance
func kafkacGoRebalance(h C.uintptr_t, kind C.kc_err_t, parts *C.kc_topic_partition_t, cnt C.size_t) {
	defer guardCallback()
	if c, ok := cgo.Handle(h).Value().(*Consumer); ok {
		c.rebalance(kind, parts, cnt)
	}
}

//export kafkacGoOffsetCommit
func kafkacGoOffsetCommit(h C.uintptr_t, code C.kc_err_t, parts *C.kc_topic_partition_t, cnt C.size_t) {
	defer guardCallback()
	if c, ok := cgo.Handle(h).Value().(*Consumer); ok {
		c.committed(code, parts, cnt)
	}
}

//export kafkacGoOAuthBearerRefresh
func kafkacGoOAuthBearerRefresh(h C.uintptr_t, ob *C.kc_oauthbearer_t, config *C.char) {
	defer guardCallback()
	switch v := cgo.Handle(h).Value().(type) {
	case *Producer:
		v.oauth.refresh(ob, C.GoString(config), v.events.push)
	case *Consumer:
		v.oauth.refresh(ob, C.GoString(config), v.push)
	}
}
