/* C side of the Go binding: see glue.h. */
#include <string.h>
#include "glue.h"
#include "_cgo_export.h"

#define KEEP_DETAIL(err, eb)                                        \
    do {                                                            \
        if ((err) != KC_OK && (eb) != NULL)                         \
            (void)kc_last_error((eb)->msg, sizeof((eb)->msg));      \
    } while (0)

/* ---- callbacks ---------------------------------------------------------------- */

static void dr_trampoline(kc_producer_t *p, const kc_delivery_report_t *r, void *op) {
    (void)p;
    kafkacGoDelivery((uintptr_t)op, (kc_delivery_report_t *)r);
}

static void error_trampoline(kc_producer_t *p, kc_err_t err, const char *reason, void *op) {
    (void)p;
    kafkacGoProducerError((uintptr_t)op, err, (char *)reason);
}

static void rebalance_trampoline(kc_consumer_t *c, kc_err_t kind,
                                 const kc_topic_partition_t *parts, size_t cnt, void *op) {
    (void)c;
    kafkacGoRebalance((uintptr_t)op, kind, (kc_topic_partition_t *)parts, cnt);
}

static void commit_trampoline(kc_consumer_t *c, kc_err_t err,
                              const kc_topic_partition_t *parts, size_t cnt, void *op) {
    (void)c;
    kafkacGoOffsetCommit((uintptr_t)op, err, (kc_topic_partition_t *)parts, cnt);
}

static void oauthbearer_trampoline(kc_oauthbearer_t *ob, const char *config, void *op) {
    kafkacGoOAuthBearerRefresh((uintptr_t)op, ob, (char *)config);
}

