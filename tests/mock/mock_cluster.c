/*
 * mock_cluster: a librdkafka mock cluster driven over stdin, for kafkac's
 * integration tests (see tests/common/mod.rs).
 *
 * Usage: mock_cluster <num_brokers>
 *
 * On start it prints exactly one line "bootstrap <host:port,...>" to stdout.
 * It then reads one command per line from stdin and answers each with one
 * line, "ok" or "error <text>":
 *
 *   topic <name> <partitions> <replication>
 *   leader <topic> <partition> <broker_id>       (broker_id -1: no leader)
 *   down <broker_id>                             (-1: all brokers)
 *   up <broker_id>                               (-1: all brokers)
 *   errors <api_key> <count> <err> [<err>...]    cluster-wide error stack
 *   broker_errors <broker_id> <api_key> <count> <err> [<err>...]
 *   rtt <broker_id> <ms>                         (-1: all brokers)
 *   clear_errors <api_key>                       clears the cluster-wide stack
 *   quit
 *
 * For errors/broker_errors, either exactly <count> error codes follow, or a
 * single one that is then used <count> times. An error is a number (e.g. 6,
 * or -195 for a disconnect) or a librdkafka error name without the
 * RD_KAFKA_RESP_ERR_ prefix (e.g. NOT_LEADER_FOR_PARTITION, _TRANSPORT).
 *
 * End of stdin acts as quit, so the cluster goes away with its parent.
 * Written against librdkafka 2.0.2's rdkafka_mock.h.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_ARGS 130
#define MAX_ERRS 128

static void reply_ok(void) {
        fputs("ok\n", stdout);
        fflush(stdout);
}

static void reply_err(const char *fmt, const char *arg) {
        fputs("error ", stdout);
        fprintf(stdout, fmt, arg);
        fputc('\n', stdout);
        fflush(stdout);
}

static void reply_rd_err(rd_kafka_resp_err_t err) {
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                reply_ok();
        else
                reply_err("%s", rd_kafka_err2name(err));
}

static void quiet_logger(const rd_kafka_t *rk,
                         int level,
                         const char *fac,
                         const char *buf) {
        (void)rk;
        /* Only errors and worse, to stderr (the tests send it to a file). */
        if (level <= 3)
                fprintf(stderr, "mock_cluster %d %s: %s\n", level, fac, buf);
}

/* Parses a whole decimal integer in [lo, hi]. Returns 0 on success. */
static int parse_long(const char *s, long lo, long hi, long *out) {
        char *end;
        long v;
        if (s == NULL || *s == '\0')
                return -1;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < lo || v > hi)
                return -1;
        *out = v;
        return 0;
}

