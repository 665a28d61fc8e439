/*
 * producer -b <bootstrap> -t <topic> [-p partition] [-k delimiter] [-z codec] [-D]
 *          [-X key=value ...]
 *
 * Like `kcat -P`: each line of stdin is one message, sent with the asynchronous
 * producer (kc_producer_send). With -k, the text before the first occurrence of the
 * delimiter is the key and the rest the value (a line without it has a null key).
 * Without -p the partitioner chooses (by key; keyless messages stick to a partition for
 * a while). -z sets compression.type (none, gzip, snappy, lz4, zstd).
 *
 * Delivery reports are served by a callback while lines are read (and whenever the
 * queue is full); at the end of input the producer is flushed, then closed with a
 * bounded timeout. SIGINT or SIGTERM stops reading and goes straight to the close.
 *
 * stderr: "error: <NAME>: <detail>" for the first message that failed, then a summary
 * "delivered <n>, failed <m>, <s> s, <r> msgs/s".
 * stdout with -D: one line per input line, in input order: "<partition> <offset>" when
 * the message was delivered, "error <NAME> <detail>" when it was not.
 * Exit status: 0 when every message was delivered, 1 when any failed, 2 for bad usage
 * or configuration.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include "common.h"

/* How long the producer may take to deliver what is left when it is closed. */
#define CLOSE_TIMEOUT_MS 5000

/* The outcome of one message, kept until the lines before it are printed (-D). */
struct slot {
    int done;
    int32_t partition;
    int64_t offset;
    kc_err_t err;
    char *errstr; /* failures only; NULL if it could not be copied */
};

