/*
 * The producer's life cycle from C, for AddressSanitizer, LeakSanitizer and
 * UndefinedBehaviorSanitizer (tests/ffi_producer.rs builds and runs it against Apache
 * Kafka):
 *
 *   producer_lifecycle <bootstrap> <topic>
 *
 * 1. new, many sends (with keys and a header, polling when the queue is full), flush:
 *    every message reported once, delivered;
 * 2. a long linger, sends, purge of the queue: every message reported purged; more
 *    sends after the purge are delivered; close; a send after the close;
 * 3. free with messages in flight and reports not served (nothing may leak);
 * 4. free while another thread is blocked in kc_producer_send_blocking on a full
 *    queue: the blocked call returns KC_ERR__DESTROY, and the free returns promptly;
 * 5. values handed over with KC_MSG_F_FREE (malloc'ed, freed by the library with free()),
 *    large and small: delivered, then a free with such values still queued. A value the
 *    library failed to free is a leak, one freed twice a double free.
 *
 * Prints one line per step; exits 0 when every check passed.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafkac.h"

#define MANY 20000

struct tally {
    size_t delivered, failed, calls, again;
    kc_err_t last_err;
    unsigned char *seen; /* one flag per message, by opaque */
    size_t seen_len;
};

static int failures;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAILED at line %d: %s: ", __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *detail(void) {
    static char buf[1024];
    if (kc_last_error(buf, sizeof(buf)) == 0)
        buf[0] = '\0';
    return buf;
}

static void on_reports(kc_producer_t *p, const kc_delivery_report_t *const *r, size_t n,
                       void *opaque) {
    struct tally *t = opaque;
    size_t i;
    (void)p;
    t->calls++;
    for (i = 0; i < n; i++) {
        uintptr_t id = (uintptr_t)r[i]->opaque;
        if (r[i]->err == KC_OK)
            t->delivered++;
        else
            t->failed++;
        t->last_err = r[i]->err;
        if (id < t->seen_len) {
            if (t->seen[id])
                t->again++;
            t->seen[id] = 1;
        }
    }
}

static kc_producer_t *make(const char *bootstrap, struct tally *t, const char *const *props) {
    kc_conf_t *conf = kc_conf_new();
    kc_producer_t *p = NULL;
    kc_err_t err = kc_conf_set(conf, "bootstrap.servers", bootstrap);
    for (; err == KC_OK && props != NULL && props[0] != NULL; props += 2)
        err = kc_conf_set(conf, props[0], props[1]);
    if (err == KC_OK)
        err = kc_conf_set_dr_batch_cb(conf, on_reports);
    if (err == KC_OK)
        err = kc_conf_set_opaque(conf, t);
    if (err == KC_OK)
        err = kc_producer_new(conf, &p);
    kc_conf_free(conf);
    CHECK(err == KC_OK, "%s: %s", kc_err_name(err), detail());
    return p;
}

/* Sends message `i` (key, value and one header), polling while the queue is full. */
static kc_err_t send_one(kc_producer_t *p, const char *topic, size_t i) {
    char key[32], value[64];
    kc_header_t h;
    kc_record_t rec;
    kc_err_t err;
    memset(&rec, 0, sizeof(rec));
    snprintf(key, sizeof(key), "key-%zu", i % 101);
    snprintf(value, sizeof(value), "value %zu of the life cycle test", i);
    h.key = "n";
    h.key_len = 1;
    h.value = (const uint8_t *)value;
    h.value_len = 5;
    rec.key = (const uint8_t *)key;
    rec.key_len = strlen(key);
    rec.value = (const uint8_t *)value;
    rec.value_len = strlen(value);
    rec.headers = &h;
    rec.header_cnt = 1;
    while ((err = kc_producer_send(p, topic, KC_PARTITION_UA, &rec, (void *)(uintptr_t)i)) ==
           KC_ERR__QUEUE_FULL)
        kc_producer_poll(p, 50);
    return err;
}

