// Package kafkac is the Go binding of kafkac, an Apache Kafka client with a C API.
//
// It wraps the C library (include/kafkac.h) with cgo: a Producer with delivery reports
// on channels or callbacks, a Consumer with group subscription or manual assignment, a
// small AdminClient for topics, transactions (InitTransactions, ...), OAUTHBEARER
// tokens from the application (OAuthBearerToken), and errors that carry kafkac's codes. The surface
// follows confluent-kafka-go where the libraries agree.
//
// # Linking
//
// By default the package links the static library built by cargo,
// ${SRCDIR}/../../../target/release/libkafkac.a (with -lpthread -ldl -lm), so programs
// need no LD_LIBRARY_PATH. Another build of the library is picked by putting its
// directory first: CGO_LDFLAGS="-L/path/to/dir" go build. With the build tag
// kafkac_dynamic the package links libkafkac.so (-lkafkac) instead.
//
// # Callbacks and threads
//
// The C library runs callbacks only inside the calls that serve them, on the calling
// thread: a producer's delivery reports inside Poll, Flush, Close, CommitTransaction
// and AbortTransaction; a consumer's rebalance and commit callbacks inside Poll,
// ReadMessage and Close; the OAUTHBEARER token refresh callback inside the polls. The
// one exception is the token refresh callback after EnableSASLBackgroundCallbacks,
// which a thread of the library runs. A panic in a callback of the application is
// recovered before it can reach C, and comes back as a *CallbackPanicError: returned by
// the Poll, Flush or Close that ran the callback (a Consumer's Poll returns it as an
// event; the token refresh callback's is an event of the producer or consumer).
//
// Handles are safe for concurrent use by several goroutines; Close waits for calls in
// progress on other goroutines and must not be called from inside a callback.
package kafkac

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include
#cgo !kafkac_dynamic LDFLAGS: -L${SRCDIR}/../../../target/release -l:libkafkac.a -lpthread -ldl -lm
#cgo kafkac_dynamic LDFLAGS: -L${SRCDIR}/../../../target/release -lkafkac
#include "glue.h"
*/
import "C"

// Version of the header this package was compiled against.
const (
	VersionMajor = C.KC_VERSION_MAJOR
	VersionMinor = C.KC_VERSION_MINOR
	VersionPatch = C.KC_VERSION_PATCH
)

// LibraryVersion returns the version of the kafkac library linked at run time, as a
// string ("0.1.0") and as a number ((major << 16) | (minor << 8) | patch).
func LibraryVersion() (int, string) {
	return int(C.kc_version_num()), C.GoString(C.kc_version())
}

//go:generate go run gen_codes.go
