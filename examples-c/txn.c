/*
 * txn <bootstrap> <input> <output> <group> <transactional.id> [-n records] [-i ms]
 *     [-A k] [-e] [-X key=value ...]
 *
 * Consume-transform-produce, exactly once: copies every record of topic <input> to the
 * same partition of topic <output> (which needs at least as many partitions), in
 * transactions of a transactional producer (transactional.id <transactional.id>). Each
 * transaction also commits the input offsets it consumed up to, for consumer group
 * <group>, so an output record is visible to read_committed readers if and only if the
 * input offsets past it are committed. A copier that is stopped at any point (even with
 * SIGKILL) and started again resumes from the last committed transaction: its output,
 * read with isolation.level=read_committed, holds every input record exactly once.
 *
 * The copy of input record (partition p, offset o, key k, value v) has key k and value
 * "<p>:<o>:<v>".
 *
 * The input partitions are assigned (kc_consumer_assign) rather than subscribed: one
 * copier owns the whole input, and a second one started with the same transactional.id
 * fences the first (its next transactional call fails with a fatal error), so two
 * copiers never both commit.
 *
 *   -n records  records per transaction (default 1000)
 *   -i ms       commit a transaction that has records after this long even when it is
 *               not full (default 500)
 *   -A k        abort every k-th transaction instead of committing it (a demonstration
 *               of the abort path: its records are never visible to read_committed
 *               readers, and are copied again by the next transaction)
 *   -e          exit once every input partition is copied up to its end
 *   -X k=v      a configuration property, for the producer and the consumer alike
 *
 * Errors of the transactional calls are handled by their class:
 *   kc_txn_error_is_retriable(): call again (a timeout; the call resumes);
 *   kc_txn_error_is_abortable(): abort the transaction, rewind the consumer to the last
 *     committed offsets, and copy again;
 *   kc_txn_error_is_fatal(): the producer cannot go on (fenced by a newer copier with
 *     the same transactional.id, not authorised): exit.
 *
 * SIGINT or SIGTERM: commits the transaction under way, then exits as at the end.
 *
 * stdout: "start <p>:<offset>..." once the input is assigned (where each partition
 * resumes), then one line per transaction once it ended, "committed <n>" or
 * "aborted <n>" (its records). stderr: "error: <NAME>: <detail>" for errors, then a summary "copied <n>
 * records in <t> transactions, <a> aborted, <s> s, <r> records/s".
 * Exit status: 0 after a clean exit, 1 after a fatal error, 2 for bad usage or
 * configuration.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include "common.h"

/* Bound on each call to the cluster. */
#define CALL_TIMEOUT_MS 30000
/* Transactions aborted in a row (for errors, not -A) before the copier gives up. */
#define MAX_FAILED_IN_ROW 5

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What the copier knows of one input partition. */
struct part {
    /* The offset the last committed transaction consumed up to: the next record to
     * copy (the start of the partition when nothing was committed yet). */
    int64_t committed;
    /* The next record to copy after those of the transaction under way. */
    int64_t next;
    /* The end offset of the last KC_ERR__PARTITION_EOF event, -1 if none since. */
    int64_t eof;
};

struct copier {
    const char *input, *output;
    kc_producer_t *producer;
    kc_consumer_t *consumer;
    struct part *parts;
    int32_t n_parts;
    int in_txn;
    long long txn_records;  /* records in the transaction under way */
    unsigned long long copied, committed_txns, aborted_txns;
    int failed_in_row;
};

/* Prints the error of a failed call and its class. */
static void print_txn_error(kc_err_t err, const char *call) {
    char detail[1024];
    const char *class = kc_txn_error_is_retriable()   ? "retriable"
                        : kc_txn_error_is_abortable() ? "abortable"
                        : kc_txn_error_is_fatal()     ? "fatal"
                                                      : "usage";
    if (kc_last_error(detail, sizeof(detail)) == 0)
        snprintf(detail, sizeof(detail), "%s", kc_err_str(err));
    fprintf(stderr, "error: %s: %s: %s (%s)\n", kc_err_name(err), call, detail, class);
}

