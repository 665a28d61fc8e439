/*
 * fetch <bootstrap> <topic> <partition> <offset> [-c count] [-k] [-w max-wait-ms]
 *       [-X key=value ...]
 *
 * Prints each record value on its own line, byte for byte (with -k, "key<TAB>value";
 * a null key or value prints as nothing). Stops after <count> records, or when it
 * reaches the high watermark. Each request waits at most max-wait-ms (default 100) for
 * data to arrive.
 */
#include "common.h"

int main(int argc, char **argv) {
    kc_conf_t *conf = kc_conf_new();
    kc_client_t *client;
    const char *pos[4];
    int npos = 0, i, keyed = 0, rc = 0;
    long long count = -1, printed = 0, max_wait = 100;
    int64_t offset;
    int32_t partition;

    argc = take_properties(conf, argc, argv);
    if (argc < 0) {
        kc_conf_free(conf);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-k") == 0)
            keyed = 1;
        else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            count = parse_int(argv[++i], "count");
        else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
            max_wait = parse_int(argv[++i], "max wait");
        else if (npos < 4 && argv[i][0] != '-')
            pos[npos++] = argv[i];
        else {
            npos = -1;
            break;
        }
    }
    if (npos != 4) {
        fprintf(stderr, "usage: fetch <bootstrap> <topic> <partition> <offset> [-c count] [-k] [-w max-wait-ms] [-X key=value]\n");
        kc_conf_free(conf);
        return 2;
    }
    partition = (int32_t)parse_int(pos[2], "partition");
    offset = parse_int(pos[3], "offset");
    client = make_client(conf, pos[0]);
    kc_conf_free(conf);
    if (client == NULL)
        return 1;

    while (count < 0 || printed < count) {
        kc_fetch_result_t *res = NULL;
        size_t n, r;
        int64_t hw, next;
        kc_err_t err = kc_client_fetch(client, pos[1], partition, offset, 4 << 20,
                                       (int32_t)max_wait, 30000, &res);
        if (err != KC_OK) {
            print_error(err);
            rc = 1;
            break;
        }
        n = kc_fetch_result_record_count(res);
        hw = kc_fetch_result_high_watermark(res);
        for (r = 0; r < n && (count < 0 || printed < count); r++) {
            kc_record_view_t v;
            if (kc_fetch_result_record(res, r, &v) != KC_OK)
                continue;
            if (v.offset < offset)
                continue; /* a compressed batch may start before the requested offset */
            if (keyed) {
                if (v.key != NULL)
                    fwrite(v.key, 1, v.key_len, stdout);
                fputc('\t', stdout);
            }
            if (v.value != NULL)
                fwrite(v.value, 1, v.value_len, stdout);
            fputc('\n', stdout);
            printed++;
            offset = v.offset + 1;
        }
        next = kc_fetch_result_next_offset(res);
        if (next > offset && (count < 0 || printed < count))
            offset = next;
        kc_fetch_result_free(res);
        if (offset >= hw)
            break;
    }
    fflush(stdout);
    kc_client_free(client);
    return rc;
}
