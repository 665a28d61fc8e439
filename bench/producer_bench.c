/*
 * producer_bench <bootstrap> <topic> <count> <size> <partitions> <mode>
 *                [-r rate] [-d msg|batch] [-p fixed|text] [-X prop=value]...
 *
 * The kafkac asynchronous producer (kc_producer_*), measured the way an application uses
 * it: one kc_producer_send per message, keyless, partition KC_PARTITION_UA (the
 * partitioner chooses), a <size>-byte payload (-p fixed, the default, or text: see
 * make_payload). -X sets any configuration property (librdkafka's names: linger.ms,
 * acks, enable.idempotence, compression.type, ...). <partitions> is only echoed in the
 * output (the topic must exist).
 *
 * Before the clock starts, one message is sent and flushed: the connection, the metadata
 * and the producer id are in place, so both clients are measured from the same state.
 *
 * Mode throughput: sends <count> messages as fast as kc_producer_send takes them (on
 * KC_ERR__QUEUE_FULL: kc_producer_poll(p, 1) and send again), kc_producer_poll(p, 0)
 * every 1000 messages, kc_producer_flush at the end. Prints
 *   kafkac throughput msgs=<n> bytes=<b> wall=<s> cpu=<s> rss_kib=<k> qfull=<n>
 *          qfull_wait=<s> partitions=<n>
 * cpu is this process's user+system time (getrusage) over the measured part, rss_kib its
 * peak RSS (VmHWM). qfull counts sends refused with QUEUE_FULL, qfull_wait the time
 * spent polling after them. Then one line with the CPU seconds of each thread, by name:
 *   kafkac threads <name>=<s> ...
 * Every message must get a report without an error, else the exit status is 1.
 *
 * Mode latency: sends <count> messages at <rate> messages a second (default 10000,
 * paced with clock_nanosleep on absolute CLOCK_MONOTONIC deadlines); each message's
 * opaque is its send time (CLOCK_MONOTONIC ns, read just before kc_producer_send). A
 * second thread serves delivery reports (kc_producer_poll(p, 100) in a loop, woken as
 * soon as a report is there) and records send-to-report latency. Prints
 *   kafkac latency msgs=<n> rate=<r> p50_us=.. p99_us=.. p999_us=.. max_us=.. late=<n>
 *          cpu=<s> rss_kib=<k>
 * late counts sends that left more than 1 ms after their slot (the sender fell behind).
 *
 * Mode txn (with -X transactional.id=...): kc_producer_init_transactions first (the
 * warm-up message goes in a transaction of its own), then <count> messages in
 * transactions of <rate> messages each (-r, default 1000): begin, sends,
 * kc_producer_commit_transaction (which waits for the reports). Prints the throughput
 * line with "txn" in place of "throughput".
 *
 * Mode sendcost: what the calling thread spends per message, without the broker's speed
 * in the figure. queue.buffering.max.messages and delivery.report.max.messages are set
 * above <count> (before -X, which may change them), so no send is refused or waits.
 * <rounds> rounds (-r, default 15) of <count> sends, each followed by kc_producer_flush,
 * which serves the round's reports; CLOCK_THREAD_CPUTIME_ID is read around both, so the
 * sender and I/O threads are not counted. One line per round, then the best of them:
 *   kafkac sendcost send_ns=<ns per send> report_ns=<ns per report served>
 *   kafkac sendcost best send_ns=<ns> report_ns=<ns>
 *
 * -d batch serves reports through kc_conf_set_dr_batch_cb instead of the per-message
 * kc_conf_set_dr_msg_cb (the default, like librdkafka's dr_msg_cb).
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

#include "producer_common.h"

static void die(const char *what, kc_err_t err) {
    char buf[512];
    kc_last_error(buf, sizeof buf);
    fprintf(stderr, NAME ": error: %s: %s: %s\n", what, kc_err_name(err), buf);
    exit(1);
}

/* What the delivery report callbacks see. In latency mode the poller thread and the
 * main thread's flush may both serve reports, so the counters are atomic. */
static struct {
    long delivered, failed;
    int latency; /* record latencies */
    uint64_t *lat;
    long lat_cap, lat_n;
} st;