/* Whether every input partition is copied up to the end it last reported. */
static int all_at_end(const struct copier *cp) {
    int32_t p;
    for (p = 0; p < cp->n_parts; p++)
        if (cp->parts[p].eof < 0 || cp->parts[p].eof != cp->parts[p].next)
            return 0;
    return 1;
}

/* Moves the consumer back to the last committed offsets: after an abort, the records
 * of the aborted transaction are copied again. Partitions the transaction took nothing
 * from keep their position (and what the consumer fetched of them). Returns 0, or -1
 * on an error. */
static int rewind_input(struct copier *cp) {
    int32_t p;
    for (p = 0; p < cp->n_parts; p++) {
        struct part *pt = &cp->parts[p];
        kc_err_t err;
        if (pt->next == pt->committed)
            continue;
        err = kc_consumer_seek(cp->consumer, cp->input, p, pt->committed);
        if (err != KC_OK) {
            print_error(err);
            return -1;
        }
        pt->next = pt->committed;
        pt->eof = -1;
    }
    return 0;
}

/*
 * Aborts the transaction under way and rewinds the input. Returns 0, or -1 when the
 * copier cannot go on (a fatal error).
 */
static int abort_txn(struct copier *cp) {
    kc_err_t err;
    for (;;) {
        err = kc_producer_abort_transaction(cp->producer, CALL_TIMEOUT_MS);
        if (err == KC_OK)
            break;
        print_txn_error(err, "abort_transaction");
        if (!kc_txn_error_is_retriable())
            return -1;
    }
    printf("aborted %lld\n", cp->txn_records);
    fflush(stdout);
    cp->aborted_txns++;
    cp->in_txn = 0;
    cp->txn_records = 0;
    return rewind_input(cp);
}

/* The offsets the transaction consumed up to, with the consumer's group metadata.
 * Returns the call's result. */
static kc_err_t send_offsets(struct copier *cp) {
    kc_topic_partition_t *offs = calloc((size_t)cp->n_parts, sizeof(*offs));
    kc_group_metadata_t *meta = NULL;
    size_t n = 0;
    int32_t p;
    kc_err_t err;
    if (offs == NULL) {
        fprintf(stderr, "error: _FAIL: out of memory\n");
        return KC_ERR__FAIL;
    }
    for (p = 0; p < cp->n_parts; p++) {
        if (cp->parts[p].next == cp->parts[p].committed)
            continue;
        offs[n].topic = cp->input;
        offs[n].partition = p;
        offs[n].offset = cp->parts[p].next;
        offs[n].leader_epoch = -1;
        n++;
    }
    /* Taken now: it must describe the consumer that read the transaction's records. */
    err = kc_consumer_group_metadata(cp->consumer, &meta);
    if (err != KC_OK) {
        print_error(err);
        free(offs);
        return err;
    }
    for (;;) {
        err = kc_producer_send_offsets_to_transaction(cp->producer, offs, n, meta,
                                                      CALL_TIMEOUT_MS);
        if (err == KC_OK || !kc_txn_error_is_retriable())
            break;
        print_txn_error(err, "send_offsets_to_transaction");
    }
    kc_group_metadata_free(meta);
    free(offs);
    return err;
}

/*
 * Ends the transaction under way: commits it (with its input offsets), or aborts it
 * when `abort` is set or the commit fails with an abortable error. Returns 0, or -1
 * when the copier cannot go on.
 */
static int end_txn(struct copier *cp, int abort) {
    kc_err_t err;
    int32_t p;
    if (abort)
        return abort_txn(cp);
    err = send_offsets(cp);
    if (err != KC_OK) {
        if (err != KC_ERR__FAIL)
            print_txn_error(err, "send_offsets_to_transaction");
        if (!kc_txn_error_is_abortable())
            return -1;
        if (++cp->failed_in_row > MAX_FAILED_IN_ROW)
            return -1;
        return abort_txn(cp);
    }
    for (;;) {
        err = kc_producer_commit_transaction(cp->producer, CALL_TIMEOUT_MS);
        if (err == KC_OK)
            break;
        print_txn_error(err, "commit_transaction");
        if (kc_txn_error_is_retriable())
            continue;
        if (!kc_txn_error_is_abortable() || ++cp->failed_in_row > MAX_FAILED_IN_ROW)
            return -1;
        return abort_txn(cp);
    }
    printf("committed %lld\n", cp->txn_records);
    fflush(stdout);
    for (p = 0; p < cp->n_parts; p++)
        cp->parts[p].committed = cp->parts[p].next;
    cp->copied += (unsigned long long)cp->txn_records;
    cp->committed_txns++;
    cp->failed_in_row = 0;
    cp->in_txn = 0;
    cp->txn_records = 0;
    return 0;
}

