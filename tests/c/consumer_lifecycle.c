/*
 * The consumer's life cycle from C, for AddressSanitizer, LeakSanitizer and
 * UndefinedBehaviorSanitizer (tests/ffi_consumer.rs builds and runs it against Apache
 * Kafka, after writing <count> records, keys "key-<i>" and values "value-<i>", to
 * <topic>):
 *
 *   consumer_lifecycle <bootstrap> <topic> <group> <count>
 *
 * 1. new, subscribe, poll (messages held across polls, then freed, oldest first):
 *    every record once, key, value and header read; the rebalance callback assigns;
 *    commit (synchronous and asynchronous, the commit callback reports the latter);
 *    committed offsets equal the end offsets; assignment, position; close (the revoke
 *    callback runs); free;
 * 2. free while another thread is blocked in kc_consumer_poll: the poll returns NULL
 *    with KC_ERR__DESTROY, promptly;
 * 3. messages held when the consumer is freed (not closed), read and freed afterwards.
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

#define HOLD 64
#define MAX_PARTS 16

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

struct tally {
    int assigned, revoked, lost;
    size_t assigned_parts;
    int commits;
    kc_err_t commit_err;
    size_t committed_parts;
    kc_consumer_t *consumer;
    int wrong_handle;
};

static void on_rebalance(kc_consumer_t *c, kc_err_t kind, const kc_topic_partition_t *parts,
                         size_t cnt, void *opaque) {
    struct tally *t = opaque;
    size_t i;
    if (c != t->consumer)
        t->wrong_handle++;
    for (i = 0; i < cnt; i++)
        CHECK(parts[i].topic != NULL && parts[i].partition >= 0, "rebalance entry %zu", i);
    if (kind == KC_ERR__ASSIGN_PARTITIONS) {
        t->assigned++;
        t->assigned_parts += cnt;
    } else if (kind == KC_ERR__REVOKE_PARTITIONS) {
        t->revoked++;
        /* A revoke callback may commit what it processed. */
        CHECK(kc_consumer_commit(c, NULL, 0, 0) == KC_OK, "commit in revoke: %s", detail());
    } else if (kind == KC_ERR__ASSIGNMENT_LOST) {
        t->lost++;
    } else {
        CHECK(0, "rebalance kind %d", (int)kind);
    }
}

static void on_commit(kc_consumer_t *c, kc_err_t err, const kc_topic_partition_t *offsets,
                      size_t cnt, void *opaque) {
    struct tally *t = opaque;
    size_t i;
    if (c != t->consumer)
        t->wrong_handle++;
    t->commits++;
    t->commit_err = err;
    t->committed_parts += cnt;
    for (i = 0; i < cnt; i++)
        CHECK(offsets[i].offset >= 0 && offsets[i].err == err, "commit entry %zu", i);
}

static kc_consumer_t *make(const char *bootstrap, const char *group, struct tally *t) {
    kc_conf_t *conf = kc_conf_new();
    kc_consumer_t *c = NULL;
    kc_err_t err = kc_conf_set(conf, "bootstrap.servers", bootstrap);
    if (err == KC_OK && group != NULL)
        err = kc_conf_set(conf, "group.id", group);
    if (err == KC_OK)
        err = kc_conf_set(conf, "auto.offset.reset", "earliest");
    if (err == KC_OK)
        err = kc_conf_set(conf, "enable.auto.commit", "false");
    if (err == KC_OK && t != NULL) {
        err = kc_conf_set_rebalance_cb(conf, on_rebalance);
        if (err == KC_OK)
            err = kc_conf_set_offset_commit_cb(conf, on_commit);
        if (err == KC_OK)
            err = kc_conf_set_opaque(conf, t);
    }
    if (err == KC_OK)
        err = kc_consumer_new(conf, &c);
    kc_conf_free(conf);
    CHECK(err == KC_OK, "%s: %s", kc_err_name(err), detail());
    return c;
}

