/* The OAUTHBEARER token refresh callback through the C API, under the sanitizers.
 *
 * Usage: oauth_refresh <bootstrap> <topic> produce <count> <seconds>
 *        oauth_refresh <bootstrap> <topic> consume <count>
 *        oauth_refresh <bootstrap> <topic> background
 *
 * The callback makes unsecured JWTs (alg none) for the principal and lifetime named in
 * sasl.oauthbearer.config, which it receives as its argument.
 *  - produce: a producer sends <count> messages over <seconds> seconds, polling; the
 *    callback runs inside kc_producer_poll on this thread, at start and at 80 % of each
 *    token's lifetime; every message must be delivered.
 *  - consume: a consumer reads <count> messages of partition 0; the callback runs inside
 *    kc_consumer_poll.
 *  - background: a low-level client that never polls, with background callbacks; the
 *    first call reports a failure (the client's calls fail saying why), the next one,
 *    10 s later, sets a token, and later ones refresh it.
 * Prints "ok" at the end. */
#define _POSIX_C_SOURCE 200809L
#include "kafkac.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CALLS 64

struct state {
    pthread_mutex_t lock;
    pthread_t main_thread;
    int calls;
    int on_main_thread;
    double at[MAX_CALLS]; /* seconds since start of each call */
    int fail_first;       /* the first call reports a failure */
    int errors;           /* unexpected results inside the callback */
    char last_error[512];
};

static double t0;
static int failures;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void check(int ok, const char *what) {
    if (!ok) {
        char msg[1024];
        kc_last_error(msg, sizeof msg);
        printf("FAIL %s (last error: %s)\n", what, msg);
        failures++;
    }
}

static void b64url(const char *in, char *out) {
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(in), o = 0;
    const unsigned char *s = (const unsigned char *)in;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = tab[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = tab[v & 63];
    }
    out[o] = '\0';
}

/* Reads "key=value" from a space separated configuration string. */
static int config_value(const char *config, const char *key, char *out, size_t len) {
    size_t k = strlen(key);
    for (const char *p = config; *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > k && !strncmp(p, key, k) && p[k] == '=' && n - k - 1 < len) {
            memcpy(out, p + k + 1, n - k - 1);
            out[n - k - 1] = '\0';
            return 1;
        }
        p += n;
    }
    return 0;
}

static void expect_in_cb(struct state *st, const char *what, kc_err_t got, kc_err_t want,
                         const char *in_msg) {
    char msg[512];
    kc_last_error(msg, sizeof msg);
    if (got != want || (in_msg && !strstr(msg, in_msg))) {
        pthread_mutex_lock(&st->lock);
        st->errors++;
        /* (The result is looked at so that a cut message is not a warning.) */
        if (snprintf(st->last_error, sizeof st->last_error, "%s: got %d (%s), want %d", what,
                     (int)got, msg, (int)want) < 0)
            st->last_error[0] = '\0';
        pthread_mutex_unlock(&st->lock);
    }
}

static void refresh_cb(kc_oauthbearer_t *ob, const char *config, void *opaque) {
    struct state *st = opaque;
    pthread_mutex_lock(&st->lock);
    int call = st->calls++;
    if (call < MAX_CALLS)
        st->at[call] = now_s() - t0;
    if (pthread_equal(pthread_self(), st->main_thread))
        st->on_main_thread++;
    int fail = st->fail_first && call == 0;
    pthread_mutex_unlock(&st->lock);

    char principal[64], life[32];
    if (!config_value(config, "principal", principal, sizeof principal) ||
        !config_value(config, "lifeSeconds", life, sizeof life)) {
        expect_in_cb(st, "sasl.oauthbearer.config argument", KC_ERR__FAIL, 0, NULL);
        kc_oauthbearer_set_token_failure(ob, "the configuration names no principal");
        return;
    }
    if (fail) {
        /* The argument errors, then the failure the client's calls will report. */
        expect_in_cb(st, "null ob", kc_oauthbearer_set_token(NULL, "t", wall_ms() + 1000,
                                                             principal, NULL, 0),
                     KC_ERR__NULL_ARG, "ob");
        expect_in_cb(st, "empty token",
                     kc_oauthbearer_set_token(ob, "", wall_ms() + 1000, principal, NULL, 0),
                     KC_ERR__INVALID_ARG, "empty");
        expect_in_cb(st, "expired token",
                     kc_oauthbearer_set_token(ob, "abc", 1000, principal, NULL, 0),
                     KC_ERR__INVALID_ARG, "not in the future");
        expect_in_cb(st, "empty errstr", kc_oauthbearer_set_token_failure(ob, ""),
                     KC_ERR__INVALID_ARG, "errstr is empty");
        expect_in_cb(st, "null errstr", kc_oauthbearer_set_token_failure(ob, NULL),
                     KC_ERR__NULL_ARG, "errstr");
        expect_in_cb(st, "failure",
                     kc_oauthbearer_set_token_failure(
                         ob, "identity provider unavailable (c test)"),
                     0, NULL);
        return;
    }
    long long life_s = atoll(life);
    long long iat = (long long)(wall_ms() / 1000);
    char claims[256], header[64], payload[400], token[512];
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"iat\":%lld,\"exp\":%lld}", principal,
             iat, iat + life_s);
    b64url("{\"alg\":\"none\"}", header);
    b64url(claims, payload);
    snprintf(token, sizeof token, "%s.%s.", header, payload);
    const char *ext[] = {"traceId", "c-refresh"};
    expect_in_cb(st, "set token",
                 kc_oauthbearer_set_token(ob, token, (iat + life_s) * 1000, principal, ext, 2),
                 0, NULL);
}

