/*
 * consumer_bench <bootstrap> <topic> <count> <mode> [-r rate] [-X prop=value]...
 *
 * rdkafka_consumer_bench's job through kafkac's consumer (kc_consumer_*): subscribe to
 * <topic> in a new group (group.id from -X or "bench-<pid>"), auto.offset.reset=earliest,
 * kc_consumer_poll_batch until <count> records came, each message freed once read.
 * -X sets any kafkac property. Output lines (name "kafkac"):
 *
 * Mode throughput: the topic already holds at least <count> records.
 *   kafkac throughput msgs=N bytes=B wall=S cpu=S join=S rss_kib=K
 *   wall and cpu run from the first record to the <count>th (the group join before the
 *   first record is `join`); bytes counts values.
 *
 * Mode latency: a kafkac producer in the same process writes one warm-up record (send
 * time 0) and, once the consumer has received it, <rate> records a second (default
 * 10000), each value starting with its CLOCK_MONOTONIC send time in ns (8 bytes, host
 * order) and padded to 100 bytes, linger.ms=0; the consumer records poll time minus send
 * time for each.
 *   kafkac latency msgs=N p50_us=.. p99_us=.. p999_us=.. max_us=..
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
#include "kafkac.h"

#define NAME "kafkac"

#include "bench_common.h"

#define BATCH 1000

static void die(const char *what, kc_err_t err) {
    char detail[512];
    if (kc_last_error(detail, sizeof detail) == 0)
        detail[0] = 0;
    fprintf(stderr, NAME ": %s: %s: %s\n", what, kc_err_name(err), detail);
    exit(1);
}

static void set(kc_conf_t *conf, const char *k, const char *v) {
    kc_err_t err = kc_conf_set(conf, k, v);
    if (err != KC_OK)
        die(k, err);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static volatile int consumer_ready;

struct pacer {
    const char *boot, *topic;
    long count, rate;
};

/* Produces `count` records at `rate` a second, each stamped with its send time. */
static void *produce_paced(void *arg) {
    struct pacer *pc = arg;
    kc_conf_t *conf = kc_conf_new();
    kc_producer_t *p;
    kc_record_t rec;
    uint8_t value[100];
    uint64_t step = 1000000000u / (uint64_t)(pc->rate > 0 ? pc->rate : 1), t;
    struct timespec next;
    kc_err_t err;
    long i;
    set(conf, "bootstrap.servers", pc->boot);
    set(conf, "linger.ms", "0");
    if ((err = kc_producer_new(conf, &p)) != KC_OK)
        die("producer", err);
    kc_conf_free(conf);
    memset(&rec, 0, sizeof rec);
    memset(value, 0, sizeof value);
    rec.value = value;
    rec.value_len = sizeof value;
    if ((err = kc_producer_send_blocking(p, pc->topic, KC_PARTITION_UA, &rec, NULL, 30000)) != KC_OK)
        die("warm-up record", err);
    kc_producer_flush(p, 30000);
    while (!__atomic_load_n(&consumer_ready, __ATOMIC_ACQUIRE)) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    memset(value, 'x', sizeof value);
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (i = 0; i < pc->count; i++) {
        t = (uint64_t)next.tv_sec * 1000000000u + (uint64_t)next.tv_nsec + step;
        next.tv_sec = (time_t)(t / 1000000000u);
        next.tv_nsec = (long)(t % 1000000000u);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        t = mono_ns();
        memcpy(value, &t, sizeof t);
        if ((err = kc_producer_send_blocking(p, pc->topic, KC_PARTITION_UA, &rec, NULL, 30000)) != KC_OK)
            die("send", err);
        kc_producer_poll(p, 0);
    }
    kc_producer_flush(p, 60000);
    kc_producer_free(p);
    return NULL;
}

