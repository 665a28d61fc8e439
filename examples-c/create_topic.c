/*
 * create_topic <bootstrap> <topic> <partitions> [replication] [-X key=value ...]
 */
#include "common.h"

int main(int argc, char **argv) {
    kc_conf_t *conf = kc_conf_new();
    kc_client_t *client;
    kc_err_t err;
    long long partitions, replication = -1;

    argc = take_properties(conf, argc, argv);
    if (argc < 0) {
        kc_conf_free(conf);
        return 2;
    }
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: create_topic <bootstrap> <topic> <partitions> [replication] [-X key=value]\n");
        kc_conf_free(conf);
        return 2;
    }
    partitions = parse_int(argv[3], "partitions");
    if (argc == 5)
        replication = parse_int(argv[4], "replication");
    client = make_client(conf, argv[1]);
    kc_conf_free(conf);
    if (client == NULL)
        return 1;
    err = kc_client_create_topic(client, argv[2], (int32_t)partitions, (int32_t)replication,
                                 NULL, 0, 30000);
    if (err != KC_OK) {
        print_error(err);
        kc_client_free(client);
        return 1;
    }
    printf("created topic %s with %lld partitions\n", argv[2], partitions);
    kc_client_free(client);
    return 0;
}
