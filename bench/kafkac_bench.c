/*
 * kafkac_bench <bootstrap> <topic> <count> <size> <batch> [codec]
 *
 * Produces <count> records of <size> bytes to <topic>/0 in batches of <batch> through the
 * kafkac C API (acks=all), then fetches them all back. Prints one line per phase:
 *   kafkac <phase> msgs=<n> bytes=<b> wall=<s> cpu=<s> rss_kib=<k> io_cpu=<s>
 * where cpu is this process's user+system time for the phase, rss_kib its peak RSS so far,
 * and io_cpu the part of cpu spent on kafkac's I/O threads (kc-io-*), from /proc.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <dirent.h>
#include <unistd.h>
#include "kafkac.h"

#define NAME "kafkac"
#include "bench_common.h"

/* User+system seconds of this process's threads named kc-io-*, from /proc/self/task. */
static double io_cpu(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    double total = 0;
    long tick = sysconf(_SC_CLK_TCK);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = {0}, stat[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        if (strncmp(comm, "kc-io-", 6) != 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = 0;
        /* Fields after the command name (which ends at the last ')'): state is field 3,
         * utime 14, stime 15. */
        char *p = strrchr(stat, ')');
        unsigned long ut = 0, st = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            total += (double)(ut + st) / (double)tick;
    }
    closedir(d);
    return total;
}

static void die(const char *what, kc_err_t err) {
    char buf[512];
    kc_last_error(buf, sizeof buf);
    fprintf(stderr, "error: %s: %s: %s\n", what, kc_err_name(err), buf);
    exit(1);
}

int main(int argc, char **argv) {
    kc_conf_t *conf;
    kc_client_t *client;
    kc_record_t *recs;
    uint8_t *payload;
    long count, size, batch, i, sent = 0, got = 0;
    kc_compression_t codec = KC_COMPRESSION_NONE;
    int64_t base = -1, offset;
    double t0, c0, io0;
    kc_err_t err;

    if (argc < 6) {
        fprintf(stderr, "usage: kafkac_bench <bootstrap> <topic> <count> <size> <batch> [codec]\n");
        return 2;
    }
    count = atol(argv[3]);
    size = atol(argv[4]);
    batch = atol(argv[5]);
    if (argc > 6) {
        const char *z = argv[6];
        codec = strcmp(z, "gzip") == 0     ? KC_COMPRESSION_GZIP
                : strcmp(z, "snappy") == 0 ? KC_COMPRESSION_SNAPPY
                : strcmp(z, "lz4") == 0    ? KC_COMPRESSION_LZ4
                : strcmp(z, "zstd") == 0   ? KC_COMPRESSION_ZSTD
                                           : KC_COMPRESSION_NONE;
    }
    conf = kc_conf_new();
    if ((err = kc_conf_set(conf, "bootstrap.servers", argv[1])) != KC_OK)
        die("config", err);
    if ((err = kc_client_new(conf, &client)) != KC_OK)
        die("client", err);
    kc_conf_free(conf);

    payload = malloc((size_t)size);
    recs = calloc((size_t)batch, sizeof(*recs));
    for (i = 0; i < size; i++)
        payload[i] = (uint8_t)("abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7) % 36]);
    for (i = 0; i < batch; i++) {
        recs[i].value = payload;
        recs[i].value_len = (size_t)size;
    }

    t0 = now();
    c0 = cpu();
    io0 = io_cpu();
    while (sent < count) {
        long n = count - sent < batch ? count - sent : batch;
        int64_t off;
        if ((err = kc_client_produce(client, argv[2], 0, recs, (size_t)n, -1, codec, 30000, &off)) != KC_OK)
            die("produce", err);
        if (base < 0)
            base = off;
        sent += n;
    }
    printf("kafkac produce msgs=%ld bytes=%ld wall=%.6f cpu=%.6f rss_kib=%ld io_cpu=%.3f\n", sent,
           sent * size, now() - t0, cpu() - c0, peak_rss_kib(), io_cpu() - io0);
    fflush(stdout);

    /* A broker may keep less than was produced (librdkafka's mock trims its log): fetch
     * what it still has. */
    {
        int64_t lo = 0;
        if ((err = kc_client_list_offsets(client, argv[2], 0, KC_OFFSET_EARLIEST, 30000, &lo)) != KC_OK)
            die("list offsets", err);
        offset = lo > base ? lo : base;
        count -= (long)(offset - base);
    }
    t0 = now();
    c0 = cpu();
    io0 = io_cpu();
    while (got < count) {
        kc_fetch_result_t *res;
        size_t n, r;
        if ((err = kc_client_fetch(client, argv[2], 0, offset, 4 << 20, 10, 30000, &res)) != KC_OK) {
            int64_t lo = -1, hi = -1;
            kc_client_list_offsets(client, argv[2], 0, KC_OFFSET_EARLIEST, 5000, &lo);
            kc_client_list_offsets(client, argv[2], 0, KC_OFFSET_LATEST, 5000, &hi);
            fprintf(stderr, "fetch at %lld failed after %ld records (base %lld, log %lld..%lld)\n",
                    (long long)offset, got, (long long)base, (long long)lo, (long long)hi);
            die("fetch", err);
        }
        n = kc_fetch_result_record_count(res);
        for (r = 0; r < n; r++) {
            kc_record_view_t v;
            if (kc_fetch_result_record(res, r, &v) != KC_OK || v.offset < offset)
                continue;
            if (v.value_len != (size_t)size || v.value[0] != payload[0]) {
                fprintf(stderr, "error: record %lld has wrong content\n", (long long)v.offset);
                return 1;
            }
            got++;
            offset = v.offset + 1;
        }
        kc_fetch_result_free(res);
    }
    printf("kafkac fetch msgs=%ld bytes=%ld wall=%.6f cpu=%.6f rss_kib=%ld io_cpu=%.3f\n", got,
           got * size, now() - t0, cpu() - c0, peak_rss_kib(), io_cpu() - io0);
    kc_client_free(client);
    free(recs);
    free(payload);
    return 0;
}