/* Checks one record against what the test wrote; returns its index or -1. */
static long check_record(const kc_message_t *m, const char *topic) {
    char want[64];
    const void *k, *v;
    size_t klen = 99, vlen = 99, hk_len = 0, hv_len = 0;
    const char *hk = NULL;
    const void *hv = NULL;
    long idx;
    int32_t tstype = -1;
    CHECK(strcmp(kc_message_topic(m), topic) == 0, "topic %s", kc_message_topic(m));
    CHECK(kc_message_errstr(m) == NULL && !kc_message_is_fatal(m), "record has no error");
    CHECK(kc_message_timestamp(m, &tstype) > 0 && tstype == KC_TIMESTAMP_CREATE_TIME,
          "timestamp type %d", (int)tstype);
    k = kc_message_key(m, &klen);
    v = kc_message_value(m, &vlen);
    if (k == NULL || v == NULL || klen < 5 || vlen < 7) {
        CHECK(0, "key or value missing");
        return -1;
    }
    idx = strtol((const char *)v + 6, NULL, 10);
    snprintf(want, sizeof(want), "key-%ld", idx);
    CHECK(klen == strlen(want) && memcmp(k, want, klen) == 0, "key of %ld", idx);
    snprintf(want, sizeof(want), "value-%ld", idx);
    CHECK(vlen == strlen(want) && memcmp(v, want, vlen) == 0, "value of %ld", idx);
    CHECK(kc_message_header_cnt(m) == 1, "header count %zu", kc_message_header_cnt(m));
    CHECK(kc_message_header(m, 0, &hk, &hk_len, &hv, &hv_len) == KC_OK, "header: %s",
          detail());
    CHECK(hk_len == 1 && hk[0] == 'n' && hv_len == vlen && memcmp(hv, v, vlen) == 0,
          "header of %ld", idx);
    CHECK(kc_message_header(m, 1, &hk, &hk_len, &hv, &hv_len) == KC_ERR__INVALID_ARG,
          "header 1 of 1");
    return idx;
}

