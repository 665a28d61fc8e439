/*
 * consumer <bootstrap> <group> <topic>... [-X key=value ...] [-c count] [-e] [-f format]
 *
 * Like `kcat -G`: joins consumer group <group>, subscribes to the topics (a name
 * starting with ^ is a regular expression) and prints each record. Offsets are
 * committed automatically while it runs (enable.auto.commit, the default) and once
 * more, synchronously, before it leaves the group on exit.
 *
 *   -c count  exit after count records
 *   -e        exit once every assigned partition is at its end (enable.partition.eof)
 *   -f fmt    how to print a record (default "%p %o %k %s\n"): %t topic, %p partition,
 *             %o offset, %k key, %s value, %K key length, %S value length (-1 for
 *             null), %T timestamp (ms), %% a percent sign, \n newline, \t tab, \\ a
 *             backslash. A null key or value prints as nothing.
 *
 * SIGINT or SIGTERM: commits, leaves the group and exits as at the end.
 *
 * stdout: the records. stderr: "error: <NAME>: <detail>" for errors, then a summary
 * "consumed <n> records, <b> value bytes, from <p> partitions".
 * Exit status: 0 after a clean exit, 1 after a fatal error or a failed final commit,
 * 2 for bad usage or configuration.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include "common.h"

/* How long leaving the group may take. */
#define CLOSE_TIMEOUT_MS 10000

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

/* A partition at its end (-e): set by KC_ERR__PARTITION_EOF, cleared by a record. */
struct eof {
    char *topic;
    int32_t partition;
};

struct state {
    struct eof *eofs;
    size_t n_eofs, cap_eofs;
    /* Partitions that gave records, for the summary. */
    struct eof *seen;
    size_t n_seen, cap_seen;
};

static int find(const struct eof *v, size_t n, const char *topic, int32_t partition) {
    size_t i;
    for (i = 0; i < n; i++)
        if (v[i].partition == partition && strcmp(v[i].topic, topic) == 0)
            return (int)i;
    return -1;
}

static void add(struct eof **v, size_t *n, size_t *cap, const char *topic,
                int32_t partition) {
    if (find(*v, *n, topic, partition) >= 0)
        return;
    if (*n == *cap) {
        size_t c = *cap != 0 ? *cap * 2 : 16;
        struct eof *nv = realloc(*v, c * sizeof(**v));
        if (nv == NULL)
            return;
        *v = nv;
        *cap = c;
    }
    (*v)[*n].topic = malloc(strlen(topic) + 1);
    if ((*v)[*n].topic == NULL)
        return;
    strcpy((*v)[*n].topic, topic);
    (*v)[*n].partition = partition;
    (*n)++;
}

static void drop_entry(struct eof *v, size_t *n, const char *topic, int32_t partition) {
    int i = find(v, *n, topic, partition);
    if (i < 0)
        return;
    free(v[i].topic);
    v[i] = v[*n - 1];
    (*n)--;
}

static void release(struct eof *v, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        free(v[i].topic);
    free(v);
}

/* Whether every partition assigned now is at its end (and there is at least one). */
static int all_at_end(kc_consumer_t *c, const struct state *st) {
    kc_topic_partition_t *parts = NULL;
    size_t n = 0, i;
    int done;
    if (kc_consumer_assignment(c, &parts, &n) != KC_OK)
        return 0;
    done = n > 0;
    for (i = 0; i < n && done; i++)
        done = find(st->eofs, st->n_eofs, parts[i].topic, parts[i].partition) >= 0;
    kc_topic_partitions_free(parts, n);
    return done;
}

static void put_bytes(const void *p, size_t len) {
    if (p != NULL && len > 0)
        fwrite(p, 1, len, stdout);
}

static void print_record(const kc_message_t *m, const char *fmt) {
    size_t klen = 0, vlen = 0;
    const void *key = kc_message_key(m, &klen);
    const void *value = kc_message_value(m, &vlen);
    const char *f;
    for (f = fmt; *f != '\0'; f++) {
        if (*f == '%' && f[1] != '\0') {
            f++;
            switch (*f) {
            case 't': fputs(kc_message_topic(m), stdout); break;
            case 'p': printf("%d", (int)kc_message_partition(m)); break;
            case 'o': printf("%lld", (long long)kc_message_offset(m)); break;
            case 'k': put_bytes(key, klen); break;
            case 's': put_bytes(value, vlen); break;
            case 'K': printf("%lld", key != NULL ? (long long)klen : -1LL); break;
            case 'S': printf("%lld", value != NULL ? (long long)vlen : -1LL); break;
            case 'T': printf("%lld", (long long)kc_message_timestamp(m, NULL)); break;
            case '%': putchar('%'); break;
            default: putchar('%'); putchar(*f); break;
            }
        } else if (*f == '\\' && f[1] != '\0') {
            f++;
            putchar(*f == 'n' ? '\n' : *f == 't' ? '\t' : *f);
        } else {
            putchar(*f);
        }
    }
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s <bootstrap> <group> <topic>... [-X key=value ...] [-c count] [-e] "
            "[-f format]\n",
            argv0);
}