/* Sends the copy of record m in the transaction under way. Returns 0, or -1 when the
 * transaction must be aborted (the error is printed). */
static int copy_record(struct copier *cp, const kc_message_t *m) {
    size_t klen = 0, vlen = 0, len;
    const void *key = kc_message_key(m, &klen);
    const void *value = kc_message_value(m, &vlen);
    int32_t p = kc_message_partition(m);
    int64_t offset = kc_message_offset(m);
    char prefix[64];
    uint8_t *buf;
    kc_record_t rec;
    kc_err_t err;
    int n = snprintf(prefix, sizeof(prefix), "%d:%lld:", (int)p, (long long)offset);
    if (n < 0 || (size_t)n >= sizeof(prefix))
        return -1;
    len = (size_t)n + vlen;
    buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        fprintf(stderr, "error: _FAIL: out of memory\n");
        return -1;
    }
    memcpy(buf, prefix, (size_t)n);
    if (vlen > 0)
        memcpy(buf + n, value, vlen);
    memset(&rec, 0, sizeof(rec));
    rec.key = key;
    rec.key_len = klen;
    rec.value = buf;
    rec.value_len = len;
    for (;;) {
        err = kc_producer_send(cp->producer, cp->output, p, &rec, NULL);
        if (err != KC_ERR__QUEUE_FULL)
            break;
        /* Serving reports frees room in the queue. */
        kc_producer_poll(cp->producer, 100);
    }
    free(buf);
    if (err != KC_OK) {
        /* A failed transaction refuses sends with its error: the abort says more. */
        print_error(err);
        return -1;
    }
    kc_producer_poll(cp->producer, 0);
    cp->parts[p].next = offset + 1;
    cp->parts[p].eof = -1;
    cp->txn_records++;
    return 0;
}

/* The number of partitions of `topic`, or -1 (the error is printed). */
static int32_t partition_count(kc_client_t *client, const char *topic) {
    kc_metadata_t *md = NULL;
    kc_topic_t t;
    int32_t n = -1;
    kc_err_t err = kc_client_metadata(client, &topic, 1, CALL_TIMEOUT_MS, &md);
    if (err == KC_OK)
        err = kc_metadata_topic(md, 0, &t);
    if (err != KC_OK) {
        print_error(err);
    } else if (t.err != KC_OK) {
        fprintf(stderr, "error: %s: topic '%s': %s\n", kc_err_name(t.err), topic,
                kc_err_str(t.err));
    } else {
        n = (int32_t)t.partition_cnt;
    }
    kc_metadata_free(md);
    return n;
}

/*
 * Reads the group's committed offsets of the input (the start of each partition where
 * nothing is committed yet) and assigns every partition from there. Called after
 * kc_producer_init_transactions, which ends the transaction an earlier copier left
 * open, so the offsets read are final. Returns 0 or -1.
 */