static void group_flow(const char *bootstrap, const char *topic, const char *group,
                       long count) {
    struct tally t;
    kc_consumer_t *c;
    kc_message_t *held[HOLD];
    size_t nheld = 0, i, cnt = 0;
    unsigned char *seen = calloc((size_t)count, 1);
    long got = 0, again = 0;
    int64_t end[MAX_PARTS];
    int32_t nparts = 0;
    kc_topic_partition_t *assigned = NULL;
    kc_topic_partition_t q[MAX_PARTS];
    double deadline;
    kc_err_t err;
    const char *topics[1];
    memset(&t, 0, sizeof(t));
    memset(end, 0, sizeof(end));
    c = make(bootstrap, group, &t);
    if (c == NULL || seen == NULL) {
        free(seen);
        return;
    }
    t.consumer = c;
    topics[0] = topic;
    CHECK(kc_consumer_subscribe(c, topics, 1) == KC_OK, "subscribe: %s", detail());
    deadline = now_s() + 40;
    while (got < count && now_s() < deadline) {
        kc_message_t *batch[16];
        size_t n = 0;
        if (got % 2 == 0) {
            kc_message_t *m = kc_consumer_poll(c, 200);
            if (m != NULL)
                batch[n++] = m;
        } else {
            n = kc_consumer_poll_batch(c, 200, batch, 16);
        }
        for (i = 0; i < n; i++) {
            kc_message_t *m = batch[i];
            if (kc_message_err(m) != KC_OK) {
                CHECK(0, "event %s: %s", kc_err_name(kc_message_err(m)), kc_message_errstr(m));
                kc_message_free(m);
                continue;
            }
            {
                long idx = check_record(m, topic);
                int32_t p = kc_message_partition(m);
                if (idx >= 0 && idx < count) {
                    if (seen[idx])
                        again++;
                    seen[idx] = 1;
                }
                got++;
                if (p >= 0 && p < MAX_PARTS) {
                    if (kc_message_offset(m) + 1 > end[p])
                        end[p] = kc_message_offset(m) + 1;
                    if (p + 1 > nparts)
                        nparts = p + 1;
                }
            }
            /* Hold messages across polls; free the oldest when full. */
            if (nheld == HOLD) {
                kc_message_free(held[0]);
                memmove(held, held + 1, (HOLD - 1) * sizeof(held[0]));
                nheld--;
            }
            held[nheld++] = m;
        }
    }
    CHECK(got == count && again == 0, "consumed %ld of %ld, %ld twice", got, count, again);
    for (i = 0; i < (size_t)count; i++)
        if (!seen[i]) {
            CHECK(0, "record %zu never consumed", i);
            break;
        }
    /* Held messages read after later polls are intact. */
    for (i = 0; i < nheld; i++)
        check_record(held[i], topic);
    for (i = 0; i < nheld; i++)
        kc_message_free(held[i]);
    CHECK(t.assigned >= 1 && t.assigned_parts >= (size_t)nparts, "assigned %d (%zu parts)",
          t.assigned, t.assigned_parts);

    err = kc_consumer_commit(c, NULL, 0, 0);
    CHECK(err == KC_OK, "commit: %s", detail());
    err = kc_consumer_commit(c, NULL, 0, 1);
    CHECK(err == KC_OK, "async commit: %s", detail());
    for (i = 0; i < (size_t)nparts; i++) {
        q[i].topic = topic;
        q[i].partition = (int32_t)i;
        q[i].offset = end[i];
        q[i].leader_epoch = -1;
        q[i].err = KC_OK;
    }
    err = kc_consumer_commit(c, q, (size_t)nparts, 1);
    CHECK(err == KC_OK, "async commit of offsets: %s", detail());
    deadline = now_s() + 10;
    while (t.commits < 1 && now_s() < deadline) {
        kc_message_t *m = kc_consumer_poll(c, 100);
        kc_message_free(m);
    }
    CHECK(t.commits >= 1 && t.commit_err == KC_OK && t.committed_parts >= (size_t)nparts,
          "commit callback: %d calls, %s, %zu offsets", t.commits, kc_err_name(t.commit_err),
          t.committed_parts);

    for (i = 0; i < (size_t)nparts; i++)
        q[i].offset = -7;
    err = kc_consumer_committed(c, q, (size_t)nparts, 10000);
    CHECK(err == KC_OK, "committed: %s", detail());
    for (i = 0; i < (size_t)nparts; i++)
        CHECK(q[i].offset == end[i] && q[i].err == KC_OK, "committed %zu: %lld, end %lld", i,
              (long long)q[i].offset, (long long)end[i]);
    err = kc_consumer_position(c, q, (size_t)nparts);
    CHECK(err == KC_OK, "position: %s", detail());
    for (i = 0; i < (size_t)nparts; i++)
        CHECK(q[i].offset == end[i] && q[i].err == KC_OK, "position %zu: %lld", i,
              (long long)q[i].offset);
    err = kc_consumer_assignment(c, &assigned, &cnt);
    CHECK(err == KC_OK && cnt == (size_t)nparts, "assignment: %zu parts (%s)", cnt, detail());
    for (i = 0; i < cnt; i++)
        CHECK(strcmp(assigned[i].topic, topic) == 0 && assigned[i].partition == (int32_t)i,
              "assignment entry %zu", i);
    kc_topic_partitions_free(assigned, cnt);

    err = kc_consumer_close(c, 5000);
    CHECK(err == KC_OK, "close: %s", detail());
    CHECK(t.revoked == 1, "revoked %d times on close", t.revoked);
    CHECK(kc_consumer_poll(c, 0) == NULL && kc_last_error_code() == KC_ERR__DESTROY,
          "poll after close: %s", kc_err_name(kc_last_error_code()));
    CHECK(kc_consumer_close(c, 0) == KC_OK, "close again");
    CHECK(t.wrong_handle == 0, "callbacks got another handle");
    kc_consumer_free(c);
    free(seen);
    printf("consumed %ld records once each from %d partitions, assigned %d, revoked %d, "
           "commit callbacks %d\n",
           got, (int)nparts, t.assigned, t.revoked, t.commits);
}