int main(int argc, char **argv) {
    kc_conf_t *conf = kc_conf_new();
    kc_consumer_t *c = NULL;
    const char **topics;
    const char *fmt = "%p %o %k %s\n";
    long long limit = -1;
    unsigned long long count = 0, bytes = 0;
    int exit_at_end = 0, status = 0, bad = 0, i;
    size_t n_topics = 0;
    kc_err_t err;
    struct state st;
    struct sigaction sa;

    memset(&st, 0, sizeof(st));
    if (conf == NULL)
        return 2;
    argc = take_properties(conf, argc, argv);
    if (argc < 0) {
        kc_conf_free(conf);
        return 2;
    }
    topics = calloc((size_t)argc, sizeof(*topics));
    if (topics == NULL) {
        kc_conf_free(conf);
        return 2;
    }
    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            limit = parse_int(argv[++i], "-c");
        } else if (strcmp(argv[i], "-e") == 0) {
            exit_at_end = 1;
        } else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) {
            fmt = argv[++i];
        } else if (argv[i][0] == '-') {
            bad = 1;
        } else {
            topics[n_topics++] = argv[i];
        }
    }
    if (bad || argc < 4 || n_topics == 0) {
        usage(argv[0]);
        free(topics);
        kc_conf_free(conf);
        return 2;
    }

    err = kc_conf_set(conf, "bootstrap.servers", argv[1]);
    if (err == KC_OK)
        err = kc_conf_set(conf, "group.id", argv[2]);
    if (err == KC_OK && exit_at_end)
        err = kc_conf_set(conf, "enable.partition.eof", "true");
    if (err == KC_OK)
        err = kc_consumer_new(conf, &c);
    kc_conf_free(conf);
    if (err == KC_OK)
        err = kc_consumer_subscribe(c, topics, n_topics);
    free(topics);
    if (err != KC_OK) {
        print_error(err);
        kc_consumer_free(c);
        return 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    while (!stop && (limit < 0 || (long long)count < limit)) {
        kc_message_t *m = kc_consumer_poll(c, 100);
        if (m == NULL) {
            if (kc_last_error_code() != KC_OK) {
                print_error(kc_last_error_code());
                status = 1;
                break;
            }
            continue;
        }
        err = kc_message_err(m);
        if (err == KC_OK) {
            size_t vlen = 0;
            print_record(m, fmt);
            kc_message_value(m, &vlen);
            count++;
            bytes += vlen;
            drop_entry(st.eofs, &st.n_eofs, kc_message_topic(m), kc_message_partition(m));
            add(&st.seen, &st.n_seen, &st.cap_seen, kc_message_topic(m),
                kc_message_partition(m));
        } else if (err == KC_ERR__PARTITION_EOF) {
            add(&st.eofs, &st.n_eofs, &st.cap_eofs, kc_message_topic(m),
                kc_message_partition(m));
        } else {
            fprintf(stderr, "error: %s: %s\n", kc_err_name(err), kc_message_errstr(m));
            if (kc_message_is_fatal(m)) {
                status = 1;
                stop = 1;
            }
        }
        kc_message_free(m);
        if (exit_at_end && err == KC_ERR__PARTITION_EOF && all_at_end(c, &st))
            break;
    }
    fflush(stdout);

    /* Everything printed counts as processed: commit it before leaving the group. */
    err = kc_consumer_commit(c, NULL, 0, 0);
    if (err != KC_OK && status == 0) {
        print_error(err);
        status = 1;
    }
    err = kc_consumer_close(c, CLOSE_TIMEOUT_MS);
    if (err != KC_OK) {
        print_error(err);
        status = 1;
    }
    kc_consumer_free(c);
    fprintf(stderr, "consumed %llu records, %llu value bytes, from %zu partitions\n", count,
            bytes, st.n_seen);
    release(st.eofs, st.n_eofs);
    release(st.seen, st.n_seen);
    return status;
}
