/*
 * librdkafka's built-in partitioner functions (rd_kafka_msg_partitioner_*, public in
 * rdkafka.h), called directly: what each returns for each key and partition count.
 *
 *   rdkafka_partition <name,name,...> <count> [<count>...]  < keys
 *
 * Keys, one a line: `null` for a NULL key, else the key's bytes in hex (an empty line is
 * the empty key). The first output line is `librdkafka <version>`; then one line per key
 * with, for each partitioner (in the order given) and each count, the partition, or `r`
 * where the function picks at random for that key. A function is taken to pick at random
 * when three calls with 2^30 partitions do not all agree.
 *
 * The functions get a real topic handle (of a producer that never connects), which the
 * random partitioner consults for available partitions; it knows none, so it draws twice.
 */
#include <librdkafka/rdkafka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int32_t (*partitioner_fn)(const rd_kafka_topic_t *rkt, const void *key,
                                  size_t keylen, int32_t partition_cnt,
                                  void *rkt_opaque, void *msg_opaque);

static const struct {
        const char *name;
        partitioner_fn fn;
} partitioners[] = {
    {"random", rd_kafka_msg_partitioner_random},
    {"consistent", rd_kafka_msg_partitioner_consistent},
    {"consistent_random", rd_kafka_msg_partitioner_consistent_random},
    {"murmur2", rd_kafka_msg_partitioner_murmur2},
    {"murmur2_random", rd_kafka_msg_partitioner_murmur2_random},
    {"fnv1a", rd_kafka_msg_partitioner_fnv1a},
    {"fnv1a_random", rd_kafka_msg_partitioner_fnv1a_random},
};

#define N_PARTITIONERS (sizeof(partitioners) / sizeof(partitioners[0]))
#define MAX_SELECTED 16
#define MAX_COUNTS 32
#define MAX_LINE 4096

static int hexval(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static partitioner_fn lookup(const char *name) {
        size_t i;
        for (i = 0; i < N_PARTITIONERS; i++)
                if (!strcmp(partitioners[i].name, name))
                        return partitioners[i].fn;
        return NULL;
}

int main(int argc, char **argv) {
        partitioner_fn selected[MAX_SELECTED];
        int n_selected = 0;
        int32_t counts[MAX_COUNTS];
        int n_counts = 0;
        char errstr[512];
        static char line[MAX_LINE];
        static unsigned char key[MAX_LINE / 2];
        char *tok;
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt;
        int i, j;

        if (argc < 3 || argc - 2 > MAX_COUNTS) {
                fprintf(stderr, "usage: %s name[,name...] count [count...]\n",
                        argv[0]);
                return 2;
        }
        for (tok = strtok(argv[1], ","); tok; tok = strtok(NULL, ",")) {
                if (n_selected == MAX_SELECTED || !(selected[n_selected] = lookup(tok))) {
                        fprintf(stderr, "unknown partitioner %s\n", tok);
                        return 2;
                }
                n_selected++;
        }
        for (i = 2; i < argc; i++) {
                long v = strtol(argv[i], NULL, 10);
                if (v < 1 || v > INT32_MAX) {
                        fprintf(stderr, "bad partition count %s\n", argv[i]);
                        return 2;
                }
                counts[n_counts++] = (int32_t)v;
        }

        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
                fprintf(stderr, "conf: %s\n", errstr);
                return 1;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (!rk) {
                fprintf(stderr, "rd_kafka_new: %s\n", errstr);
                return 1;
        }
        rkt = rd_kafka_topic_new(rk, "partitioners", NULL);
        if (!rkt) {
                fprintf(stderr, "rd_kafka_topic_new: %s\n",
                        rd_kafka_err2str(rd_kafka_last_error()));
                return 1;
        }

        printf("librdkafka %s\n", rd_kafka_version_str());
        while (fgets(line, sizeof line, stdin)) {
                size_t len = strcspn(line, "\r\n");
                const unsigned char *k = key;
                size_t keylen = len / 2;

                line[len] = '\0';
                if (!strcmp(line, "null")) {
                        k      = NULL;
                        keylen = 0;
                } else {
                        size_t b;
                        if (len % 2) {
                                fprintf(stderr, "odd hex length: %s\n", line);
                                return 2;
                        }
                        for (b = 0; b < keylen; b++) {
                                int hi = hexval(line[2 * b]);
                                int lo = hexval(line[2 * b + 1]);
                                if (hi < 0 || lo < 0) {
                                        fprintf(stderr, "bad hex: %s\n", line);
                                        return 2;
                                }
                                key[b] = (unsigned char)(hi << 4 | lo);
                        }
                }
                for (i = 0; i < n_selected; i++) {
                        partitioner_fn fn = selected[i];
                        const int32_t wide = (int32_t)1 << 30;
                        int32_t a = fn(rkt, k, keylen, wide, NULL, NULL);
                        int32_t b = fn(rkt, k, keylen, wide, NULL, NULL);
                        int32_t c = fn(rkt, k, keylen, wide, NULL, NULL);
                        int random = a != b || b != c;
                        for (j = 0; j < n_counts; j++) {
                                if (random)
                                        fputs(" r", stdout);
                                else
                                        printf(" %d", (int)fn(rkt, k, keylen,
                                                              counts[j], NULL,
                                                              NULL));
                        }
                }
                putchar('\n');
        }
        if (ferror(stdin)) {
                perror("stdin");
                return 1;
        }

        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        return fflush(stdout) ? 1 : 0;
}