struct state {
    int print;                  /* -D */
    unsigned long long delivered, failed;
    int shown_error;
    /*
     * -D prints in input order, but reports of different partitions come in any order:
     * message `seq` waits in ring[seq % cap] until every message before it is printed.
     * The window holds the messages not printed yet, next <= seq < sent.
     */
    struct slot *ring;
    size_t cap;
    uint64_t next;
    uint64_t sent;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints text on one line: newlines become spaces. */
static void put_text(const char *s) {
    for (; *s != '\0'; s++)
        putchar(*s == '\n' || *s == '\r' ? ' ' : *s);
}

static void print_slot(const struct slot *s) {
    if (s->err == KC_OK) {
        printf("%d %lld\n", (int)s->partition, (long long)s->offset);
    } else {
        printf("error %s ", kc_err_name(s->err));
        put_text(s->errstr != NULL ? s->errstr : kc_err_str(s->err));
        putchar('\n');
    }
}

/* Makes room in the window for message `seq` (called before it is sent). */
static int make_room(struct state *st, uint64_t seq) {
    size_t cap;
    struct slot *ring;
    uint64_t s;
    if (seq - st->next < st->cap)
        return 0;
    cap = st->cap != 0 ? st->cap * 2 : 1024;
    ring = calloc(cap, sizeof(*ring));
    if (ring == NULL)
        return -1;
    for (s = st->next; s < seq; s++)
        ring[s % cap] = st->ring[s % st->cap];
    free(st->ring);
    st->ring = ring;
    st->cap = cap;
    return 0;
}

/* Counts the outcome of message `seq` and, with -D, prints what is now in order. */
static void outcome(struct state *st, uint64_t seq, int32_t partition, int64_t offset,
                    kc_err_t err, const char *errstr) {
    struct slot *s;
    if (err == KC_OK) {
        st->delivered++;
    } else {
        st->failed++;
        if (!st->shown_error) {
            fprintf(stderr, "error: %s: %s\n", kc_err_name(err),
                    errstr != NULL ? errstr : kc_err_str(err));
            st->shown_error = 1;
        }
    }
    if (!st->print)
        return;
    if (seq < st->next || seq >= st->sent || st->ring[seq % st->cap].done) {
        fprintf(stderr, "error: _FAIL: a second report for message %llu\n",
                (unsigned long long)seq);
        return;
    }
    s = &st->ring[seq % st->cap];
    s->done = 1;
    s->partition = partition;
    s->offset = offset;
    s->err = err;
    s->errstr = err != KC_OK && errstr != NULL ? strdup(errstr) : NULL;
    while (st->next < st->sent && st->ring[st->next % st->cap].done) {
        s = &st->ring[st->next % st->cap];
        print_slot(s);
        free(s->errstr);
        memset(s, 0, sizeof(*s));
        st->next++;
    }
}

static void on_delivery(kc_producer_t *producer, const kc_delivery_report_t *report,
                        void *opaque) {
    (void)producer;
    outcome(opaque, (uint64_t)(uintptr_t)report->opaque, report->partition, report->offset,
            report->err, report->errstr);
}

/* Splits a line into key and value at the first `delim` (NULL: no key). */
static void split(kc_record_t *rec, const char *line, size_t len, const char *delim) {
    size_t dlen = delim != NULL ? strlen(delim) : 0, i;
    memset(rec, 0, sizeof(*rec));
    rec->value = (const uint8_t *)line;
    rec->value_len = len;
    for (i = 0; dlen > 0 && i + dlen <= len; i++) {
        if (memcmp(line + i, delim, dlen) == 0) {
            rec->key = (const uint8_t *)line;
            rec->key_len = i;
            rec->value = (const uint8_t *)line + i + dlen;
            rec->value_len = len - i - dlen;
            return;
        }
    }
}

static int usage(kc_conf_t *conf) {
    fprintf(stderr, "usage: producer -b <bootstrap> -t <topic> [-p partition] "
                    "[-k delimiter] [-z codec] [-D] [-X key=value]\n");
    kc_conf_free(conf);
    return 2;
}

int main(int argc, char **argv) {
    kc_conf_t *conf = kc_conf_new();
    kc_producer_t *producer = NULL;
    const char *bootstrap = NULL, *topic = NULL, *delim = NULL, *codec = NULL;
    int32_t partition = KC_PARTITION_UA;
    struct state st;
    struct sigaction sa;
    kc_err_t err;
    char *buf = NULL, detail[1024];
    size_t cap = 0, dropped = 0;
    ssize_t got;
    double started, took;
    int i;

    memset(&st, 0, sizeof(st));
    argc = take_properties(conf, argc, argv);
    if (argc < 0) {
        kc_conf_free(conf);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-D") == 0) {
            st.print = 1;
        } else if (i + 1 < argc && strcmp(argv[i], "-b") == 0) {
            bootstrap = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "-t") == 0) {
            topic = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "-k") == 0) {
            delim = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "-z") == 0) {
            codec = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "-p") == 0) {
            long long p = parse_int(argv[++i], "partition");
            if (p < 0 || p > INT32_MAX) {
                fprintf(stderr, "error: _INVALID_ARG: partition must be >= 0, got %lld\n", p);
                kc_conf_free(conf);
                return 2;
            }
            partition = (int32_t)p;
        } else {
            return usage(conf);
        }
    }
    if (bootstrap == NULL || topic == NULL)
        return usage(conf);
    if (delim != NULL && delim[0] == '\0') {
        fprintf(stderr, "error: _INVALID_ARG: the key delimiter must not be empty\n");
        kc_conf_free(conf);
        return 2;
    }
    err = kc_conf_set(conf, "bootstrap.servers", bootstrap);
    if (err == KC_OK && codec != NULL)
        err = kc_conf_set(conf, "compression.type", codec);
    if (err == KC_OK)
        err = kc_conf_set_dr_msg_cb(conf, on_delivery);
    if (err == KC_OK)
        err = kc_conf_set_opaque(conf, &st);
    if (err == KC_OK)
        err = kc_producer_new(conf, &producer);
    kc_conf_free(conf);
    if (err != KC_OK) {
        print_error(err);
        return 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a signal ends a read from stdin at once. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    started = now_s();
    while (!stop && (got = getline(&buf, &cap, stdin)) >= 0) {
        size_t len = (size_t)got;
        uint64_t seq = st.sent;
        kc_record_t rec;
        if (len > 0 && buf[len - 1] == '\n')
            len--;
        split(&rec, buf, len, delim);
        if (st.print && make_room(&st, seq) != 0) {
            fprintf(stderr, "error: _FAIL: out of memory\n");
            break;
        }
        st.sent++;
        for (;;) {
            err = kc_producer_send(producer, topic, partition, &rec, (void *)(uintptr_t)seq);
            if (err != KC_ERR__QUEUE_FULL || stop)
                break;
            /* Serving reports frees room in the queue. */
            kc_producer_poll(producer, 100);
        }
        if (err != KC_OK) {
            /* Not queued: no report will come. */
            if (kc_last_error(detail, sizeof(detail)) == 0)
                snprintf(detail, sizeof(detail), "%s", kc_err_str(err));
            outcome(&st, seq, partition, -1, err, detail);
            if (err == KC_ERR__FATAL)
                break;
        }
        kc_producer_poll(producer, 0);
    }
    free(buf);

    /* Flush until every message has its report (message.timeout.ms bounds the wait). */
    err = KC_ERR__TIMED_OUT;
    while (!stop && err == KC_ERR__TIMED_OUT)
        err = kc_producer_flush(producer, 1000);
    if (err != KC_OK && err != KC_ERR__TIMED_OUT)
        print_error(err);
    took = now_s() - started;
    err = kc_producer_close(producer, CLOSE_TIMEOUT_MS, &dropped);
    if (err != KC_OK)
        print_error(err);
    kc_producer_free(producer);

    /* Messages left without a report were dropped by the close. */
    if (st.print) {
        uint64_t s;
        for (s = st.next; s < st.sent; s++) {
            if (!st.ring[s % st.cap].done)
                outcome(&st, s, partition, -1, KC_ERR__DESTROY,
                        "not delivered before the producer was closed");
        }
        free(st.ring);
    } else if (dropped > 0) {
        if (!st.shown_error)
            fprintf(stderr, "error: %s: %zu messages not delivered before the producer was "
                            "closed\n", kc_err_name(KC_ERR__DESTROY), dropped);
        st.failed += dropped;
    }
    fflush(stdout);
    fprintf(stderr, "delivered %llu, failed %llu, %.3f s, %.0f msgs/s\n", st.delivered,
            st.failed, took, took > 0 ? (double)st.delivered / took : 0.0);
    return st.failed > 0 ? 1 : 0;
}