struct blocked {
    kc_consumer_t *c;
    int started;
    kc_message_t *got;
    kc_err_t err;
    double returned;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static void *poll_blocked(void *arg) {
    struct blocked *b = arg;
    pthread_mutex_lock(&b->lock);
    b->started = 1;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    b->got = kc_consumer_poll(b->c, 30000);
    b->err = kc_last_error_code();
    b->returned = now_s();
    return NULL;
}

static void free_while_polling(const char *bootstrap, const char *topic) {
    struct blocked b;
    pthread_t th;
    kc_topic_partition_t p;
    double began, took;
    memset(&b, 0, sizeof(b));
    b.c = make(bootstrap, NULL, NULL);
    if (b.c == NULL)
        return;
    p.topic = topic;
    p.partition = 0;
    p.offset = KC_OFFSET_END;
    p.leader_epoch = -1;
    p.err = KC_OK;
    CHECK(kc_consumer_assign(b.c, &p, 1) == KC_OK, "assign: %s", detail());
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    if (pthread_create(&th, NULL, poll_blocked, &b) != 0) {
        CHECK(0, "pthread_create");
        kc_consumer_free(b.c);
        return;
    }
    pthread_mutex_lock(&b.lock);
    while (!b.started)
        pthread_cond_wait(&b.cond, &b.lock);
    pthread_mutex_unlock(&b.lock);
    {
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    began = now_s();
    kc_consumer_free(b.c);
    took = now_s() - began;
    pthread_join(th, NULL);
    CHECK(b.got == NULL && b.err == KC_ERR__DESTROY, "blocked poll returned %p, %s",
          (void *)b.got, kc_err_name(b.err));
    CHECK(b.returned - began < 2.0, "the blocked poll returned %.3f s after the free began",
          b.returned - began);
    printf("blocked poll: %s; kc_consumer_free took %.3f s\n", kc_err_name(b.err), took);
    kc_message_free(b.got);
    pthread_mutex_destroy(&b.lock);
    pthread_cond_destroy(&b.cond);
}

static void messages_outlive_consumer(const char *bootstrap, const char *topic,
                                      const char *group, long count) {
    kc_message_t *held[HOLD];
    size_t n = 0, i;
    kc_consumer_t *c = make(bootstrap, group, NULL);
    kc_topic_partition_t p;
    double deadline = now_s() + 20;
    if (c == NULL)
        return;
    p.topic = topic;
    p.partition = 0;
    p.offset = KC_OFFSET_BEGINNING;
    p.leader_epoch = -1;
    p.err = KC_OK;
    CHECK(kc_consumer_assign(c, &p, 1) == KC_OK, "assign: %s", detail());
    while (n < 10 && n < (size_t)count && now_s() < deadline) {
        kc_message_t *m = kc_consumer_poll(c, 200);
        if (m == NULL)
            continue;
        if (kc_message_err(m) != KC_OK)
            kc_message_free(m);
        else
            held[n++] = m;
    }
    CHECK(n >= 1, "no record from partition 0");
    kc_consumer_free(c);
    for (i = 0; i < n; i++) {
        check_record(held[i], topic);
        CHECK(kc_message_partition(held[i]) == 0, "partition");
        kc_message_free(held[i]);
    }
    printf("%zu messages read and freed after the consumer\n", n);
}

int main(int argc, char **argv) {
    char group2[256];
    long count;
    if (argc != 5) {
        fprintf(stderr, "usage: %s <bootstrap> <topic> <group> <count>\n", argv[0]);
        return 2;
    }
    count = strtol(argv[4], NULL, 10);
    group_flow(argv[1], argv[2], argv[3], count);
    free_while_polling(argv[1], argv[2]);
    snprintf(group2, sizeof(group2), "%s-2", argv[3]);
    messages_outlive_consumer(argv[1], argv[2], group2, count);
    printf("%d failed checks\n", failures);
    return failures == 0 ? 0 : 1;
}
