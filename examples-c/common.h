/*
 * Shared helpers for the kafkac C examples: -X key=value parsing, error reporting.
 * Header-only so that each example builds from a single command line.
 */
#ifndef KAFKAC_EXAMPLES_COMMON_H
#define KAFKAC_EXAMPLES_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kafkac.h"

/* Prints "error: <NAME>: <detail>" for the last failure on this thread. */
static inline void print_error(kc_err_t err) {
    char detail[1024];
    size_t n = kc_last_error(detail, sizeof(detail));
    fprintf(stderr, "error: %s: %s\n", kc_err_name(err),
            n > 0 ? detail : kc_err_str(err));
}

/* Parses "key=value" into conf; returns 0 or prints the error and returns -1. */
static inline int apply_property(kc_conf_t *conf, const char *kv) {
    char buf[1024];
    const char *eq = strchr(kv, '=');
    size_t klen;
    kc_err_t err;
    if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(buf)) {
        fprintf(stderr, "error: _INVALID_ARG: -X expects key=value, got '%s'\n", kv);
        return -1;
    }
    klen = (size_t)(eq - kv);
    memcpy(buf, kv, klen);
    buf[klen] = '\0';
    err = kc_conf_set(conf, buf, eq + 1);
    if (err != KC_OK) {
        print_error(err);
        return -1;
    }
    return 0;
}

/*
 * Removes every "-X key=value" (or "-Xkey=value") from argv, applying it to conf, and
 * compacts the remaining arguments. Returns the new argc, or -1 on error.
 */
static inline int take_properties(kc_conf_t *conf, int argc, char **argv) {
    int i, out = 1;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-X") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "error: _INVALID_ARG: -X needs key=value\n");
                return -1;
            }
            if (apply_property(conf, argv[++i]) != 0)
                return -1;
        } else if (strncmp(argv[i], "-X", 2) == 0) {
            if (apply_property(conf, argv[i] + 2) != 0)
                return -1;
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    return out;
}

/* Creates a client for bootstrap with the -X properties already in conf. */
static inline kc_client_t *make_client(kc_conf_t *conf, const char *bootstrap) {
    kc_client_t *client = NULL;
    kc_err_t err = kc_conf_set(conf, "bootstrap.servers", bootstrap);
    if (err == KC_OK)
        err = kc_client_new(conf, &client);
    if (err != KC_OK) {
        print_error(err);
        return NULL;
    }
    return client;
}

/* Parses a decimal integer argument; exits with a message on failure. */
static inline long long parse_int(const char *s, const char *what) {
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || end == NULL || *end != '\0') {
        fprintf(stderr, "error: _INVALID_ARG: %s must be an integer, got '%s'\n", what, s);
        exit(2);
    }
    return v;
}

#endif