static void tally_init(struct tally *t, size_t n) {
    memset(t, 0, sizeof(*t));
    t->seen = calloc(n, 1);
    t->seen_len = n;
}

static size_t unseen(const struct tally *t, size_t n) {
    size_t i, missing = 0;
    for (i = 0; i < n; i++)
        missing += !t->seen[i];
    return missing;
}

static void many_sends_then_flush(const char *bootstrap, const char *topic) {
    struct tally t;
    kc_producer_t *p;
    size_t i, dropped = 99;
    kc_err_t err;
    tally_init(&t, MANY);
    p = make(bootstrap, &t, NULL);
    if (p == NULL)
        return;
    for (i = 0; i < MANY; i++) {
        err = send_one(p, topic, i);
        CHECK(err == KC_OK, "send %zu: %s: %s", i, kc_err_name(err), detail());
        if (i % 1000 == 999)
            CHECK(kc_producer_poll(p, 0) >= 0, "poll: %s", detail());
    }
    err = kc_producer_flush(p, 30000);
    CHECK(err == KC_OK, "flush: %s: %s", kc_err_name(err), detail());
    CHECK(t.delivered == MANY && t.failed == 0, "delivered %zu failed %zu (last %s)",
          t.delivered, t.failed, kc_err_name(t.last_err));
    CHECK(unseen(&t, MANY) == 0 && t.again == 0, "%zu without a report, %zu twice",
          unseen(&t, MANY), t.again);
    CHECK(kc_producer_outq_len(p) == 0, "outq_len %zu", kc_producer_outq_len(p));
    CHECK(kc_producer_fatal_error(p, NULL, 0) == KC_OK, "a fatal error");
    err = kc_producer_close(p, 5000, &dropped);
    CHECK(err == KC_OK && dropped == 0, "close: %s, dropped %zu", kc_err_name(err), dropped);
    kc_producer_free(p);
    printf("delivered %zu in %zu callbacks\n", t.delivered, t.calls);
    free(t.seen);
}

static void purge_then_close(const char *bootstrap, const char *topic) {
    static const char *const props[] = {"linger.ms", "60000", NULL};
    struct tally t;
    kc_producer_t *p;
    kc_record_t rec;
    size_t i, dropped = 99;
    kc_err_t err;
    double until;
    tally_init(&t, 110);
    p = make(bootstrap, &t, props);
    if (p == NULL)
        return;
    for (i = 0; i < 100; i++)
        CHECK(send_one(p, topic, i) == KC_OK, "send %zu: %s", i, detail());
    CHECK(kc_producer_outq_len(p) == 100, "outq_len %zu", kc_producer_outq_len(p));
    err = kc_producer_purge(p, KC_PURGE_F_QUEUE);
    CHECK(err == KC_OK, "purge: %s", detail());
    until = now_s() + 10;
    while (t.failed + t.delivered < 100 && now_s() < until)
        kc_producer_poll(p, 100);
    CHECK(t.failed == 100 && t.last_err == KC_ERR__PURGE_QUEUE, "purged %zu (last %s)",
          t.failed, kc_err_name(t.last_err));
    CHECK(kc_producer_outq_len(p) == 0, "outq_len %zu", kc_producer_outq_len(p));
    /* The producer goes on after a purge. */
    for (i = 100; i < 110; i++)
        CHECK(send_one(p, topic, i) == KC_OK, "send %zu: %s", i, detail());
    err = kc_producer_flush(p, 30000);
    CHECK(err == KC_OK && t.delivered == 10, "flush: %s, delivered %zu", kc_err_name(err),
          t.delivered);
    CHECK(unseen(&t, 110) == 0 && t.again == 0, "%zu without a report, %zu twice",
          unseen(&t, 110), t.again);
    err = kc_producer_close(p, 1000, &dropped);
    CHECK(err == KC_OK && dropped == 0, "close: %s, dropped %zu", kc_err_name(err), dropped);
    memset(&rec, 0, sizeof(rec));
    err = kc_producer_send(p, topic, 0, &rec, NULL);
    CHECK(err == KC_ERR__DESTROY, "send after close: %s", kc_err_name(err));
    kc_producer_free(p);
    printf("purged %zu, then delivered %zu\n", t.failed, t.delivered);
    free(t.seen);
}