static int calls_of(struct state *st) {
    pthread_mutex_lock(&st->lock);
    int n = st->calls;
    pthread_mutex_unlock(&st->lock);
    return n;
}

static kc_conf_t *make_conf(const char *bootstrap, struct state *st, const char *life) {
    kc_conf_t *conf = kc_conf_new();
    char config[128];
    snprintf(config, sizeof config, "principal=alice lifeSeconds=%s", life);
    if (kc_conf_set(conf, "bootstrap.servers", bootstrap) ||
        kc_conf_set(conf, "security.protocol", "sasl_plaintext") ||
        kc_conf_set(conf, "sasl.mechanism", "OAUTHBEARER") ||
        kc_conf_set(conf, "sasl.oauthbearer.config", config) ||
        kc_conf_set(conf, "reconnect.backoff.max.ms", "500") ||
        kc_conf_set_oauthbearer_token_refresh_cb(conf, refresh_cb) ||
        kc_conf_set_opaque(conf, st)) {
        fprintf(stderr, "conf refused\n");
        exit(1);
    }
    return conf;
}

struct delivery {
    int ok, failed;
};

static void dr_cb(kc_producer_t *p, const kc_delivery_report_t *r, void *opaque) {
    (void)p;
    struct state *st = opaque;
    struct delivery *d = r->opaque;
    (void)st;
    if (r->err == 0) {
        d->ok++;
    } else {
        if (d->failed++ < 3)
            printf("delivery failed: %d %s\n", (int)r->err, r->errstr);
    }
}

static void produce(const char *bootstrap, const char *topic, int count, int seconds,
                    struct state *st) {
    kc_conf_t *conf = make_conf(bootstrap, st, "10");
    kc_conf_set(conf, "linger.ms", "5");
    kc_conf_set_dr_msg_cb(conf, dr_cb);
    kc_producer_t *p = NULL;
    check(kc_producer_new(conf, &p) == 0, "producer");
    kc_conf_free(conf);
    if (!p)
        return;
    /* Nothing runs before the application polls. */
    sleep_ms(100);
    check(calls_of(st) == 0, "no refresh before the first poll");
    check(kc_producer_poll(p, 0) == 0, "first poll");
    check(calls_of(st) == 1, "the first poll ran the refresh callback");
    struct delivery d = {0, 0};
    double start = now_s();
    char value[64];
    for (int i = 0; i < count; i++) {
        /* Spread the messages over the run. */
        double due = start + (double)seconds * i / count;
        while (now_s() < due)
            kc_producer_poll(p, 10);
        snprintf(value, sizeof value, "value-%d", i);
        kc_record_t rec = {NULL, 0, (const uint8_t *)value, strlen(value), NULL, 0, 0};
        kc_err_t e = kc_producer_send(p, topic, 0, &rec, &d);
        if (e) {
            printf("FAIL send %d: %d\n", i, (int)e);
            failures++;
            break;
        }
        kc_producer_poll(p, 0);
    }
    check(kc_producer_flush(p, 30000) == 0, "flush");
    printf("delivered: %d failed: %d\n", d.ok, d.failed);
    check(d.ok == count && d.failed == 0, "every message delivered");
    kc_producer_free(p);
}