static int assign_input(struct copier *cp, kc_client_t *client) {
    kc_topic_partition_t *tps = calloc((size_t)cp->n_parts, sizeof(*tps));
    int32_t p;
    kc_err_t err;
    if (tps == NULL) {
        fprintf(stderr, "error: _FAIL: out of memory\n");
        return -1;
    }
    for (p = 0; p < cp->n_parts; p++) {
        tps[p].topic = cp->input;
        tps[p].partition = p;
        tps[p].offset = KC_OFFSET_INVALID;
        tps[p].leader_epoch = -1;
    }
    err = kc_consumer_committed(cp->consumer, tps, (size_t)cp->n_parts, CALL_TIMEOUT_MS);
    for (p = 0; err == KC_OK && p < cp->n_parts; p++) {
        struct part *pt = &cp->parts[p];
        pt->committed = tps[p].offset;
        if (pt->committed < 0)
            err = kc_client_list_offsets(client, cp->input, p, KC_OFFSET_EARLIEST,
                                         CALL_TIMEOUT_MS, &pt->committed);
        pt->next = pt->committed;
        pt->eof = -1;
        tps[p].offset = pt->committed;
    }
    if (err == KC_OK)
        err = kc_consumer_assign(cp->consumer, tps, (size_t)cp->n_parts);
    free(tps);
    if (err != KC_OK) {
        print_error(err);
        return -1;
    }
    printf("start");
    for (p = 0; p < cp->n_parts; p++)
        printf(" %d:%lld", (int)p, (long long)cp->parts[p].committed);
    printf("\n");
    fflush(stdout);
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: txn <bootstrap> <input> <output> <group> <transactional.id> "
                    "[-n records] [-i ms] [-A k] [-e] [-X key=value]\n");
    return 2;
}