kc_err_t kc_go_conf_oauthbearer_cb(kc_conf_t *conf, kc_go_errbuf *eb) {
    kc_err_t err = kc_conf_set_oauthbearer_token_refresh_cb(conf, oauthbearer_trampoline);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_conf_producer_callbacks(kc_conf_t *conf, uintptr_t h, kc_go_errbuf *eb) {
    kc_err_t err = kc_conf_set_dr_msg_cb(conf, dr_trampoline);
    if (err == KC_OK)
        err = kc_conf_set_error_cb(conf, error_trampoline);
    if (err == KC_OK)
        err = kc_conf_set_opaque(conf, (void *)h);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_conf_consumer_callbacks(kc_conf_t *conf, uintptr_t h, kc_go_errbuf *eb) {
    kc_err_t err = kc_conf_set_rebalance_cb(conf, rebalance_trampoline);
    if (err == KC_OK)
        err = kc_conf_set_offset_commit_cb(conf, commit_trampoline);
    if (err == KC_OK)
        err = kc_conf_set_opaque(conf, (void *)h);
    KEEP_DETAIL(err, eb);
    return err;
}

/* ---- handles ------------------------------------------------------------------ */

kc_err_t kc_go_conf_set(kc_conf_t *conf, const char *name, const char *value, kc_go_errbuf *eb) {
    kc_err_t err = kc_conf_set(conf, name, value);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_producer_new(const kc_conf_t *conf, kc_producer_t **p, kc_go_errbuf *eb) {
    kc_err_t err = kc_producer_new(conf, p);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_consumer_new(const kc_conf_t *conf, kc_consumer_t **c, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_new(conf, c);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_client_new(const kc_conf_t *conf, kc_client_t **c, kc_go_errbuf *eb) {
    kc_err_t err = kc_client_new(conf, c);
    KEEP_DETAIL(err, eb);
    return err;
}

/* ---- producer ----------------------------------------------------------------- */

static const uint8_t empty[1];

static const uint8_t *buffer(const void *p, size_t len, int null) {
    if (null)
        return NULL;
    return len == 0 ? empty : (const uint8_t *)p;
}

kc_err_t kc_go_producer_send(kc_producer_t *p, const char *topic, int32_t partition,
                             const void *key, size_t key_len, int key_null,
                             const void *value, size_t value_len, int value_null,
                             const void *hdr_data, const size_t *hdr_lens, size_t hdr_cnt,
                             int64_t timestamp, uintptr_t opaque, kc_go_errbuf *eb) {
    kc_header_t small[8];
    kc_header_t *hdrs = small;
    kc_record_t rec;
    kc_err_t err;
    size_t i, at = 0;

    if (hdr_cnt > sizeof(small) / sizeof(small[0])) {
        hdrs = malloc(hdr_cnt * sizeof(*hdrs));
        if (hdrs == NULL) {
            if (eb != NULL)
                strcpy(eb->msg, "out of memory for the message's headers");
            return KC_ERR__FAIL;
        }
    }
    for (i = 0; i < hdr_cnt; i++) {
        size_t klen = hdr_lens[3 * i], vlen = hdr_lens[3 * i + 1];
        const uint8_t *data = hdr_data;
        /* No arithmetic on data when it may be NULL (every header empty). */
        hdrs[i].key = klen == 0 ? (const char *)empty : (const char *)(data + at);
        hdrs[i].key_len = klen;
        at += klen;
        if (hdr_lens[3 * i + 2])
            hdrs[i].value = NULL;
        else
            hdrs[i].value = vlen == 0 ? empty : data + at;
        hdrs[i].value_len = vlen;
        at += vlen;
    }
    rec.key = buffer(key, key_len, key_null);
    rec.key_len = key_null ? 0 : key_len;
    rec.value = buffer(value, value_len, value_null);
    rec.value_len = value_null ? 0 : value_len;
    rec.headers = hdr_cnt > 0 ? hdrs : NULL;
    rec.header_cnt = hdr_cnt;
    rec.timestamp = timestamp;
    err = kc_producer_send(p, topic, partition, &rec, (void *)opaque);
    KEEP_DETAIL(err, eb);
    if (hdrs != small)
        free(hdrs);
    return err;
}

int kc_go_producer_poll(kc_producer_t *p, int32_t timeout_ms, kc_err_t *err, kc_go_errbuf *eb) {
    int n = kc_producer_poll(p, timeout_ms);
    *err = n < 0 ? kc_last_error_code() : KC_OK;
    KEEP_DETAIL(*err, eb);
    return n;
}

kc_err_t kc_go_producer_flush(kc_producer_t *p, int32_t timeout_ms, kc_go_errbuf *eb) {
    kc_err_t err = kc_producer_flush(p, timeout_ms);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_producer_close(kc_producer_t *p, int32_t timeout_ms, size_t *dropped, kc_go_errbuf *eb) {
    kc_err_t err = kc_producer_close(p, timeout_ms, dropped);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_producer_fatal_error(kc_producer_t *p, kc_go_errbuf *eb) {
    return kc_producer_fatal_error(p, eb->msg, sizeof(eb->msg));
}

/* ---- consumer ----------------------------------------------------------------- */

kc_err_t kc_go_consumer_subscribe(kc_consumer_t *c, char **topics, size_t cnt, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_subscribe(c, (const char *const *)topics, cnt);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_consumer_unsubscribe(kc_consumer_t *c, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_unsubscribe(c);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_topic_partition_t *kc_go_parts_new(size_t cnt) {
    return calloc(cnt == 0 ? 1 : cnt, sizeof(kc_topic_partition_t));
}

void kc_go_parts_set(kc_topic_partition_t *parts, size_t i, char *topic, int32_t partition,
                     int64_t offset, int32_t leader_epoch) {
    parts[i].topic = topic;
    parts[i].partition = partition;
    parts[i].offset = offset;
    parts[i].leader_epoch = leader_epoch;
    parts[i].err = KC_OK;
}

void kc_go_parts_free(kc_topic_partition_t *parts, size_t cnt) {
    size_t i;
    if (parts == NULL)
        return;
    for (i = 0; i < cnt; i++)
        free((char *)parts[i].topic);
    free(parts);
}

kc_err_t kc_go_consumer_assign(kc_consumer_t *c, const kc_topic_partition_t *parts, size_t cnt, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_assign(c, parts, cnt);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_consumer_pause(kc_consumer_t *c, const kc_topic_partition_t *parts, size_t cnt, int resume, kc_go_errbuf *eb) {
    kc_err_t err = resume ? kc_consumer_resume(c, parts, cnt) : kc_consumer_pause(c, parts, cnt);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_consumer_assignment(kc_consumer_t *c, kc_topic_partition_t **parts, size_t *cnt, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_assignment(c, parts, cnt);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_message_t *kc_go_consumer_poll(kc_consumer_t *c, int32_t timeout_ms, kc_err_t *err, kc_go_errbuf *eb) {
    kc_message_t *m = kc_consumer_poll(c, timeout_ms);
    *err = m == NULL ? kc_last_error_code() : KC_OK;
    KEEP_DETAIL(*err, eb);
    return m;
}

kc_err_t kc_go_consumer_commit(kc_consumer_t *c, const kc_topic_partition_t *parts, size_t cnt, int async, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_commit(c, parts, cnt, async);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_consumer_committed(kc_consumer_t *c, kc_topic_partition_t *parts, size_t cnt, int32_t timeout_ms, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_committed(c, parts, cnt, timeout_ms);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_consumer_position(kc_consumer_t *c, kc_topic_partition_t *parts, size_t cnt, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_position(c, parts, cnt);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_consumer_seek(kc_consumer_t *c, const char *topic, int32_t partition, int64_t offset, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_seek(c, topic, partition, offset);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_consumer_store_offset(kc_consumer_t *c, const char *topic, int32_t partition, int64_t offset, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_store_offset(c, topic, partition, offset);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_consumer_close(kc_consumer_t *c, int32_t timeout_ms, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_close(c, timeout_ms);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_message_header(const kc_message_t *m, size_t i, kc_go_header *out) {
    return kc_message_header(m, i, &out->key, &out->key_len, &out->value, &out->value_len);
}

/* ---- client ------------------------------------------------------------------- */

kc_err_t kc_go_client_create_topic(kc_client_t *c, const char *topic, int32_t partitions,
                                   int32_t replication_factor, char **configs, size_t config_cnt,
                                   int32_t timeout_ms, kc_go_errbuf *eb) {
    kc_err_t err = kc_client_create_topic(c, topic, partitions, replication_factor,
                                          (const char *const *)configs, config_cnt, timeout_ms);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_client_delete_topic(kc_client_t *c, const char *topic, int32_t timeout_ms, kc_go_errbuf *eb) {
    kc_err_t err = kc_client_delete_topic(c, topic, timeout_ms);
    KEEP_DETAIL(err, eb);
    return err;
}

char **kc_go_strv_new(size_t cnt) {
    return calloc(cnt == 0 ? 1 : cnt, sizeof(char *));
}

void kc_go_strv_set(char **v, size_t i, char *s) {
    v[i] = s;
}

void kc_go_strv_free(char **v, size_t cnt) {
    size_t i;
    if (v == NULL)
        return;
    for (i = 0; i < cnt; i++)
        free(v[i]);
    free(v);
}

/* ---- transactions ------------------------------------------------------------- */

/* The class of the last transactional call on this thread (see glue.h). */
static int txn_class(void) {
    if (kc_txn_error_is_retriable())
        return 1;
    if (kc_txn_error_is_abortable())
        return 2;
    if (kc_txn_error_is_fatal())
        return 3;
    return 0;
}

#define KEEP_TXN(err, cls, eb)                                      \
    do {                                                            \
        *(cls) = (err) == KC_OK ? 0 : txn_class();                  \
        KEEP_DETAIL(err, eb);                                       \
    } while (0)

kc_err_t kc_go_txn_init(kc_producer_t *p, int32_t timeout_ms, int *cls, kc_go_errbuf *eb) {
    kc_err_t err = kc_producer_init_transactions(p, timeout_ms);
    KEEP_TXN(err, cls, eb);
    return err;
}

kc_err_t kc_go_txn_begin(kc_producer_t *p, int *cls, kc_go_errbuf *eb) {
    kc_err_t err = kc_producer_begin_transaction(p);
    KEEP_TXN(err, cls, eb);
    return err;
}

kc_err_t kc_go_txn_send_offsets(kc_producer_t *p, const kc_topic_partition_t *parts, size_t cnt,
                                const kc_group_metadata_t *meta, int32_t timeout_ms, int *cls,
                                kc_go_errbuf *eb) {
    kc_err_t err = kc_producer_send_offsets_to_transaction(p, cnt == 0 ? NULL : parts, cnt, meta, timeout_ms);
    KEEP_TXN(err, cls, eb);
    return err;
}

kc_err_t kc_go_txn_commit(kc_producer_t *p, int32_t timeout_ms, int *cls, kc_go_errbuf *eb) {
    kc_err_t err = kc_producer_commit_transaction(p, timeout_ms);
    KEEP_TXN(err, cls, eb);
    return err;
}

kc_err_t kc_go_txn_abort(kc_producer_t *p, int32_t timeout_ms, int *cls, kc_go_errbuf *eb) {
    kc_err_t err = kc_producer_abort_transaction(p, timeout_ms);
    KEEP_TXN(err, cls, eb);
    return err;
}

kc_err_t kc_go_consumer_group_metadata(kc_consumer_t *c, kc_group_metadata_t **meta, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_group_metadata(c, meta);
    KEEP_DETAIL(err, eb);
    return err;
}

/* ---- OAUTHBEARER -------------------------------------------------------------- */

kc_err_t kc_go_oauthbearer_set_token(int kind, void *target, const char *token, int64_t lifetime_ms,
                                     const char *principal, char **ext, size_t ext_cnt,
                                     kc_go_errbuf *eb) {
    const char *const *e = (const char *const *)ext;
    kc_err_t err;
    switch (kind) {
    case KC_GO_PRODUCER:
        err = kc_producer_oauthbearer_set_token(target, token, lifetime_ms, principal, e, ext_cnt);
        break;
    case KC_GO_CONSUMER:
        err = kc_consumer_oauthbearer_set_token(target, token, lifetime_ms, principal, e, ext_cnt);
        break;
    default:
        err = kc_oauthbearer_set_token(target, token, lifetime_ms, principal, e, ext_cnt);
        break;
    }
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_oauthbearer_set_token_failure(int kind, void *target, const char *errstr,
                                             kc_go_errbuf *eb) {
    kc_err_t err;
    switch (kind) {
    case KC_GO_PRODUCER:
        err = kc_producer_oauthbearer_set_token_failure(target, errstr);
        break;
    case KC_GO_CONSUMER:
        err = kc_consumer_oauthbearer_set_token_failure(target, errstr);
        break;
    default:
        err = kc_oauthbearer_set_token_failure(target, errstr);
        break;
    }
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_producer_sasl_background(kc_producer_t *p, kc_go_errbuf *eb) {
    kc_err_t err = kc_producer_sasl_background_callbacks_enable(p);
    KEEP_DETAIL(err, eb);
    return err;
}

kc_err_t kc_go_consumer_sasl_background(kc_consumer_t *c, kc_go_errbuf *eb) {
    kc_err_t err = kc_consumer_sasl_background_callbacks_enable(c);
    KEEP_DETAIL(err, eb);
    return err;
}