/* Parses an error code, numeric or by librdkafka name. Returns 0 on success. */
static int parse_err(const char *s, rd_kafka_resp_err_t *out) {
        long v;
        const struct rd_kafka_err_desc *descs;
        size_t cnt, i;

        if (parse_long(s, -32768, 32767, &v) == 0) {
                *out = (rd_kafka_resp_err_t)v;
                return 0;
        }
        if (strncmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
                s += 18;
        rd_kafka_get_err_descs(&descs, &cnt);
        for (i = 0; i < cnt; i++) {
                if (descs[i].name != NULL && strcmp(descs[i].name, s) == 0) {
                        *out = descs[i].code;
                        return 0;
                }
        }
        return -1;
}

/* Parses "<count> <err> [<err>...]" from argv[0..argc) into errs.
 * Returns the count, or -1 after having replied with an error. */
static long parse_err_list(int argc, char **argv, rd_kafka_resp_err_t *errs) {
        long cnt, i;
        int nerr = argc - 1;

        if (argc < 2 || parse_long(argv[0], 1, MAX_ERRS, &cnt) != 0) {
                reply_err("%s", "expected <count 1..128> <err> [<err>...]");
                return -1;
        }
        if (nerr != 1 && nerr != cnt) {
                reply_err("%s",
                          "give either one error or exactly <count> errors");
                return -1;
        }
        for (i = 0; i < nerr; i++) {
                if (parse_err(argv[1 + i], &errs[i]) != 0) {
                        reply_err("unknown error code %s", argv[1 + i]);
                        return -1;
                }
        }
        for (i = nerr; i < cnt; i++)
                errs[i] = errs[0];
        return cnt;
}

/* Runs one command. Returns 1 when the program should exit. */
static int run_command(rd_kafka_mock_cluster_t *mc, int argc, char **argv) {
        const char *cmd = argv[0];
        long a, b;
        rd_kafka_resp_err_t errs[MAX_ERRS];
        long cnt, i;

        if (strcmp(cmd, "quit") == 0) {
                reply_ok();
                return 1;

        } else if (strcmp(cmd, "topic") == 0) {
                if (argc != 4 || parse_long(argv[2], 1, INT_MAX, &a) != 0 ||
                    parse_long(argv[3], 1, INT_MAX, &b) != 0) {
                        reply_err("%s",
                                  "usage: topic <name> <partitions> "
                                  "<replication>");
                        return 0;
                }
                reply_rd_err(
                    rd_kafka_mock_topic_create(mc, argv[1], (int)a, (int)b));

        } else if (strcmp(cmd, "leader") == 0) {
                if (argc != 4 || parse_long(argv[2], 0, INT32_MAX, &a) != 0 ||
                    parse_long(argv[3], -1, INT32_MAX, &b) != 0) {
                        reply_err("%s",
                                  "usage: leader <topic> <partition> "
                                  "<broker_id>");
                        return 0;
                }
                reply_rd_err(rd_kafka_mock_partition_set_leader(
                    mc, argv[1], (int32_t)a, (int32_t)b));

        } else if (strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0) {
                if (argc != 2 || parse_long(argv[1], -1, INT32_MAX, &a) != 0) {
                        reply_err("usage: %s <broker_id>", cmd);
                        return 0;
                }
                if (cmd[0] == 'd')
                        reply_rd_err(
                            rd_kafka_mock_broker_set_down(mc, (int32_t)a));
                else
                        reply_rd_err(
                            rd_kafka_mock_broker_set_up(mc, (int32_t)a));

        } else if (strcmp(cmd, "rtt") == 0) {
                if (argc != 3 || parse_long(argv[1], -1, INT32_MAX, &a) != 0 ||
                    parse_long(argv[2], 0, INT_MAX, &b) != 0) {
                        reply_err("%s", "usage: rtt <broker_id> <ms>");
                        return 0;
                }
                reply_rd_err(
                    rd_kafka_mock_broker_set_rtt(mc, (int32_t)a, (int)b));

        } else if (strcmp(cmd, "errors") == 0) {
                if (argc < 2 || parse_long(argv[1], 0, INT16_MAX, &a) != 0) {
                        reply_err("%s",
                                  "usage: errors <api_key> <count> <err> "
                                  "[<err>...]");
                        return 0;
                }
                cnt = parse_err_list(argc - 2, argv + 2, errs);
                if (cnt < 0)
                        return 0;
                rd_kafka_mock_push_request_errors_array(mc, (int16_t)a,
                                                        (size_t)cnt, errs);
                reply_ok();

        } else if (strcmp(cmd, "clear_errors") == 0) {
                if (argc != 2 || parse_long(argv[1], 0, INT16_MAX, &a) != 0) {
                        reply_err("%s", "usage: clear_errors <api_key>");
                        return 0;
                }
                rd_kafka_mock_clear_request_errors(mc, (int16_t)a);
                reply_ok();

        } else if (strcmp(cmd, "broker_errors") == 0) {
                if (argc < 3 || parse_long(argv[1], 0, INT32_MAX, &a) != 0 ||
                    parse_long(argv[2], 0, INT16_MAX, &b) != 0) {
                        reply_err("%s",
                                  "usage: broker_errors <broker_id> <api_key> "
                                  "<count> <err> [<err>...]");
                        return 0;
                }
                cnt = parse_err_list(argc - 3, argv + 3, errs);
                if (cnt < 0)
                        return 0;
                /* The call is variadic; each call appends to the broker's
                 * stack for the key, so one (err, rtt 0) tuple at a time
                 * builds the same stack in the same order. */
                for (i = 0; i < cnt; i++) {
                        rd_kafka_resp_err_t r =
                            rd_kafka_mock_broker_push_request_error_rtts(
                                mc, (int32_t)a, (int16_t)b, 1, errs[i], 0);
                        if (r != RD_KAFKA_RESP_ERR_NO_ERROR) {
                                reply_rd_err(r);
                                return 0;
                        }
                }
                reply_ok();

        } else {
                reply_err("unknown command %s", cmd);
        }
        return 0;
}

int main(int argc, char **argv) {
        long nbrokers;
        char errstr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        char line[8192];
        int done = 0;

        if (argc != 2 || parse_long(argv[1], 1, 64, &nbrokers) != 0) {
                fprintf(stderr, "usage: %s <num_brokers 1..64>\n", argv[0]);
                return 2;
        }

        conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, quiet_logger);
        if (rd_kafka_conf_set(conf, "log_level", "3", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "client.id", "kafkac-mock-cluster", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "mock_cluster: config: %s\n", errstr);
                return 1;
        }

        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (rk == NULL) {
                fprintf(stderr, "mock_cluster: rd_kafka_new: %s\n", errstr);
                return 1;
        }

        mc = rd_kafka_mock_cluster_new(rk, (int)nbrokers);
        if (mc == NULL) {
                fprintf(stderr, "mock_cluster: rd_kafka_mock_cluster_new "
                                "failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }

        fprintf(stdout, "bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
        fflush(stdout);

        while (!done && fgets(line, sizeof(line), stdin) != NULL) {
                char *args[MAX_ARGS];
                int n    = 0;
                char *sp = NULL;
                char *tok;
                size_t len = strlen(line);

                if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
                        int ch;
                        while ((ch = getchar()) != EOF && ch != '\n')
                                ;
                        reply_err("%s", "line too long");
                        continue;
                }
                for (tok = strtok_r(line, " \t\r\n", &sp); tok != NULL;
                     tok = strtok_r(NULL, " \t\r\n", &sp)) {
                        if (n == MAX_ARGS) {
                                n = -1;
                                break;
                        }
                        args[n++] = tok;
                }
                if (n < 0) {
                        reply_err("%s", "too many arguments");
                        continue;
                }
                if (n == 0) {
                        reply_err("%s", "empty command");
                        continue;
                }
                done = run_command(mc, n, args);
        }

        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 0;
}