static void on_report(const kc_delivery_report_t *r) {
    if (r->err != KC_OK) {
        if (__atomic_fetch_add(&st.failed, 1, __ATOMIC_RELAXED) < 5)
            fprintf(stderr, NAME ": delivery failed: %s: %s\n", kc_err_name(r->err),
                    r->errstr ? r->errstr : "");
        return;
    }
    __atomic_fetch_add(&st.delivered, 1, __ATOMIC_RELAXED);
    if (st.latency && r->opaque) {
        uint64_t sent = (uint64_t)(uintptr_t)r->opaque;
        long i = __atomic_fetch_add(&st.lat_n, 1, __ATOMIC_RELAXED);
        if (i < st.lat_cap)
            st.lat[i] = mono_ns() - sent;
    }
}

static void dr_msg(kc_producer_t *p, const kc_delivery_report_t *r, void *opaque) {
    (void)p;
    (void)opaque;
    on_report(r);
}

static void dr_batch(kc_producer_t *p, const kc_delivery_report_t *const *r, size_t n, void *opaque) {
    size_t i;
    (void)p;
    (void)opaque;
    for (i = 0; i < n; i++)
        on_report(r[i]);
}

static void send_or_die(kc_producer_t *p, const char *topic, const kc_record_t *rec, void *opaque,
                        long *qfull, double *qwait) {
    kc_err_t err;
    while ((err = kc_producer_send(p, topic, KC_PARTITION_UA, rec, opaque)) != KC_OK) {
        double t;
        if (err != KC_ERR__QUEUE_FULL)
            die("send", err);
        (*qfull)++;
        t = now();
        kc_producer_poll(p, 1);
        *qwait += now() - t;
    }
}

static volatile int stop_poller;

static void *poller(void *arg) {
    kc_producer_t *p = arg;
    while (!__atomic_load_n(&stop_poller, __ATOMIC_ACQUIRE))
        kc_producer_poll(p, 100);
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n), in microseconds. */
static double pct_us(const uint64_t *v, long n, double q) {
    long i = (long)(q * (double)n + 0.999999) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return (double)v[i] / 1e3;
}

