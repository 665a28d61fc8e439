/*
 * metadata <bootstrap> [topic...] [-X key=value ...]
 *
 * Prints one line per broker, "broker <id> <host>:<port>", and one per partition,
 * "partition <topic> <p> leader <id>" (for every topic when none is named).
 */
#include "common.h"

int main(int argc, char **argv) {
    kc_conf_t *conf = kc_conf_new();
    kc_client_t *client;
    kc_metadata_t *md = NULL;
    kc_err_t err;
    size_t i, j;
    int rc = 0;

    argc = take_properties(conf, argc, argv);
    if (argc < 0) {
        kc_conf_free(conf);
        return 2;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: metadata <bootstrap> [topic...] [-X key=value]\n");
        kc_conf_free(conf);
        return 2;
    }
    client = make_client(conf, argv[1]);
    kc_conf_free(conf);
    if (client == NULL)
        return 1;

    err = kc_client_metadata(client, argc > 2 ? (const char *const *)&argv[2] : NULL,
                             (size_t)(argc - 2), 10000, &md);
    if (err != KC_OK) {
        print_error(err);
        kc_client_free(client);
        return 1;
    }
    for (i = 0; i < kc_metadata_broker_count(md); i++) {
        kc_broker_t b;
        if (kc_metadata_broker(md, i, &b) == KC_OK)
            printf("broker %d %s:%d\n", b.id, b.host, b.port);
    }
    for (i = 0; i < kc_metadata_topic_count(md); i++) {
        kc_topic_t t;
        if (kc_metadata_topic(md, i, &t) != KC_OK)
            continue;
        if (t.err != KC_OK) {
            fprintf(stderr, "error: %s: topic '%s'\n", kc_err_name(t.err), t.name);
            rc = 1;
            continue;
        }
        for (j = 0; j < t.partition_cnt; j++) {
            kc_partition_t p;
            if (kc_metadata_partition(md, i, j, &p) == KC_OK)
                printf("partition %s %d leader %d\n", t.name, p.id, p.leader);
        }
    }
    kc_metadata_free(md);
    kc_client_free(client);
    return rc;
}
