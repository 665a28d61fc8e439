/*
 * offsets <bootstrap> <topic> <partition> earliest|latest|<timestamp-ms> [-X key=value ...]
 *
 * Prints the offset.
 */
#include "common.h"

int main(int argc, char **argv) {
    kc_conf_t *conf = kc_conf_new();
    kc_client_t *client;
    kc_err_t err;
    long long partition;
    int64_t what, offset = -1;

    argc = take_properties(conf, argc, argv);
    if (argc < 0) {
        kc_conf_free(conf);
        return 2;
    }
    if (argc != 5) {
        fprintf(stderr, "usage: offsets <bootstrap> <topic> <partition> earliest|latest|<timestamp-ms> [-X key=value]\n");
        kc_conf_free(conf);
        return 2;
    }
    partition = parse_int(argv[3], "partition");
    if (strcmp(argv[4], "earliest") == 0)
        what = KC_OFFSET_EARLIEST;
    else if (strcmp(argv[4], "latest") == 0)
        what = KC_OFFSET_LATEST;
    else
        what = parse_int(argv[4], "timestamp");
    client = make_client(conf, argv[1]);
    kc_conf_free(conf);
    if (client == NULL)
        return 1;
    err = kc_client_list_offsets(client, argv[2], (int32_t)partition, what, 30000, &offset);
    if (err != KC_OK) {
        print_error(err);
        kc_client_free(client);
        return 1;
    }
    printf("%lld\n", (long long)offset);
    kc_client_free(client);
    return 0;
}