int main(int argc, char **argv) {
    const char *boot, *topic, *mode;
    long count, size, partitions, i, rate = 10000, qfull = 0, expected;
    double qwait = 0;
    int batch_cb = 0, text = 0, rate_given = 0;
    uint8_t *payload;
    size_t payload_len;
    kc_conf_t *conf;
    kc_producer_t *p;
    kc_record_t rec;
    kc_err_t err;

    if (argc < 7) {
        fprintf(stderr, "usage: producer_bench <bootstrap> <topic> <count> <size> <partitions> "
                        "throughput|latency|txn|sendcost [-r rate] [-d msg|batch] [-p fixed|text] [-X prop=value]...\n");
        return 2;
    }
    boot = argv[1];
    topic = argv[2];
    count = atol(argv[3]);
    size = atol(argv[4]);
    partitions = atol(argv[5]);
    mode = argv[6];
    if (strcmp(mode, "throughput") != 0 && strcmp(mode, "latency") != 0 &&
        strcmp(mode, "txn") != 0 && strcmp(mode, "sendcost") != 0) {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }

    conf = kc_conf_new();
    if ((err = kc_conf_set(conf, "bootstrap.servers", boot)) != KC_OK)
        die("bootstrap.servers", err);
    if (strcmp(mode, "sendcost") == 0) {
        char limit[32];
        snprintf(limit, sizeof limit, "%ld", count * 2 + 10);
        if ((err = kc_conf_set(conf, "queue.buffering.max.messages", limit)) != KC_OK ||
            (err = kc_conf_set(conf, "delivery.report.max.messages", limit)) != KC_OK)
            die("sendcost limits", err);
    }
    for (i = 7; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            rate = atol(argv[++i]);
            rate_given = 1;
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            batch_cb = strcmp(argv[++i], "batch") == 0;
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
            if ((err = kc_conf_set(conf, kv, eq + 1)) != KC_OK)
                die(kv, err);
        } else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (batch_cb)
        kc_conf_set_dr_batch_cb(conf, dr_batch);
    else
        kc_conf_set_dr_msg_cb(conf, dr_msg);
    if ((err = kc_producer_new(conf, &p)) != KC_OK)
        die("producer", err);
    kc_conf_free(conf);

    payload = make_payload(text, size, &payload_len);
    memset(&rec, 0, sizeof rec);
    rec.value = payload;
    rec.value_len = (size_t)size;

    /* Warm-up: connection, metadata and producer id in place before the clock starts. */
    if (strcmp(mode, "txn") == 0) {
        if ((err = kc_producer_init_transactions(p, 60000)) != KC_OK)
            die("init_transactions", err);
        if ((err = kc_producer_begin_transaction(p)) != KC_OK)
            die("begin_transaction", err);
    }
    send_or_die(p, topic, &rec, NULL, &qfull, &qwait);
    if (strcmp(mode, "txn") == 0) {
        if ((err = kc_producer_commit_transaction(p, 60000)) != KC_OK)
            die("warm-up commit", err);
    } else if ((err = kc_producer_flush(p, 60000)) != KC_OK)
        die("warm-up flush", err);
    if (st.failed || st.delivered != 1) {
        fprintf(stderr, NAME ": warm-up message not delivered\n");
        return 1;
    }
    st.delivered = 0;
    qfull = 0;
    qwait = 0;
    expected = count;

    if (strcmp(mode, "txn") == 0) {
        double t0 = now(), c0 = cpu(), wall, used, commit_wait = 0;
        long per = rate > 0 ? rate : 1000;
        for (i = 0; i < count; i++) {
            if (i % per == 0 && (err = kc_producer_begin_transaction(p)) != KC_OK)
                die("begin_transaction", err);
            rec.value = payload_of(payload, payload_len, size, i);
            send_or_die(p, topic, &rec, NULL, &qfull, &qwait);
            if (i % per == per - 1 || i == count - 1) {
                double c = now();
                if ((err = kc_producer_commit_transaction(p, 300000)) != KC_OK)
                    die("commit_transaction", err);
                commit_wait += now() - c;
            }
        }
        wall = now() - t0;
        used = cpu() - c0;
        printf(NAME " txn msgs=%ld bytes=%ld wall=%.6f cpu=%.6f rss_kib=%ld qfull=%ld "
                    "qfull_wait=%.3f partitions=%ld commit_wait=%.6f\n",
               count, count * size, wall, used, peak_rss_kib(), qfull, qwait, partitions, commit_wait);
        print_threads();
    } else if (strcmp(mode, "sendcost") == 0) {
        long rounds = rate_given && rate > 0 ? rate : 15, r;
        double best_send = 0, best_report = 0;
        for (r = 0; r < rounds; r++) {
            double a = thread_cpu_ns(), b, c, send, report;
            for (i = 0; i < count; i++)
                if ((err = kc_producer_send(p, topic, KC_PARTITION_UA, &rec, NULL)) != KC_OK)
                    die("send", err);
            b = thread_cpu_ns();
            if ((err = kc_producer_flush(p, 300000)) != KC_OK)
                die("flush", err);
            c = thread_cpu_ns();
            send = (b - a) / (double)count;
            report = (c - b) / (double)count;
            printf(NAME " sendcost send_ns=%.1f report_ns=%.1f\n", send, report);
            if (r == 0 || send < best_send)
                best_send = send;
            if (r == 0 || report < best_report)
                best_report = report;
        }
        printf(NAME " sendcost best send_ns=%.1f report_ns=%.1f\n", best_send, best_report);
        expected = count * rounds;
    } else if (strcmp(mode, "throughput") == 0) {
        double t0 = now(), c0 = cpu(), wall, used;
        for (i = 0; i < count; i++) {
            rec.value = payload_of(payload, payload_len, size, i);
            send_or_die(p, topic, &rec, NULL, &qfull, &qwait);
            if (i % 1000 == 999)
                kc_producer_poll(p, 0);
        }
        if ((err = kc_producer_flush(p, 300000)) != KC_OK)
            die("flush", err);
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
        if (pthread_create(&th, NULL, poller, p) != 0) {
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
            rec.value = payload_of(payload, payload_len, size, i);
            send_or_die(p, topic, &rec, (void *)(uintptr_t)at, &qfull, &qwait);
        }
        if ((err = kc_producer_flush(p, 300000)) != KC_OK)
            die("flush", err);
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
    kc_producer_free(p);
    free(payload);
    if (st.failed || st.delivered != expected) {
        fprintf(stderr, NAME ": %ld delivered, %ld failed, of %ld\n", st.delivered, st.failed,
                expected);
        return 1;
    }
    return 0;
}