/* Messages still lingering when the producer is closed are sent by the close, and
 * their reports reach the callback from inside it. */
static void close_delivers(const char *bootstrap, const char *topic) {
    static const char *const props[] = {"linger.ms", "60000", NULL};
    struct tally t;
    kc_producer_t *p;
    size_t i, dropped = 99;
    kc_err_t err;
    tally_init(&t, 3000);
    p = make(bootstrap, &t, props);
    if (p == NULL)
        return;
    for (i = 0; i < 3000; i++)
        CHECK(send_one(p, topic, i) == KC_OK, "send %zu: %s", i, detail());
    CHECK(t.delivered == 0, "delivered %zu before the close", t.delivered);
    err = kc_producer_close(p, 30000, &dropped);
    CHECK(err == KC_OK && dropped == 0, "close: %s, dropped %zu", kc_err_name(err), dropped);
    CHECK(t.delivered == 3000 && t.failed == 0, "close delivered %zu, failed %zu",
          t.delivered, t.failed);
    CHECK(unseen(&t, 3000) == 0 && t.again == 0, "%zu without a report, %zu twice",
          unseen(&t, 3000), t.again);
    kc_producer_free(p);
    printf("close delivered %zu\n", t.delivered);
    free(t.seen);
}

static void free_with_work_left(const char *bootstrap, const char *topic) {
    struct tally t;
    kc_producer_t *p;
    size_t i;
    tally_init(&t, 5000);
    p = make(bootstrap, &t, NULL);
    if (p == NULL)
        return;
    for (i = 0; i < 5000; i++)
        CHECK(send_one(p, topic, i) == KC_OK, "send %zu: %s", i, detail());
    kc_producer_free(p);
    /* No callback after the free, and none during it. */
    CHECK(t.calls == 0, "%zu callbacks", t.calls);
    printf("freed with %zu messages outstanding\n", (size_t)5000);
    free(t.seen);
}

struct blocked {
    kc_producer_t *p;
    const char *topic;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered;
    kc_err_t err;
    double returned;
};

static void *send_blocked(void *arg) {
    struct blocked *b = arg;
    kc_record_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.value = (const uint8_t *)"blocked";
    rec.value_len = 7;
    pthread_mutex_lock(&b->lock);
    b->entered = 1;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    b->err = kc_producer_send_blocking(b->p, b->topic, 0, &rec, NULL, -1);
    b->returned = now_s();
    return NULL;
}