static void consume(const char *bootstrap, const char *topic, int count, struct state *st) {
    kc_conf_t *conf = make_conf(bootstrap, st, "10");
    kc_consumer_t *c = NULL;
    check(kc_consumer_new(conf, &c) == 0, "consumer");
    kc_conf_free(conf);
    if (!c)
        return;
    kc_topic_partition_t tp = {topic, 0, KC_OFFSET_BEGINNING, -1, 0};
    check(kc_consumer_assign(c, &tp, 1) == 0, "assign");
    int got = 0, errors = 0;
    double until = now_s() + 60;
    while (got < count && now_s() < until) {
        kc_message_t *m = kc_consumer_poll(c, 100);
        if (!m)
            continue;
        if (kc_message_err(m) == 0)
            got++;
        else if (errors++ < 3)
            printf("consumer event: %d %s\n", (int)kc_message_err(m), kc_message_errstr(m));
        kc_message_free(m);
    }
    printf("consumed: %d\n", got);
    check(got == count, "every message consumed");
    check(kc_consumer_close(c, 5000) == 0, "close");
    kc_consumer_free(c);
}

static void background(const char *bootstrap, struct state *st) {
    st->fail_first = 1;
    kc_conf_t *conf = make_conf(bootstrap, st, "6");
    kc_client_t *c = NULL;
    check(kc_client_new(conf, &c) == 0, "client");
    kc_conf_free(conf);
    if (!c)
        return;
    check(kc_client_sasl_background_callbacks_enable(NULL) == KC_ERR__NULL_ARG, "null client");
    check(kc_client_sasl_background_callbacks_enable(c) == 0, "enable");
    check(kc_client_sasl_background_callbacks_enable(c) == 0, "enable again");
    for (int i = 0; i < 500 && calls_of(st) == 0; i++)
        sleep_ms(10);
    check(calls_of(st) == 1, "the background thread ran the callback at once");
    /* The failure the callback reported is the error of the client's calls. */
    kc_metadata_t *md = NULL;
    char msg[1024];
    kc_err_t e = kc_client_metadata(c, NULL, 0, 3000, &md);
    kc_last_error(msg, sizeof msg);
    printf("metadata after the failure: %d %s\n", (int)e, msg);
    check(e == KC_ERR__AUTHENTICATION && strstr(msg, "identity provider unavailable (c test)"),
          "metadata fails with the callback's failure");
    /* Retried 10 s later, on the background thread: then the calls work. */
    double until = now_s() + 30;
    while ((e = kc_client_metadata(c, NULL, 0, 2000, &md)) && now_s() < until)
        sleep_ms(200);
    check(e == 0, "metadata with the token of the second call");
    kc_metadata_free(md);
    md = NULL;
    /* Tokens live 6 s: refreshed at 4.8 s, on the background thread, while the
     * application keeps working without polling. */
    for (int i = 0; i < 12; i++) {
        sleep_ms(1000);
        e = kc_client_metadata(c, NULL, 0, 5000, &md);
        check(e == 0, "metadata while the token is refreshed");
        kc_metadata_free(md);
        md = NULL;
    }
    int before = calls_of(st);
    double t = now_s();
    kc_client_free(c);
    double took = now_s() - t;
    printf("free took %.3f s\n", took);
    check(took < 2.0, "free joins the idle background thread at once");
    sleep_ms(300);
    check(calls_of(st) == before, "no call after free");
    check(st->at[1] - st->at[0] > 9.0 && st->at[1] - st->at[0] < 12.0,
          "the failure was retried 10 s later");
    check(before >= 4, "refreshed in the background");
    check(st->on_main_thread == 0, "every call on the background thread");
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: oauth_refresh <bootstrap> <topic> produce|consume|background "
                        "...\n");
        return 2;
    }
    struct state st;
    memset(&st, 0, sizeof st);
    pthread_mutex_init(&st.lock, NULL);
    st.main_thread = pthread_self();
    t0 = now_s();
    const char *mode = argv[3];
    if (!strcmp(mode, "produce") && argc == 6) {
        produce(argv[1], argv[2], atoi(argv[4]), atoi(argv[5]), &st);
        check(st.on_main_thread == st.calls, "every call on the polling thread");
    } else if (!strcmp(mode, "consume") && argc == 5) {
        consume(argv[1], argv[2], atoi(argv[4]), &st);
        check(st.calls >= 1 && st.on_main_thread == st.calls, "called inside the poll");
    } else if (!strcmp(mode, "background") && argc == 4) {
        background(argv[1], &st);
    } else {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    printf("refresh calls: %d at", st.calls);
    for (int i = 0; i < st.calls && i < MAX_CALLS; i++)
        printf(" %.1f", st.at[i]);
    printf(" s\n");
    if (st.errors) {
        printf("FAIL inside the callback (%d): %s\n", st.errors, st.last_error);
        failures++;
    }
    pthread_mutex_destroy(&st.lock);
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