int main(int argc, char **argv) {
    const char *boot, *topic, *mode;
    long count, rate = 10000, got = 0, i;
    long long bytes = 0;
    char group[64];
    kc_conf_t *conf;
    kc_consumer_t *c;
    kc_message_t *msgs[BATCH];
    kc_err_t err;
    int group_set = 0;
    double t_start, t_first = 0, c_first = 0;
    uint64_t *lat = NULL;
    pthread_t th;
    struct pacer pc;
    const char *topics[1];

    if (argc < 5) {
        fprintf(stderr, "usage: consumer_bench <bootstrap> <topic> <count> throughput|latency "
                        "[-r rate] [-X prop=value]...\n");
        return 2;
    }
    boot = argv[1];
    topic = argv[2];
    count = atol(argv[3]);
    mode = argv[4];
    conf = kc_conf_new();
    set(conf, "bootstrap.servers", boot);
    set(conf, "auto.offset.reset", "earliest");
    for (i = 5; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            rate = atol(argv[++i]);
        } else if (strcmp(argv[i], "-X") == 0 && i + 1 < argc) {
            char kv[512], *eq;
            snprintf(kv, sizeof kv, "%s", argv[++i]);
            if (!(eq = strchr(kv, '='))) {
                fprintf(stderr, "-X expects prop=value\n");
                return 2;
            }
            *eq = 0;
            set(conf, kv, eq + 1);
            group_set |= strcmp(kv, "group.id") == 0;
        } else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!group_set) {
        snprintf(group, sizeof group, "bench-%ld", (long)getpid());
        set(conf, "group.id", group);
    }
    if ((err = kc_consumer_new(conf, &c)) != KC_OK)
        die("consumer", err);
    kc_conf_free(conf);
    topics[0] = topic;
    if ((err = kc_consumer_subscribe(c, topics, 1)) != KC_OK)
        die("subscribe", err);
    if (strcmp(mode, "latency") == 0) {
        lat = calloc((size_t)count, sizeof *lat);
        pc.boot = boot;
        pc.topic = topic;
        pc.count = count;
        pc.rate = rate;
        if (pthread_create(&th, NULL, produce_paced, &pc)) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    } else if (strcmp(mode, "throughput") != 0) {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    t_start = now();
    while (got < count) {
        size_t n = kc_consumer_poll_batch(c, 1000, msgs, BATCH), k;
        if (n == 0 && now() - t_start > 300) {
            fprintf(stderr, NAME ": no progress in 300 s\n");
            return 1;
        }
        for (k = 0; k < n; k++) {
            kc_message_t *m = msgs[k];
            size_t len = 0;
            const void *v;
            if (kc_message_err(m) != KC_OK) {
                if (kc_message_err(m) != KC_ERR__PARTITION_EOF)
                    fprintf(stderr, NAME ": %s\n", kc_message_errstr(m));
                kc_message_free(m);
                continue;
            }
            v = kc_message_value(m, &len);
            if (got >= count) { /* the rest of the last batch */
                kc_message_free(m);
                continue;
            }
            if (got == 0) {
                t_first = now();
                c_first = cpu();
            }
            if (lat && v && len >= 8) {
                uint64_t sent;
                memcpy(&sent, v, sizeof sent);
                if (sent == 0) { /* the warm-up record */
                    __atomic_store_n(&consumer_ready, 1, __ATOMIC_RELEASE);
                    kc_message_free(m);
                    continue;
                }
                if (got < count)
                    lat[got] = mono_ns() - sent;
            }
            bytes += (long long)len;
            got++;
            kc_message_free(m);
        }
    }
    if (lat) {
        pthread_join(th, NULL);
        qsort(lat, (size_t)count, sizeof *lat, cmp_u64);
        printf(NAME " latency msgs=%ld p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n", count,
               lat[count / 2] / 1e3, lat[count * 99 / 100] / 1e3, lat[count * 999 / 1000] / 1e3,
               lat[count - 1] / 1e3);
    } else {
        printf(NAME " throughput msgs=%ld bytes=%lld wall=%.6f cpu=%.6f join=%.3f rss_kib=%ld\n", got,
               bytes, now() - t_first, cpu() - c_first, t_first - t_start, peak_rss_kib());
        print_threads();
    }
    kc_consumer_close(c, 10000);
    kc_consumer_free(c);
    free(lat);
    return 0;
}