static void free_while_blocked(const char *bootstrap) {
    /* A topic that does not exist: its message waits for it, so the queue stays full (a
     * long linger would not hold it: a full queue sends its lingering batches). */
    static const char *const topic = "kafkac-lifecycle-absent-topic";
    static const char *const props[] = {"queue.buffering.max.messages", "1", NULL};
    struct tally t;
    struct blocked b;
    pthread_t th;
    double began, took;
    tally_init(&t, 1);
    memset(&b, 0, sizeof(b));
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    b.p = make(bootstrap, &t, props);
    b.topic = topic;
    if (b.p == NULL)
        return;
    CHECK(send_one(b.p, topic, 0) == KC_OK, "send: %s", detail());
    if (pthread_create(&th, NULL, send_blocked, &b) != 0) {
        CHECK(0, "pthread_create");
        kc_producer_free(b.p);
        return;
    }
    pthread_mutex_lock(&b.lock);
    while (!b.entered)
        pthread_cond_wait(&b.cond, &b.lock);
    pthread_mutex_unlock(&b.lock);
    /* Long enough for the other thread to be waiting inside the call. */
    {
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    began = now_s();
    kc_producer_free(b.p);
    took = now_s() - began;
    pthread_join(th, NULL);
    CHECK(b.err == KC_ERR__DESTROY, "blocked send returned %s", kc_err_name(b.err));
    CHECK(took < 2.0, "kc_producer_free took %.3f s", took);
    CHECK(b.returned - began < 2.0, "the blocked send returned %.3f s after the free began",
          b.returned - began);
    printf("blocked send: %s; kc_producer_free took %.3f s\n", kc_err_name(b.err), took);
    pthread_mutex_destroy(&b.lock);
    pthread_cond_destroy(&b.cond);
    free(t.seen);
}

/* A malloc'ed value of `len` bytes, handed over: the producer frees it. */
static kc_err_t send_handed(kc_producer_t *p, const char *topic, size_t len, size_t i) {
    kc_record_t rec;
    kc_err_t err;
    uint8_t *v = malloc(len);
    if (v == NULL)
        return KC_ERR__FAIL;
    memset(v, (int)(i & 0xff), len);
    memset(&rec, 0, sizeof(rec));
    rec.value = v;
    rec.value_len = len;
    err = kc_producer_send_flags(p, topic, 0, &rec, (void *)(uintptr_t)i, KC_MSG_F_FREE, -1);
    if (err != KC_OK)
        free(v); /* refused: still ours */
    return err;
}

static void handed_over_values(const char *bootstrap, const char *topic) {
    static const char *const props[] = {"linger.ms", "60000", NULL};
    struct tally t;
    kc_producer_t *p;
    kc_record_t rec;
    size_t i, delivered;
    kc_err_t err;
    uint8_t *v;
    tally_init(&t, 50);
    p = make(bootstrap, &t, NULL);
    if (p == NULL)
        return;
    for (i = 0; i < 50; i++) {
        err = send_handed(p, topic, i % 2 ? 100 : 100000 + i, i);
        CHECK(err == KC_OK, "send %zu: %s: %s", i, kc_err_name(err), detail());
    }
    /* Refused (unknown flags): the value stays ours. */
    v = malloc(16);
    memset(&rec, 0, sizeof(rec));
    rec.value = v;
    rec.value_len = 16;
    err = kc_producer_send_flags(p, topic, 0, &rec, NULL, 0x40, 0);
    CHECK(err == KC_ERR__INVALID_ARG, "unknown flags: %s", kc_err_name(err));
    free(v);
    err = kc_producer_flush(p, 30000);
    CHECK(err == KC_OK && t.delivered == 50, "flush: %s, delivered %zu", kc_err_name(err),
          t.delivered);
    CHECK(unseen(&t, 50) == 0 && t.again == 0, "%zu without a report, %zu twice",
          unseen(&t, 50), t.again);
    delivered = t.delivered;
    kc_producer_free(p);
    free(t.seen);
    /* Freed with the values still queued (a long linger): the free releases them. */
    tally_init(&t, 20);
    p = make(bootstrap, &t, props);
    if (p == NULL)
        return;
    for (i = 0; i < 20; i++)
        CHECK(send_handed(p, topic, 200000, i) == KC_OK, "send %zu: %s", i, detail());
    kc_producer_free(p);
    printf("handed over 70 values, delivered %zu\n", delivered);
    free(t.seen);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: producer_lifecycle <bootstrap> <topic>\n");
        return 2;
    }
    many_sends_then_flush(argv[1], argv[2]);
    purge_then_close(argv[1], argv[2]);
    close_delivers(argv[1], argv[2]);
    free_with_work_left(argv[1], argv[2]);
    free_while_blocked(argv[1]);
    handed_over_values(argv[1], argv[2]);
    printf("%d failed checks\n", failures);
    return failures == 0 ? 0 : 1;
}
