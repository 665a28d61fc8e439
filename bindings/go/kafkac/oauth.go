package kafkac

/*
#include "glue.h"
*/
import "C"

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// OAUTHBEARER tokens (sasl.mechanism=OAUTHBEARER without
// enable.sasl.oauthbearer.unsecure.jwt). The C library asks for a token when the handle
// starts, again at 80 % of the lifetime of the token set, and 10 s after a failure (or
// after a request that got neither a token nor a failure). Each request is served in one
// of two ways:
//
//   - With the configuration property oauthbearer_token_refresh_cb set to an
//     OAuthBearerTokenRefreshCb, that function is called and its token is set (its
//     error is reported as the failure).
//   - Otherwise an OAuthBearerTokenRefresh event comes out (a Producer's Events(), a
//     Consumer's Poll); answer it with SetOAuthBearerToken or
//     SetOAuthBearerTokenFailure.
//
// Requests are made inside the producer's Poll and Flush and the consumer's Poll (and
// ReadMessage, which skips the event: use the callback with it), or, after
// EnableSASLBackgroundCallbacks, on a thread of the C library.

// OAuthBearerToken is an OAUTHBEARER token and what the client needs to know of it.
type OAuthBearerToken struct {
	// TokenValue is the token (an RFC 6750 b64token, e.g. a JWT).
	TokenValue string
	// Expiration is when it expires (in the future).
	Expiration time.Time
	// Principal is the principal it names (not empty).
	Principal string
	// Extensions are RFC 7628 SASL extensions (keys of ASCII letters, not "auth").
	Extensions map[string]string
}

// OAuthBearerTokenRefresh is the event asking for a new token (see
// Producer.SetOAuthBearerToken). Config is the value of sasl.oauthbearer.config.
type OAuthBearerTokenRefresh struct {
	Config string
}

func (o OAuthBearerTokenRefresh) String() string {
	return "OAuthBearerTokenRefresh"
}

// OAuthBearerTokenRefreshCb returns a token for the client (config: the value of
// sasl.oauthbearer.config), or an error when it could not get one. Set it as the
// configuration property oauthbearer_token_refresh_cb. It runs on the goroutine that
// polls (or on a thread of the C library after EnableSASLBackgroundCallbacks), never
// twice at once for one client. A panic in it is recovered: the failure is reported to
// the library and the *CallbackPanicError comes out as an event (Events(), Poll), as an
// Error with code ErrAuthentication does when it returns an error, or ErrInvalidArg
// when the library refuses its token.
type OAuthBearerTokenRefreshCb func(config string) (OAuthBearerToken, error)

// oauthCbKey is the property that takes the refresh callback (librdkafka's name).
const oauthCbKey = "oauthbearer_token_refresh_cb"

// oauthRefresher serves a handle's token refresh requests.
type oauthRefresher struct {
	// cb is the application's callback; nil: requests become events.
	cb OAuthBearerTokenRefreshCb
	// on is whether the handle has the refresh trampoline.
	on bool
}

// oauthConf reads oauthbearer_token_refresh_cb. Without it, requests become events when
// the handle authenticates with OAUTHBEARER tokens from the application (not the
// unsecured JWT of sasl.oauthbearer.config, nor OIDC).
func (m ConfigMap) oauthConf() (oauthRefresher, error) {
	if v, ok := m[oauthCbKey]; ok && v != nil {
		switch f := v.(type) {
		case OAuthBearerTokenRefreshCb:
			if f != nil {
				return oauthRefresher{cb: f, on: true}, nil
			}
		case func(string) (OAuthBearerToken, error):
			if f != nil {
				return oauthRefresher{cb: f, on: true}, nil
			}
		default:
			return oauthRefresher{}, NewError(ErrLocalInvalidConfig, fmt.Sprintf(
				"invalid value of type %T for property %s: expected a kafkac.OAuthBearerTokenRefreshCb", v, oauthCbKey), false)
		}
	}
	mech := valueString(m.Get("sasl.mechanism", m.Get("sasl.mechanisms", "")))
	if !strings.EqualFold(mech, "OAUTHBEARER") {
		return oauthRefresher{}, nil
	}
	if b, err := strconv.ParseBool(valueString(m.Get("enable.sasl.oauthbearer.unsecure.jwt", false))); err == nil && b {
		return oauthRefresher{}, nil
	}
	if strings.EqualFold(valueString(m.Get("sasl.oauthbearer.method", "")), "oidc") {
		return oauthRefresher{}, nil
	}
	return oauthRefresher{on: true}, nil
}

// refresh serves one request (inside a poll, or on the library's background thread).
// ob is valid until the handle is freed.
func (o *oauthRefresher) refresh(ob *C.kc_oauthbearer_t, config string, push func(Event)) {
	if o.cb == nil {
		push(OAuthBearerTokenRefresh{Config: config})
		return
	}
	var tok OAuthBearerToken
	var err error
	target := unsafe.Pointer(ob)
	if perr := callSafely("oauthbearer token refresh", func() { tok, err = o.cb(config) }); perr != nil {
		_ = setTokenFailure(C.KC_GO_OB, target, perr.Error())
		push(perr)
		return
	}
	if err != nil {
		msg := err.Error()
		if msg == "" {
			msg = "the token refresh callback returned an empty error"
		}
		_ = setTokenFailure(C.KC_GO_OB, target, msg)
		push(NewError(ErrAuthentication, "oauthbearer token refresh callback failed: "+msg, false))
		return
	}
	if err := setToken(C.KC_GO_OB, target, tok); err != nil {
		_ = setTokenFailure(C.KC_GO_OB, target, err.Error())
		push(err.(Error))
	}
}

