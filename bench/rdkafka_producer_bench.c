/*
 * rdkafka_producer_bench <bootstrap> <topic> <count> <size> <partitions> <mode>
 *                        [-r rate] [-p fixed|text] [-X prop=value]...
 *
 * producer_bench's job through librdkafka's C API: one rd_kafka_producev per message
 * (RD_KAFKA_V_TOPIC by name, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, no key), the
 * same payloads (-p fixed|text), delivery reports through dr_msg_cb, rd_kafka_flush at
 * the end. -X sets any librdkafka property. The output lines are producer_bench's with the name
 * "librdkafka" (see producer_bench.c for their fields):
 *
 * Mode throughput: on RD_KAFKA_RESP_ERR__QUEUE_FULL rd_kafka_poll(rk, 1) and produce
 * again; rd_kafka_poll(rk, 0) every 1000 messages; rd_kafka_flush at the end.
 *
 * Mode latency: <rate> messages a second (default 10000) paced with clock_nanosleep,
 * each message's opaque its CLOCK_MONOTONIC send time in ns; a second thread serves
 * reports with rd_kafka_poll(rk, 100) and records send-to-report latency.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

#define NAME "librdkafka"

#include "producer_common.h"

static struct {
    long delivered, failed;
    int latency;
    uint64_t *lat;
    long lat_cap, lat_n;
} st;

static void dr_msg(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (__atomic_fetch_add(&st.failed, 1, __ATOMIC_RELAXED) < 5)
            fprintf(stderr, NAME ": delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    __atomic_fetch_add(&st.delivered, 1, __ATOMIC_RELAXED);
    if (st.latency && m->_private) {
        uint64_t sent = (uint64_t)(uintptr_t)m->_private;
        long i = __atomic_fetch_add(&st.lat_n, 1, __ATOMIC_RELAXED);
        if (i < st.lat_cap)
            st.lat[i] = mono_ns() - sent;
    }
}

static void send_or_die(rd_kafka_t *rk, const char *topic, void *payload, size_t size, void *opaque,
                        long *qfull, double *qwait) {
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(payload, size),
                                    RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        double t;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, NAME ": error: produce: %s\n", rd_kafka_err2str(err));
            exit(1);
        }
        (*qfull)++;
        t = now();
        rd_kafka_poll(rk, 1);
        *qwait += now() - t;
    }
}

static volatile int stop_poller;

static void *poller(void *arg) {
    rd_kafka_t *rk = arg;
    while (!__atomic_load_n(&stop_poller, __ATOMIC_ACQUIRE))
        rd_kafka_poll(rk, 100);
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, long n, double q) {
    long i = (long)(q * (double)n + 0.999999) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return (double)v[i] / 1e3;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, NAME ": config %s=%s: %s\n", k, v, err);
        exit(1);
    }
}

static void txn_or_die(const char *what, rd_kafka_error_t *e) {
    if (e) {
        fprintf(stderr, NAME ": error: %s: %s\n", what, rd_kafka_error_string(e));
        exit(1);
    }
}

int main(int argc, char **argv) {
    const char *boot, *topic, *mode;
    long count, size, partitions, i, rate = 10000, qfull = 0;
    double qwait = 0;
    uint8_t *payload;
    char errstr[256];
    size_t payload_len;
    int text = 0;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_resp_err_t err;

    if (argc < 7) {
        fprintf(stderr, "usage: rdkafka_producer_bench <bootstrap> <topic> <count> <size> <partitions> "
                        "throughput|latency [-r rate] [-p fixed|text] [-X prop=value]...\n");
        return 2;
    }
    boot = argv[1];
    topic = argv[2];
    count = atol(argv[3]);
    size = atol(argv[4]);
    partitions = atol(argv[5]);
    mode = argv[6];
    if (strcmp(mode, "throughput") != 0 && strcmp(mode, "latency") != 0 &&
        strcmp(mode, "txn") != 0) {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }

    conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", boot);
    for (i = 7; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            rate = atol(argv[++i]);
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            i++; /* producer_bench's option; librdkafka has one report callback form */
        } else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
            text = strcmp(argv[++i], "text") == 0;
        } else if (strcmp(argv[i], "-X") == 0 && i + 1 < argc) {
            char kv[512], *eq;
            snprintf(kv, sizeof kv, "%s", argv[++i]);
            if (!(eq = strchr(kv, '='))) {
                fprintf(stderr, "-X %s: expected prop=value\n", kv);
                return 2;
            }
            *eq = 0;
            set(conf, kv, eq + 1);
        } else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg);
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr))) {
        fprintf(stderr, NAME ": producer: %s\n", errstr);
        return 1;
    }

    payload = make_payload(text, size, &payload_len);

    /* Warm-up: connection, metadata and producer id in place before the clock starts. */
    if (strcmp(mode, "txn") == 0) {
        txn_or_die("init_transactions", rd_kafka_init_transactions(rk, 60000));
        txn_or_die("begin_transaction", rd_kafka_begin_transaction(rk));
    }
    send_or_die(rk, topic, payload, (size_t)size, NULL, &qfull, &qwait);
    if (strcmp(mode, "txn") == 0)
        txn_or_die("warm-up commit", rd_kafka_commit_transaction(rk, 60000));
    if ((err = rd_kafka_flush(rk, 60000)) != RD_KAFKA_RESP_ERR_NO_ERROR || st.failed || st.delivered != 1) {
        fprintf(stderr, NAME ": warm-up message not delivered: %s\n", rd_kafka_err2str(err));
        return 1;
    }
    st.delivered = 0;
    qfull = 0;
    qwait = 0;

    if (strcmp(mode, "txn") == 0) {
        double t0 = now(), c0 = cpu(), wall, used, commit_wait = 0;
        long per = rate > 0 ? rate : 1000;
        for (i = 0; i < count; i++) {
            if (i % per == 0)
                txn_or_die("begin_transaction", rd_kafka_begin_transaction(rk));
            send_or_die(rk, topic, (void *)payload_of(payload, payload_len, size, i), (size_t)size, NULL,
                        &qfull, &qwait);
            if (i % per == per - 1 || i == count - 1) {
                double c = now();
                txn_or_die("commit_transaction", rd_kafka_commit_transaction(rk, 300000));
                commit_wait += now() - c;
            }
        }
        wall = now() - t0;
        used = cpu() - c0;
        printf(NAME " txn msgs=%ld bytes=%ld wall=%.6f cpu=%.6f rss_kib=%ld qfull=%ld "
                    "qfull_wait=%.3f partitions=%ld commit_wait=%.6f\n",
               count, count * size, wall, used, peak_rss_kib(), qfull, qwait, partitions, commit_wait);
        print_threads();
    } else if (strcmp(mode, "throughput") == 0) {
        double t0 = now(), c0 = cpu(), wall, used;
        for (i = 0; i < count; i++) {
            send_or_die(rk, topic, (void *)payload_of(payload, payload_len, size, i), (size_t)size, NULL,
                        &qfull, &qwait);
            if (i % 1000 == 999)
                rd_kafka_poll(rk, 0);
        }
        if ((err = rd_kafka_flush(rk, 300000)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, NAME ": error: flush: %s\n", rd_kafka_err2str(err));
            return 1;
        }
        wall = now() - t0;
        used = cpu() - c0;
        printf(NAME " throughput msgs=%ld bytes=%ld wall=%.6f cpu=%.6f rss_kib=%ld qfull=%ld "
                    "qfull_wait=%.3f partitions=%ld\n",
               count, count * size, wall, used, peak_rss_kib(), qfull, qwait, partitions);
        print_threads();
    } else {
        pthread_t th;
        struct timespec next;
        uint64_t step = 1000000000u / (uint64_t)(rate > 0 ? rate : 1), t;
        long late = 0;
        double c0;
        st.latency = 1;
        st.lat_cap = count;
        st.lat = calloc((size_t)count, sizeof *st.lat);
        if (pthread_create(&th, NULL, poller, rk) != 0) {
            fprintf(stderr, "cannot start the poller thread\n");
            return 1;
        }
        c0 = cpu();
        t = mono_ns();
        for (i = 0; i < count; i++) {
            uint64_t slot = t + (uint64_t)i * step, at;
            next.tv_sec = (time_t)(slot / 1000000000u);
            next.tv_nsec = (long)(slot % 1000000000u);
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0)
                ;
            at = mono_ns();
            if (at > slot + 1000000u)
                late++;
            send_or_die(rk, topic, (void *)payload_of(payload, payload_len, size, i), (size_t)size,
                        (void *)(uintptr_t)at, &qfull, &qwait);
        }
        if ((err = rd_kafka_flush(rk, 300000)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, NAME ": error: flush: %s\n", rd_kafka_err2str(err));
            return 1;
        }
        __atomic_store_n(&stop_poller, 1, __ATOMIC_RELEASE);
        pthread_join(th, NULL);
        {
            long n = st.lat_n < count ? st.lat_n : count;
            double used = cpu() - c0;
            qsort(st.lat, (size_t)n, sizeof *st.lat, cmp_u64);
            printf(NAME " latency msgs=%ld rate=%ld p50_us=%.1f p99_us=%.1f p999_us=%.1f "
                        "max_us=%.1f late=%ld qfull=%ld cpu=%.6f rss_kib=%ld partitions=%ld\n",
                   n, rate, pct_us(st.lat, n, 0.50), pct_us(st.lat, n, 0.99),
                   pct_us(st.lat, n, 0.999), n ? (double)st.lat[n - 1] / 1e3 : 0.0, late, qfull,
                   used, peak_rss_kib(), partitions);
        }
        print_threads();
        free(st.lat);
    }
    fflush(stdout);
    rd_kafka_destroy(rk);
    free(payload);
    if (st.failed || st.delivered != count) {
        fprintf(stderr, NAME ": %ld delivered, %ld failed, of %ld\n", st.delivered, st.failed, count);
        return 1;
    }
    return 0;
}
