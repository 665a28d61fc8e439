/*
 * produce <bootstrap> <topic> <partition> [-z none|gzip|snappy|lz4|zstd] [-a acks] [-k]
 *         [-b batch-size] [-X key=value ...]
 *
 * Each line of stdin is one record value (with -k, "key<TAB>value"; a line without a
 * TAB then has a null key). Records are sent in batches (default 1000 lines); one line
 * "produced <n> records to <topic>/<p> base offset <o>" is printed per batch.
 */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

struct line {
    char *data;
    size_t len;
};

static int send_batch(kc_client_t *client, const char *topic, int32_t partition,
                      struct line *lines, kc_record_t *recs, size_t n, int keyed,
                      int acks, kc_compression_t codec) {
    size_t i;
    int64_t base = -1;
    kc_err_t err;
    for (i = 0; i < n; i++) {
        char *tab = keyed ? memchr(lines[i].data, '\t', lines[i].len) : NULL;
        memset(&recs[i], 0, sizeof(recs[i]));
        if (tab != NULL) {
            recs[i].key = (const uint8_t *)lines[i].data;
            recs[i].key_len = (size_t)(tab - lines[i].data);
            recs[i].value = (const uint8_t *)tab + 1;
            recs[i].value_len = lines[i].len - recs[i].key_len - 1;
        } else {
            recs[i].value = (const uint8_t *)lines[i].data;
            recs[i].value_len = lines[i].len;
        }
    }
    err = kc_client_produce(client, topic, partition, recs, n, acks, codec, 30000, &base);
    if (err != KC_OK) {
        print_error(err);
        return -1;
    }
    printf("produced %zu records to %s/%d base offset %lld\n", n, topic, partition,
           (long long)base);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    kc_conf_t *conf = kc_conf_new();
    kc_client_t *client;
    const char *pos[3];
    int npos = 0, i, keyed = 0, acks = KC_ACKS_DEFAULT, rc = 0;
    kc_compression_t codec = KC_COMPRESSION_DEFAULT;
    size_t batch = 1000, n = 0;
    struct line *lines;
    kc_record_t *recs;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t got;
    int32_t partition;

    argc = take_properties(conf, argc, argv);
    if (argc < 0) {
        kc_conf_free(conf);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-k") == 0) {
            keyed = 1;
        } else if (strcmp(argv[i], "-z") == 0 && i + 1 < argc) {
            const char *z = argv[++i];
            if (strcmp(z, "none") == 0) codec = KC_COMPRESSION_NONE;
            else if (strcmp(z, "gzip") == 0) codec = KC_COMPRESSION_GZIP;
            else if (strcmp(z, "snappy") == 0) codec = KC_COMPRESSION_SNAPPY;
            else if (strcmp(z, "lz4") == 0) codec = KC_COMPRESSION_LZ4;
            else if (strcmp(z, "zstd") == 0) codec = KC_COMPRESSION_ZSTD;
            else {
                fprintf(stderr, "error: _INVALID_ARG: unknown codec '%s'\n", z);
                kc_conf_free(conf);
                return 2;
            }
        } else if (strcmp(argv[i], "-a") == 0 && i + 1 < argc) {
            acks = (int)parse_int(argv[++i], "acks");
        } else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) {
            long long b = parse_int(argv[++i], "batch size");
            if (b < 1) {
                fprintf(stderr, "error: _INVALID_ARG: batch size must be >= 1\n");
                kc_conf_free(conf);
                return 2;
            }
            batch = (size_t)b;
        } else if (npos < 3 && argv[i][0] != '-') {
            pos[npos++] = argv[i];
        } else {
            npos = -1;
            break;
        }
    }
    if (npos != 3) {
        fprintf(stderr, "usage: produce <bootstrap> <topic> <partition> [-z codec] [-a acks] [-k] [-b batch] [-X key=value]\n");
        kc_conf_free(conf);
        return 2;
    }
    partition = (int32_t)parse_int(pos[2], "partition");
    client = make_client(conf, pos[0]);
    kc_conf_free(conf);
    if (client == NULL)
        return 1;

    lines = calloc(batch, sizeof(*lines));
    recs = calloc(batch, sizeof(*recs));
    if (lines == NULL || recs == NULL) {
        fprintf(stderr, "error: _FAIL: out of memory\n");
        free(lines);
        free(recs);
        kc_client_free(client);
        return 1;
    }
    while ((got = getline(&buf, &cap, stdin)) >= 0) {
        size_t len = (size_t)got;
        if (len > 0 && buf[len - 1] == '\n')
            len--;
        lines[n].data = malloc(len + 1);
        if (lines[n].data == NULL) {
            fprintf(stderr, "error: _FAIL: out of memory\n");
            rc = 1;
            break;
        }
        memcpy(lines[n].data, buf, len);
        lines[n].len = len;
        n++;
        if (n == batch) {
            if (send_batch(client, pos[1], partition, lines, recs, n, keyed, acks, codec) != 0)
                rc = 1;
            for (i = 0; (size_t)i < n; i++)
                free(lines[i].data);
            n = 0;
            if (rc != 0)
                break;
        }
    }
    if (rc == 0 && n > 0 &&
        send_batch(client, pos[1], partition, lines, recs, n, keyed, acks, codec) != 0)
        rc = 1;
    for (i = 0; (size_t)i < n; i++)
        free(lines[i].data);
    free(buf);
    free(lines);
    free(recs);
    kc_client_free(client);
    return rc;
}
