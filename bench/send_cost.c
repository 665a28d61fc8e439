/*
 * send_cost <bootstrap> <topic> [count] [rounds] [-X prop=value]...
 *
 * The CPU the calling thread spends in kc_producer_send, and in serving delivery
 * reports, per message: <rounds> rounds (default 15) of <count> keyless 100-byte
 * records (default 100,000) to <topic> (it must exist), partition KC_PARTITION_UA.
 * queue.buffering.max.messages and delivery.report.max.messages are set above <count>,
 * so no send is refused and no send waits. Each round reads CLOCK_THREAD_CPUTIME_ID
 * around the send loop, then around kc_producer_flush (which serves the round's
 * reports); the sender and I/O threads are not counted. One line per round:
 *   send_ns=<ns per send> report_ns=<ns per report>
 * then the best of the rounds:
 *   best send_ns=<ns> report_ns=<ns>
 * Exit status 1 if a send fails or a report carries an error.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kafkac.h"

static long delivered, failed;

static void on_report(kc_producer_t *p, const kc_delivery_report_t *r, void *opaque) {
    (void)p;
    (void)opaque;
    if (r->err == KC_OK)
        delivered++;
    else
        failed++;
}

static double thread_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what, kc_err_t err) {
    char buf[512];
    kc_last_error(buf, sizeof buf);
    fprintf(stderr, "send_cost: %s: %s: %s\n", what, kc_err_name(err), buf);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: send_cost <bootstrap> <topic> [count] [rounds] [-X prop=value]...\n");
        return 2;
    }
    const char *topic = argv[2];
    long count = 100000, rounds = 15;
    int i = 3;
    if (i < argc && argv[i][0] != '-')
        count = atol(argv[i++]);
    if (i < argc && argv[i][0] != '-')
        rounds = atol(argv[i++]);
    if (count <= 0 || rounds <= 0) {
        fprintf(stderr, "send_cost: count and rounds must be positive\n");
        return 2;
    }
    kc_conf_t *conf = kc_conf_new();
    if (!conf)
        die("kc_conf_new", KC_ERR__FAIL);
    char limit[32];
    snprintf(limit, sizeof limit, "%ld", count * 2 + 10);
    kc_err_t err;
    if ((err = kc_conf_set(conf, "bootstrap.servers", argv[1])) != KC_OK ||
        (err = kc_conf_set(conf, "queue.buffering.max.messages", limit)) != KC_OK ||
        (err = kc_conf_set(conf, "delivery.report.max.messages", limit)) != KC_OK)
        die("configuration", err);
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-X") != 0 || i + 1 >= argc) {
            fprintf(stderr, "send_cost: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
        char *kv = argv[++i];
        char *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, "send_cost: -X needs prop=value, got '%s'\n", kv);
            return 2;
        }
        *eq = '\0';
        if ((err = kc_conf_set(conf, kv, eq + 1)) != KC_OK)
            die(kv, err);
    }
    if ((err = kc_conf_set_dr_msg_cb(conf, on_report)) != KC_OK)
        die("kc_conf_set_dr_msg_cb", err);
    kc_producer_t *p = NULL;
    err = kc_producer_new(conf, &p);
    kc_conf_free(conf);
    if (err != KC_OK)
        die("kc_producer_new", err);

    static uint8_t payload[100];
    memset(payload, 'x', sizeof payload);
    kc_record_t rec;
    memset(&rec, 0, sizeof rec);
    rec.value = payload;
    rec.value_len = sizeof payload;
    /* Connection, metadata and producer id in place before anything is measured. */
    if ((err = kc_producer_send(p, topic, KC_PARTITION_UA, &rec, NULL)) != KC_OK)
        die("kc_producer_send", err);
    if ((err = kc_producer_flush(p, 30000)) != KC_OK)
        die("kc_producer_flush", err);

    double best_send = 0, best_report = 0;
    for (long r = 0; r < rounds; r++) {
        double a = thread_ns();
        for (long n = 0; n < count; n++)
            if ((err = kc_producer_send(p, topic, KC_PARTITION_UA, &rec, NULL)) != KC_OK)
                die("kc_producer_send", err);
        double b = thread_ns();
        if ((err = kc_producer_flush(p, 60000)) != KC_OK)
            die("kc_producer_flush", err);
        double c = thread_ns();
        double send = (b - a) / (double)count, report = (c - b) / (double)count;
        printf("send_ns=%.1f report_ns=%.1f\n", send, report);
        if (r == 0 || send < best_send)
            best_send = send;
        if (r == 0 || report < best_report)
            best_report = report;
    }
    printf("best send_ns=%.1f report_ns=%.1f\n", best_send, best_report);
    kc_producer_free(p);
    if (failed > 0 || delivered != count * rounds + 1) {
        fprintf(stderr, "send_cost: %ld delivered, %ld failed, %ld sent\n", delivered, failed,
                count * rounds + 1);
        return 1;
    }
    return 0;
}
