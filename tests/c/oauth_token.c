/* OAUTHBEARER tokens set by the application through the C API, under the sanitizers.
 * Usage: oauth_token <bootstrap> <token> <lifetime_ms>; prints "ok" at the end. */
#include "kafkac.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void expect(const char *what, kc_err_t got, kc_err_t want, const char *in_msg) {
    char msg[1024];
    kc_last_error(msg, sizeof msg);
    if (got != want || (in_msg && !strstr(msg, in_msg))) {
        printf("FAIL %s: got %d (%s), want %d with '%s'\n", what, (int)got, msg, (int)want,
               in_msg ? in_msg : "");
        failures++;
    } else {
        printf("%s: %d %s\n", what, (int)got, msg);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: oauth_token <bootstrap> <token> <lifetime_ms>\n");
        return 2;
    }
    long long life = strtoll(argv[3], NULL, 10);
    kc_conf_t *conf = kc_conf_new();
    if (kc_conf_set(conf, "bootstrap.servers", argv[1]) ||
        kc_conf_set(conf, "security.protocol", "sasl_plaintext") ||
        kc_conf_set(conf, "sasl.mechanism", "OAUTHBEARER") ||
        kc_conf_set(conf, "reconnect.backoff.max.ms", "200")) {
        fprintf(stderr, "conf refused\n");
        return 1;
    }
    kc_client_t *c = NULL;
    if (kc_client_new(conf, &c)) {
        fprintf(stderr, "client refused\n");
        return 1;
    }
    kc_conf_free(conf);
    kc_metadata_t *md = NULL;
    const char *ext[] = {"traceId", "c-1", "odd"};
    const char *bad_key[] = {"trace-id", "x"};
    expect("null token", kc_client_oauthbearer_set_token(c, NULL, life, "alice", NULL, 0),
           KC_ERR__NULL_ARG, "token_value");
    expect("empty token", kc_client_oauthbearer_set_token(c, "", life, "alice", NULL, 0),
           KC_ERR__INVALID_ARG, "empty");
    expect("expired", kc_client_oauthbearer_set_token(c, argv[2], 1000, "alice", NULL, 0),
           KC_ERR__INVALID_ARG, "not in the future");
    expect("odd extensions", kc_client_oauthbearer_set_token(c, argv[2], life, "alice", ext, 3),
           KC_ERR__INVALID_ARG, "odd");
    expect("null extensions", kc_client_oauthbearer_set_token(c, argv[2], life, "alice", NULL, 2),
           KC_ERR__INVALID_ARG, "NULL");
    expect("bad key", kc_client_oauthbearer_set_token(c, argv[2], life, "alice", bad_key, 2),
           KC_ERR__INVALID_ARG, "trace-id");
    expect("null errstr", kc_client_oauthbearer_set_token_failure(c, NULL), KC_ERR__NULL_ARG,
           "errstr");
    expect("failure", kc_client_oauthbearer_set_token_failure(c, "no token from the c test"),
           0, NULL);
    expect("metadata after failure", kc_client_metadata(c, NULL, 0, 10000, &md),
           KC_ERR__AUTHENTICATION, "no token from the c test");
    expect("token", kc_client_oauthbearer_set_token(c, argv[2], life, "alice", ext, 2),
           0, NULL);
    kc_err_t e = KC_ERR__FAIL;
    for (int i = 0; i < 50 && e; i++) /* the reconnect back-off may refuse at first */
        e = kc_client_metadata(c, NULL, 0, 10000, &md);
    expect("metadata with the token", e, 0, NULL);
    kc_metadata_free(md);
    kc_client_free(c);
    expect("null client", kc_client_oauthbearer_set_token(NULL, argv[2], life, "a", NULL, 0),
           KC_ERR__NULL_ARG, "client");
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
