package kafkac

// The OAUTHBEARER token refresh callback and events, against the broker's SASL_PLAINTEXT
// listener in KAFKAC_OAUTH_BOOTSTRAP (OAUTHBEARER with Kafka's unsecured JWT validator).

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func oauthBootstrap(t *testing.T) string {
	t.Helper()
	b := os.Getenv("KAFKAC_OAUTH_BOOTSTRAP")
	if b == "" {
		t.Fatal("KAFKAC_OAUTH_BOOTSTRAP is not set: this test needs a SASL_PLAINTEXT listener " +
			"taking OAUTHBEARER (cargo test --release --test go_binding starts one)")
	}
	return b
}

// unsecuredJWT is a token Kafka's unsecured validator accepts: {"alg":"none"}, the
// principal in "sub", and no signature.
func unsecuredJWT(principal string, life time.Duration) OAuthBearerToken {
	now := time.Now()
	exp := now.Add(life)
	enc := base64.RawURLEncoding.EncodeToString
	claims := fmt.Sprintf(`{"sub":%q,"iat":%d,"exp":%d}`, principal, now.Unix(), exp.Unix())
	return OAuthBearerToken{
		TokenValue: enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(claims)) + ".",
		Expiration: time.Unix(exp.Unix(), 0),
		Principal:  principal,
		Extensions: map[string]string{"traceId": "go-test"},
	}
}

func oauthConf(t *testing.T, extra ConfigMap) ConfigMap {
	conf := ConfigMap{
		"bootstrap.servers":        oauthBootstrap(t),
		"security.protocol":        "sasl_plaintext",
		"sasl.mechanism":           "OAUTHBEARER",
		"sasl.oauthbearer.config":  "principal=alice",
		"reconnect.backoff.max.ms": 500,
	}
	for k, v := range extra {
		conf[k] = v
	}
	return conf
}

