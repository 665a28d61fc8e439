/*
 * rdkafka_bench <bootstrap> <topic> <count> <size> <batch> [codec]
 *
 * The same job as kafkac_bench through librdkafka's C API: produce <count> records of
 * <size> bytes to <topic>/0 (acks=all, batch.num.messages=<batch>, linger.ms=5) and
 * flush, then read them all back with the partition consumer (no group). Prints:
 *   librdkafka <phase> msgs=<n> bytes=<b> wall=<s> cpu=<s>
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <librdkafka/rdkafka.h>

#define NAME "librdkafka"
#include "bench_common.h"

static long delivered_err = 0;
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (delivered_err++ == 0)
            fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
    }
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "config %s=%s: %s\n", k, v, err);
        exit(1);
    }
}

int main(int argc, char **argv) {
    char err[256], batchs[32];
    long count, size, batch, i, got = 0;
    char *payload;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    double t0, c0;
    const char *codec = argc > 6 ? argv[6] : "none";

    if (argc < 6) {
        fprintf(stderr, "usage: rdkafka_bench <bootstrap> <topic> <count> <size> <batch> [codec]\n");
        return 2;
    }
    count = atol(argv[3]);
    size = atol(argv[4]);
    batch = atol(argv[5]);
    payload = malloc((size_t)size);
    for (i = 0; i < size; i++)
        payload[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7) % 36];
    snprintf(batchs, sizeof batchs, "%ld", batch);

    conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "acks", "all");
    set(conf, "linger.ms", "5");
    set(conf, "batch.num.messages", batchs);
    set(conf, "compression.codec", codec);
    set(conf, "queue.buffering.max.messages", "1000000");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "producer: %s\n", err);
        return 1;
    }
    rkt = rd_kafka_topic_new(rk, argv[2], NULL);
    t0 = now();
    c0 = cpu();
    for (i = 0; i < count; i++) {
        while (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, payload, (size_t)size, NULL, 0, NULL) == -1) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
                return 1;
            }
            rd_kafka_poll(rk, 1);
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    printf("librdkafka produce msgs=%ld bytes=%ld wall=%.6f cpu=%.6f rss_kib=%ld\n", count, count * size,
           now() - t0, cpu() - c0, peak_rss_kib());
    fflush(stdout);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    if (delivered_err) {
        fprintf(stderr, "%ld deliveries failed\n", delivered_err);
        return 1;
    }

    conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "fetch.max.bytes", "4194304");
    set(conf, "max.partition.fetch.bytes", "4194304");
    set(conf, "fetch.wait.max.ms", "10"); /* as kafkac_bench */
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "consumer: %s\n", err);
        return 1;
    }
    rkt = rd_kafka_topic_new(rk, argv[2], NULL);
    {
        /* A broker may keep less than was produced (librdkafka's mock trims its log):
         * read what it still has. */
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, argv[2], 0, &lo, &hi, 30000);
        if (e) {
            fprintf(stderr, "watermarks: %s\n", rd_kafka_err2str(e));
            return 1;
        }
        if (hi - lo < count)
            count = (long)(hi - lo);
    }
    t0 = now();
    c0 = cpu();
    rd_kafka_consume_start(rkt, 0, RD_KAFKA_OFFSET_BEGINNING);
    while (got < count) {
        rd_kafka_message_t *msgs[1024];
        ssize_t n = rd_kafka_consume_batch(rkt, 0, 1000, msgs, 1024);
        if (n < 0) {
            fprintf(stderr, "consume: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            return 1;
        }
        for (i = 0; i < n; i++) {
            if (!msgs[i]->err) {
                if (msgs[i]->len != (size_t)size) {
                    fprintf(stderr, "wrong record size\n");
                    return 1;
                }
                got++;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
    }
    printf("librdkafka fetch msgs=%ld bytes=%ld wall=%.6f cpu=%.6f rss_kib=%ld\n", got, got * size,
           now() - t0, cpu() - c0, peak_rss_kib());
    rd_kafka_consume_stop(rkt, 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(payload);
    return 0;
}