func noNul(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return NewError(ErrInvalidArg, fmt.Sprintf("the token's %s holds a NUL byte", what), false)
	}
	return nil
}

// setToken hands tok to the C library: target is an ob (kind KC_GO_OB), a producer or a
// consumer.
func setToken(kind C.int, target unsafe.Pointer, tok OAuthBearerToken) error {
	if err := noNul("value", tok.TokenValue); err != nil {
		return err
	}
	if err := noNul("principal", tok.Principal); err != nil {
		return err
	}
	keys := make([]string, 0, len(tok.Extensions))
	for k, v := range tok.Extensions {
		if err := noNul("extension "+strconv.Quote(k), k+v); err != nil {
			return err
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	n := C.size_t(2 * len(keys))
	ext := C.kc_go_strv_new(n)
	defer C.kc_go_strv_free(ext, n)
	for i, k := range keys {
		C.kc_go_strv_set(ext, C.size_t(2*i), C.CString(k))
		C.kc_go_strv_set(ext, C.size_t(2*i+1), C.CString(tok.Extensions[k]))
	}
	if len(keys) == 0 {
		ext = nil
	}
	value := C.CString(tok.TokenValue)
	defer C.free(unsafe.Pointer(value))
	principal := C.CString(tok.Principal)
	defer C.free(unsafe.Pointer(principal))
	var ms int64
	if !tok.Expiration.IsZero() {
		ms = tok.Expiration.UnixMilli()
	}
	var eb C.kc_go_errbuf
	code := C.kc_go_oauthbearer_set_token(kind, target, value, C.int64_t(ms), principal, ext, n, &eb)
	return newError(code, &eb)
}

func setTokenFailure(kind C.int, target unsafe.Pointer, errstr string) error {
	if err := noNul("failure", errstr); err != nil {
		return err
	}
	s := C.CString(errstr)
	defer C.free(unsafe.Pointer(s))
	var eb C.kc_go_errbuf
	return newError(C.kc_go_oauthbearer_set_token_failure(kind, target, s, &eb), &eb)
}

// SetOAuthBearerToken sets the OAUTHBEARER token the producer's connections (the
// transaction coordinator's too) authenticate with, answering an
// OAuthBearerTokenRefresh event (or ahead of one). It may be called from any goroutine.
//
// Errors: ErrInvalidArg (empty or malformed token, expiration not in the future, empty
// principal, an invalid extension: the message says which), ErrState (sasl.mechanism is
// not OAUTHBEARER, or the token is the unsecured JWT of sasl.oauthbearer.config),
// ErrDestroy (closed).
func (p *Producer) SetOAuthBearerToken(token OAuthBearerToken) error {
	if !p.g.enter() {
		return errClosed("producer")
	}
	defer p.g.exit()
	return setToken(C.KC_GO_PRODUCER, unsafe.Pointer(p.p), token)
}

// SetOAuthBearerTokenFailure reports that no token could be had: connections that
// authenticate fail with ErrAuthentication and errstr until a token is set, and a new
// OAuthBearerTokenRefresh comes 10 s later. Errors: ErrInvalidArg (empty errstr),
// ErrState (as SetOAuthBearerToken), ErrDestroy.
func (p *Producer) SetOAuthBearerTokenFailure(errstr string) error {
	if !p.g.enter() {
		return errClosed("producer")
	}
	defer p.g.exit()
	return setTokenFailure(C.KC_GO_PRODUCER, unsafe.Pointer(p.p), errstr)
}

// EnableSASLBackgroundCallbacks makes the token refresh requests run on a thread of the
// C library instead of inside Poll and Flush: for an application that does not poll
// regularly. Errors: ErrState (sasl.mechanism is not OAUTHBEARER), ErrDestroy.
func (p *Producer) EnableSASLBackgroundCallbacks() error {
	if !p.g.enter() {
		return errClosed("producer")
	}
	defer p.g.exit()
	var eb C.kc_go_errbuf
	return newError(C.kc_go_producer_sasl_background(p.p, &eb), &eb)
}

// SetOAuthBearerToken sets the OAUTHBEARER token of the consumer's connections (group
// coordinator and fetch connections); see Producer.SetOAuthBearerToken.
func (c *Consumer) SetOAuthBearerToken(token OAuthBearerToken) error {
	if !c.g.enter() {
		return errClosed("consumer")
	}
	defer c.g.exit()
	return setToken(C.KC_GO_CONSUMER, unsafe.Pointer(c.c), token)
}

// SetOAuthBearerTokenFailure reports that no token could be had; see
// Producer.SetOAuthBearerTokenFailure.
func (c *Consumer) SetOAuthBearerTokenFailure(errstr string) error {
	if !c.g.enter() {
		return errClosed("consumer")
	}
	defer c.g.exit()
	return setTokenFailure(C.KC_GO_CONSUMER, unsafe.Pointer(c.c), errstr)
}

// EnableSASLBackgroundCallbacks makes the token refresh requests run on a thread of the
// C library instead of inside Poll; see Producer.EnableSASLBackgroundCallbacks.
func (c *Consumer) EnableSASLBackgroundCallbacks() error {
	if !c.g.enter() {
		return errClosed("consumer")
	}
	defer c.g.exit()
	var eb C.kc_go_errbuf
	return newError(C.kc_go_consumer_sasl_background(c.c, &eb), &eb)
}