// A producer gets its token from the refresh callback, a consumer from the refresh
// events it answers with SetOAuthBearerToken: the records go round the SASL listener.
func TestOAuthBearerTokenFromCallbackAndEvents(t *testing.T) {
	topic := newTopic(t, 1)
	var calls atomic.Int32
	var config atomic.Value
	cb := OAuthBearerTokenRefreshCb(func(cfg string) (OAuthBearerToken, error) {
		calls.Add(1)
		config.Store(cfg)
		return unsecuredJWT("alice", time.Minute), nil
	})
	p, err := NewProducer(oauthConf(t, ConfigMap{"oauthbearer_token_refresh_cb": cb}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	produceValues(t, p, topic, "oauth-0", "oauth-1", "oauth-2")
	if calls.Load() < 1 {
		t.Fatal("the producer delivered without calling the refresh callback")
	}
	if got := config.Load(); got != "principal=alice" {
		t.Errorf("the callback got config %q, want sasl.oauthbearer.config", got)
	}

	c, err := NewConsumer(oauthConf(t, ConfigMap{"auto.offset.reset": "earliest"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Assign([]TopicPartition{{Topic: topic, Partition: 0, Offset: OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	refreshes := 0
	var values []string
	deadline := time.Now().Add(callTimeout)
	for len(values) < 3 && time.Now().Before(deadline) {
		switch ev := c.Poll(200).(type) {
		case OAuthBearerTokenRefresh:
			refreshes++
			if ev.Config != "principal=alice" {
				t.Errorf("refresh event with config %q", ev.Config)
			}
			if err := c.SetOAuthBearerToken(unsecuredJWT("bob", time.Minute)); err != nil {
				t.Fatalf("SetOAuthBearerToken: %v", err)
			}
		case *Message:
			values = append(values, string(ev.Value))
		case Error:
			t.Logf("consumer error event: %v", ev)
		}
	}
	if refreshes < 1 {
		t.Error("the consumer read without an OAuthBearerTokenRefresh event")
	}
	if strings.Join(values, ",") != "oauth-0,oauth-1,oauth-2" {
		t.Fatalf("the consumer read %q", values)
	}
}

// With background callbacks the refresh callback runs on a thread of the C library,
// and a producer that is answered through its Events() channel gets its token too.
func TestOAuthBearerBackgroundCallbacksAndProducerEvents(t *testing.T) {
	topic := newTopic(t, 1)
	var calls atomic.Int32
	p, err := NewProducer(oauthConf(t, ConfigMap{"oauthbearer_token_refresh_cb": func(string) (OAuthBearerToken, error) {
		calls.Add(1)
		return unsecuredJWT("alice", time.Minute), nil
	}}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.EnableSASLBackgroundCallbacks(); err != nil {
		t.Fatalf("EnableSASLBackgroundCallbacks: %v", err)
	}
	for i := 0; i < 500 && calls.Load() == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if calls.Load() != 1 {
		t.Fatalf("the background thread called the callback %d times, want 1 at once", calls.Load())
	}
	produceValues(t, p, topic, "background")

	// Events: the application's goroutine answers each request.
	q, err := NewProducer(oauthConf(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan struct{}, 10)
	go func() {
		for ev := range q.Events() {
			if _, ok := ev.(OAuthBearerTokenRefresh); ok {
				if err := q.SetOAuthBearerToken(unsecuredJWT("carol", time.Minute)); err != nil {
					t.Errorf("SetOAuthBearerToken: %v", err)
				}
				answered <- struct{}{}
			}
		}
	}()
	produceValues(t, q, topic, "events")
	q.Close()
	if len(answered) < 1 {
		t.Fatal("the producer delivered without an OAuthBearerTokenRefresh event")
	}
}

// waitEvent reads events until one satisfies ok, within the deadline, polling the
// producer meanwhile.
func waitEvent(t *testing.T, p *Producer, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(callTimeout)
	for {
		_, _ = p.Poll(50)
		select {
		case ev := <-p.Events():
			t.Logf("event: %T %v", ev, ev)
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatal("no such event within the deadline")
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A callback that returns an error, panics, or returns a token the library refuses:
// each comes out as an event, the failure is reported to the library (the messages are
// not delivered), and the process goes on.
func TestOAuthBearerCallbackFailuresAreEvents(t *testing.T) {
	topic := newTopic(t, 1)
	cases := []struct {
		name   string
		cb     OAuthBearerTokenRefreshCb
		want   func(Event) bool
		report string
	}{
		{"error", func(string) (OAuthBearerToken, error) {
			return OAuthBearerToken{}, errors.New("identity provider down (go test)")
		}, func(ev Event) bool {
			e, ok := ev.(Error)
			return ok && e.Code() == ErrAuthentication && strings.Contains(e.Error(), "identity provider down (go test)")
		}, "identity provider down (go test)"},
		{"panic", func(string) (OAuthBearerToken, error) {
			panic("refresh exploded (go test)")
		}, func(ev Event) bool {
			e, ok := ev.(*CallbackPanicError)
			return ok && e.Callback == "oauthbearer token refresh" && e.Value == "refresh exploded (go test)"
		}, "refresh exploded (go test)"},
		{"expired", func(string) (OAuthBearerToken, error) {
			return unsecuredJWT("alice", -time.Minute), nil
		}, func(ev Event) bool {
			e, ok := ev.(Error)
			return ok && e.Code() == ErrInvalidArg && strings.Contains(e.Error(), "not in the future")
		}, "not in the future"},
	}
	// One case after the other (not subtests: the suite checks the top-level names).
	for _, tc := range cases {
		func() {
			p, err := NewProducer(oauthConf(t, ConfigMap{
				"oauthbearer_token_refresh_cb": tc.cb,
				"message.timeout.ms":           3000,
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ch := make(chan Event, 1)
			if err := p.Produce(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte(tc.name)}, ch); err != nil {
				t.Fatal(err)
			}
			waitEvent(t, p, tc.want)
			// Without a token the message is never delivered; its report says why.
			_ = p.Flush(int(callTimeout / time.Millisecond))
			m := (<-ch).(*Message)
			if m.TopicPartition.Error == nil {
				t.Fatalf("%s: a message was delivered without a token", tc.name)
			}
			if !strings.Contains(m.TopicPartition.Error.Error(), tc.report) {
				t.Errorf("%s: %q not in the report %q", tc.name, tc.report, m.TopicPartition.Error)
			}
		}()
	}

	// A consumer's callback panic comes out of Poll.
	c, err := NewConsumer(oauthConf(t, ConfigMap{"oauthbearer_token_refresh_cb": OAuthBearerTokenRefreshCb(func(string) (OAuthBearerToken, error) {
		panic("consumer refresh exploded (go test)")
	})}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Assign([]TopicPartition{{Topic: topic, Partition: 0, Offset: OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(callTimeout)
	for {
		if ev, ok := c.Poll(100).(*CallbackPanicError); ok {
			if ev.Value != "consumer refresh exploded (go test)" {
				t.Fatalf("panic event %v", ev)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no *CallbackPanicError from the consumer's Poll")
		}
	}

	// A failure reported by the application in answer to the event.
	q, err := NewProducer(oauthConf(t, ConfigMap{"message.timeout.ms": 3000}))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ch := make(chan Event, 1)
	if err := q.Produce(&Message{TopicPartition: TopicPartition{Topic: topic, Partition: 0}, Value: []byte("failure")}, ch); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, q, func(ev Event) bool {
		_, ok := ev.(OAuthBearerTokenRefresh)
		return ok
	})
	if err := q.SetOAuthBearerTokenFailure("no token for you (go test)"); err != nil {
		t.Fatalf("SetOAuthBearerTokenFailure: %v", err)
	}
	_ = q.Flush(int(callTimeout / time.Millisecond))
	if m := (<-ch).(*Message); m.TopicPartition.Error == nil {
		t.Fatal("a message was delivered after a token failure")
	} else if !strings.Contains(m.TopicPartition.Error.Error(), "no token for you (go test)") {
		t.Errorf("the report %q does not give the application's failure", m.TopicPartition.Error)
	}
}

// The errors a user can hit: a token the library refuses, token calls on a producer
// that does not use OAUTHBEARER, a callback of the wrong type or with the unsecured JWT.
func TestOAuthBearerErrors(t *testing.T) {
	check := func(what string, err error, code ErrorCode, words ...string) {
		t.Helper()
		e, ok := err.(Error)
		if !ok || e.Code() != code {
			t.Errorf("%s: %v, want %v", what, err, code)
			return
		}
		for _, w := range words {
			if !strings.Contains(e.Error(), w) {
				t.Errorf("%s: %q not in %q", what, w, e.Error())
			}
		}
	}
	p, err := NewProducer(oauthConf(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	tok := unsecuredJWT("alice", time.Minute)
	expired := unsecuredJWT("alice", -time.Minute)
	check("expired token", p.SetOAuthBearerToken(expired), ErrInvalidArg, "not in the future")
	noPrincipal := tok
	noPrincipal.Principal = ""
	check("no principal", p.SetOAuthBearerToken(noPrincipal), ErrInvalidArg, "principal")
	withNul := tok
	withNul.TokenValue += "\x00"
	check("NUL in the token", p.SetOAuthBearerToken(withNul), ErrInvalidArg, "NUL")
	badExt := tok
	badExt.Extensions = map[string]string{"auth": "x"}
	check("extension auth", p.SetOAuthBearerToken(badExt), ErrInvalidArg, "auth")
	check("empty failure", p.SetOAuthBearerTokenFailure(""), ErrInvalidArg, "errstr")
	if err := p.SetOAuthBearerToken(tok); err != nil {
		t.Errorf("a valid token: %v", err)
	}
	p.Close()
	check("closed", p.SetOAuthBearerToken(tok), ErrDestroy, "closed")

	plain := newProducer(t, nil)
	check("token without OAUTHBEARER", plain.SetOAuthBearerToken(tok), ErrState)
	check("failure without OAUTHBEARER", plain.SetOAuthBearerTokenFailure("x"), ErrState)
	check("background without OAUTHBEARER", plain.EnableSASLBackgroundCallbacks(), ErrState)
	c := newConsumer(t, nil)
	check("consumer token without OAUTHBEARER", c.SetOAuthBearerToken(tok), ErrState)

	_, err = NewProducer(oauthConf(t, ConfigMap{"oauthbearer_token_refresh_cb": "not a function"}))
	check("callback of the wrong type", err, ErrLocalInvalidConfig, "oauthbearer_token_refresh_cb")
	_, err = NewConsumer(oauthConf(t, ConfigMap{
		"oauthbearer_token_refresh_cb":         OAuthBearerTokenRefreshCb(func(string) (OAuthBearerToken, error) { return tok, nil }),
		"enable.sasl.oauthbearer.unsecure.jwt": true,
	}))
	check("callback with the unsecured JWT", err, ErrLocalInvalidConfig, "unsecure")
	// The unsecured JWT alone needs no callback and gets no events.
	u, err := NewProducer(oauthConf(t, ConfigMap{"enable.sasl.oauthbearer.unsecure.jwt": true}))
	if err != nil {
		t.Fatalf("the unsecured JWT: %v", err)
	}
	u.Close()
}
