/*
 * rdkafka_consumer_bench <bootstrap> <topic> <count> <mode> [-r rate] [-X prop=value]...
 *
 * consumer_bench's job through librdkafka's high-level consumer: rd_kafka_subscribe to
 * <topic> in a new group (group.id from -X or "bench-<pid>"), auto.offset.reset=earliest,
 * rd_kafka_consumer_poll until <count> records came. -X sets any librdkafka property.
 * The output lines are consumer_bench's with the name "librdkafka":
 *
 * Mode throughput: the topic already holds at least <count> records.
 *   librdkafka throughput msgs=N bytes=B wall=S cpu=S join=S rss_kib=K
 *   wall and cpu run from the first record to the <count>th (the group join before the
 *   first record is `join`); bytes counts values.
 *
 * Mode latency: a producer in the same process writes one warm-up record (send time 0)
 * and, once the consumer has received it (so it is in the group and positioned), <rate>
 * records a second (default 10000), each value starting with its CLOCK_MONOTONIC send
 * time in ns (8 bytes, host order) and padded to 100 bytes, linger.ms=0; the consumer
 * records poll time minus send time for each.
 *   librdkafka latency msgs=N p50_us=.. p99_us=.. p999_us=.. max_us=..
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

#include "bench_common.h"

static void die(const char *what, const char *why) {
    fprintf(stderr, NAME ": %s: %s\n", what, why);
    exit(1);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
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
    char **props;
    int nprops;
};

/* Produces `count` records at `rate` a second, each stamped with its send time. */
static void *produce_paced(void *arg) {
    struct pacer *pc = arg;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    uint8_t value[100];
    uint64_t step = 1000000000u / (uint64_t)(pc->rate > 0 ? pc->rate : 1), t;
    struct timespec next;
    long i;
    set(conf, "bootstrap.servers", pc->boot);
    set(conf, "linger.ms", "0");
    set(conf, "enable.idempotence", "true");
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err)))
        die("producer", err);
    memset(value, 0, sizeof value);
    if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(pc->topic), RD_KAFKA_V_VALUE(value, sizeof value),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END))
        die("produce", "warm-up record");
    rd_kafka_flush(rk, 30000);
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
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(pc->topic), RD_KAFKA_V_VALUE(value, sizeof value),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 1);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    rd_kafka_destroy(rk);
    return NULL;
}

int main(int argc, char **argv) {
    const char *boot, *topic, *mode;
    long count, rate = 10000, got = 0, i;
    long long bytes = 0;
    char err[512], group[64];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *subs;
    int group_set = 0;
    double t_start, t_first = 0, c_first = 0;
    uint64_t *lat = NULL;
    pthread_t th;
    struct pacer pc;

    if (argc < 5) {
        fprintf(stderr, "usage: rdkafka_consumer_bench <bootstrap> <topic> <count> throughput|latency "
                        "[-r rate] [-X prop=value]...\n");
        return 2;
    }
    boot = argv[1];
    topic = argv[2];
    count = atol(argv[3]);
    mode = argv[4];
    conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", boot);
    set(conf, "auto.offset.reset", "earliest");
    for (i = 5; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            rate = atol(argv[++i]);
        } else if (strcmp(argv[i], "-X") == 0 && i + 1 < argc) {
            char kv[512], *eq;
            snprintf(kv, sizeof kv, "%s", argv[++i]);
            if (!(eq = strchr(kv, '=')))
                die("-X", "expected prop=value");
            *eq = 0;
            set(conf, kv, eq + 1);
            group_set |= strcmp(kv, "group.id") == 0;
        } else {
            die("argument", argv[i]);
        }
    }
    if (!group_set) {
        snprintf(group, sizeof group, "bench-%ld", (long)getpid());
        set(conf, "group.id", group);
    }
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err)))
        die("consumer", err);
    rd_kafka_poll_set_consumer(rk);
    subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(rk, subs))
        die("subscribe", "failed");
    rd_kafka_topic_partition_list_destroy(subs);
    if (strcmp(mode, "latency") == 0) {
        lat = calloc((size_t)count, sizeof *lat);
        pc.boot = boot;
        pc.topic = topic;
        pc.count = count;
        pc.rate = rate;
        if (pthread_create(&th, NULL, produce_paced, &pc))
            die("thread", "pthread_create");
    } else if (strcmp(mode, "throughput") != 0) {
        die("mode", mode);
    }
    t_start = now();
    while (got < count) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) {
            if (now() - t_start > 300)
                die("consume", "no progress in 300 s");
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, NAME ": %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (got == 0) {
            t_first = now();
            c_first = cpu();
        }
        if (lat && m->len >= 8) {
            uint64_t sent;
            memcpy(&sent, m->payload, sizeof sent);
            if (sent == 0) { /* the warm-up record */
                __atomic_store_n(&consumer_ready, 1, __ATOMIC_RELEASE);
                rd_kafka_message_destroy(m);
                continue;
            }
            lat[got] = mono_ns() - sent;
        }
        bytes += (long long)m->len;
        got++;
        rd_kafka_message_destroy(m);
    }
    if (lat) {
        pthread_join(th, NULL);
        qsort(lat, (size_t)got, sizeof *lat, cmp_u64);
        printf(NAME " latency msgs=%ld p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n", got,
               lat[got / 2] / 1e3, lat[got * 99 / 100] / 1e3, lat[got * 999 / 1000] / 1e3,
               lat[got - 1] / 1e3);
    } else {
        printf(NAME " throughput msgs=%ld bytes=%lld wall=%.6f cpu=%.6f join=%.3f rss_kib=%ld\n", got,
               bytes, now() - t_first, cpu() - c_first, t_first - t_start, peak_rss_kib());
        print_threads();
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(lat);
    return 0;
}