/* Creates the transactional producer and the consumer from `conf`. Returns 0 or 2. */
static int make_clients(struct copier *cp, const kc_conf_t *conf, const char *group,
                        const char *txn_id, int exit_at_end) {
    kc_conf_t *pc = kc_conf_dup(conf), *cc = kc_conf_dup(conf);
    kc_err_t err = pc != NULL && cc != NULL ? KC_OK : KC_ERR__FAIL;
    if (err == KC_OK)
        err = kc_conf_set(pc, "transactional.id", txn_id);
    if (err == KC_OK)
        err = kc_producer_new(pc, &cp->producer);
    if (err == KC_OK)
        err = kc_conf_set(cc, "group.id", group);
    /* Offsets are committed by the transactions only. */
    if (err == KC_OK)
        err = kc_conf_set(cc, "enable.auto.commit", "false");
    /* The input may itself be written by transactions. */
    if (err == KC_OK)
        err = kc_conf_set(cc, "isolation.level", "read_committed");
    if (err == KC_OK && exit_at_end)
        err = kc_conf_set(cc, "enable.partition.eof", "true");
    if (err == KC_OK)
        err = kc_consumer_new(cc, &cp->consumer);
    kc_conf_free(pc);
    kc_conf_free(cc);
    if (err != KC_OK) {
        print_error(err);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv) {
    kc_conf_t *conf = kc_conf_new();
    kc_client_t *client = NULL;
    struct copier cp;
    struct sigaction sa;
    long long per_txn = 1000, interval_ms = 500, abort_every = 0;
    int exit_at_end = 0, status = 0, i;
    double started, txn_started = 0, took;
    kc_err_t err;

    memset(&cp, 0, sizeof(cp));
    if (conf == NULL)
        return 2;
    argc = take_properties(conf, argc, argv);
    if (argc < 6) {
        kc_conf_free(conf);
        return usage();
    }
    for (i = 6; i < argc; i++) {
        if (strcmp(argv[i], "-e") == 0) {
            exit_at_end = 1;
        } else if (i + 1 < argc && strcmp(argv[i], "-n") == 0) {
            per_txn = parse_int(argv[++i], "-n");
        } else if (i + 1 < argc && strcmp(argv[i], "-i") == 0) {
            interval_ms = parse_int(argv[++i], "-i");
        } else if (i + 1 < argc && strcmp(argv[i], "-A") == 0) {
            abort_every = parse_int(argv[++i], "-A");
        } else {
            kc_conf_free(conf);
            return usage();
        }
    }
    if (per_txn < 1 || interval_ms < 0 || abort_every < 0) {
        fprintf(stderr, "error: _INVALID_ARG: -n must be at least 1, -i and -A at least 0\n");
        kc_conf_free(conf);
        return 2;
    }
    cp.input = argv[2];
    cp.output = argv[3];

    err = kc_conf_set(conf, "bootstrap.servers", argv[1]);
    if (err != KC_OK) {
        print_error(err);
        kc_conf_free(conf);
        return 2;
    }
    status = make_clients(&cp, conf, argv[4], argv[5], exit_at_end);
    /* A client for the input's partitions and their start offsets. */
    if (status == 0 && (err = kc_client_new(conf, &client)) != KC_OK) {
        print_error(err);
        status = 2;
    }
    kc_conf_free(conf);
    if (status == 0) {
        cp.n_parts = partition_count(client, cp.input);
        if (cp.n_parts < 0)
            status = 1;
    }
    if (status != 0) {
        kc_client_free(client);
        kc_producer_free(cp.producer);
        kc_consumer_free(cp.consumer);
        return status;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Fences any earlier copier with this transactional.id and ends its transaction. */
    for (;;) {
        err = kc_producer_init_transactions(cp.producer, CALL_TIMEOUT_MS);
        if (err == KC_OK)
            break;
        print_txn_error(err, "init_transactions");
        if (!kc_txn_error_is_retriable() || stop) {
            status = 1;
            break;
        }
    }
    cp.parts = calloc(cp.n_parts > 0 ? (size_t)cp.n_parts : 1, sizeof(*cp.parts));
    if (status == 0 && cp.parts == NULL) {
        fprintf(stderr, "error: _FAIL: out of memory\n");
        status = 1;
    }
    if (status == 0 && assign_input(&cp, client) != 0)
        status = 1;
    kc_client_free(client);

    started = now_s();
    while (status == 0) {
        kc_message_t *m;
        int full;
        if (stop || (exit_at_end && all_at_end(&cp))) {
            if (cp.in_txn && end_txn(&cp, 0) != 0)
                status = 1;
            /* An abort at the very end rewinds the input: copy again. */
            if (status != 0 || stop || all_at_end(&cp))
                break;
        }
        m = kc_consumer_poll(cp.consumer, 100);
        if (m == NULL) {
            if (kc_last_error_code() != KC_OK) {
                print_error(kc_last_error_code());
                status = 1;
            }
        } else if ((err = kc_message_err(m)) == KC_OK) {
            if (!cp.in_txn) {
                err = kc_producer_begin_transaction(cp.producer);
                if (err != KC_OK) {
                    print_txn_error(err, "begin_transaction");
                    status = 1;
                    kc_message_free(m);
                    break;
                }
                cp.in_txn = 1;
                txn_started = now_s();
            }
            if (copy_record(&cp, m) != 0) {
                if (++cp.failed_in_row > MAX_FAILED_IN_ROW || abort_txn(&cp) != 0)
                    status = 1;
            }
        } else if (err == KC_ERR__PARTITION_EOF) {
            int32_t p = kc_message_partition(m);
            /* At the end only if nothing was copied past it (all_at_end compares). */
            if (p >= 0 && p < cp.n_parts)
                cp.parts[p].eof = kc_message_offset(m);
        } else {
            fprintf(stderr, "error: %s: %s\n", kc_err_name(err), kc_message_errstr(m));
            if (kc_message_is_fatal(m))
                status = 1;
        }
        kc_message_free(m);
        full = cp.txn_records >= per_txn ||
               (cp.txn_records > 0 && (now_s() - txn_started) * 1000.0 >= (double)interval_ms);
        if (status == 0 && cp.in_txn && full) {
            unsigned long long n = cp.committed_txns + cp.aborted_txns + 1;
            int abort = abort_every > 0 && n % (unsigned long long)abort_every == 0;
            if (end_txn(&cp, abort) != 0)
                status = 1;
        }
    }
    took = now_s() - started;

    /* A producer that failed fatally has nothing to abort; otherwise close aborts what
     * is open. */
    kc_producer_close(cp.producer, CALL_TIMEOUT_MS, NULL);
    kc_producer_free(cp.producer);
    kc_consumer_close(cp.consumer, CALL_TIMEOUT_MS);
    kc_consumer_free(cp.consumer);
    free(cp.parts);
    fprintf(stderr, "copied %llu records in %llu transactions, %llu aborted, %.3f s, %.0f "
                    "records/s\n",
            cp.copied, cp.committed_txns, cp.aborted_txns, took,
            took > 0 ? (double)cp.copied / took : 0.0);
    return status;
}
