/*
 * C side of the Go binding: wrappers that call a kafkac function and, on failure, copy
 * kc_last_error() in the same C call (the detail is per OS thread, and a goroutine may
 * move to another thread between two cgo calls), and trampolines that hand callbacks
 * to the exported Go functions. Go passes only integers (handle numbers) as the
 * callbacks' opaques, never Go pointers.
 */
#ifndef KAFKAC_GO_GLUE_H
#define KAFKAC_GO_GLUE_H

#include <stdint.h>
#include <stdlib.h>
#include "kafkac.h"

/* Where a failed call leaves its detail (kc_last_error), truncated to fit. */
typedef struct kc_go_errbuf {
    char msg[1024];
} kc_go_errbuf;

/* Installs the trampolines and the Go handle `h` as the callbacks' opaque. */
kc_err_t kc_go_conf_producer_callbacks(kc_conf_t *conf, uintptr_t h, kc_go_errbuf *eb);
kc_err_t kc_go_conf_consumer_callbacks(kc_conf_t *conf, uintptr_t h, kc_go_errbuf *eb);

kc_err_t kc_go_conf_set(kc_conf_t *conf, const char *name, const char *value, kc_go_errbuf *eb);
kc_err_t kc_go_producer_new(const kc_conf_t *conf, kc_producer_t **p, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_new(const kc_conf_t *conf, kc_consumer_t **c, kc_go_errbuf *eb);
kc_err_t kc_go_client_new(const kc_conf_t *conf, kc_client_t **c, kc_go_errbuf *eb);

/*
 * Sends one record. key/value: NULL when `*_null`, else `*_len` bytes at the pointer
 * (which may be NULL when the length is 0: an empty buffer). Headers: `hdr_cnt`
 * headers whose keys and values lie one after the other in `hdr_data`; `hdr_lens`
 * holds three numbers per header: key length, value length, 1 if the value is null.
 */
kc_err_t kc_go_producer_send(kc_producer_t *p, const char *topic, int32_t partition,
                             const void *key, size_t key_len, int key_null,
                             const void *value, size_t value_len, int value_null,
                             const void *hdr_data, const size_t *hdr_lens, size_t hdr_cnt,
                             int64_t timestamp, uintptr_t opaque, kc_go_errbuf *eb);
int kc_go_producer_poll(kc_producer_t *p, int32_t timeout_ms, kc_err_t *err, kc_go_errbuf *eb);
kc_err_t kc_go_producer_flush(kc_producer_t *p, int32_t timeout_ms, kc_go_errbuf *eb);
kc_err_t kc_go_producer_close(kc_producer_t *p, int32_t timeout_ms, size_t *dropped, kc_go_errbuf *eb);
kc_err_t kc_go_producer_fatal_error(kc_producer_t *p, kc_go_errbuf *eb);

kc_err_t kc_go_consumer_subscribe(kc_consumer_t *c, char **topics, size_t cnt, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_unsubscribe(kc_consumer_t *c, kc_go_errbuf *eb);

/* Partition lists in C memory, so that the structs' topic pointers are C pointers. */
kc_topic_partition_t *kc_go_parts_new(size_t cnt);
void kc_go_parts_set(kc_topic_partition_t *parts, size_t i, char *topic, int32_t partition,
                     int64_t offset, int32_t leader_epoch);
void kc_go_parts_free(kc_topic_partition_t *parts, size_t cnt);

kc_err_t kc_go_consumer_assign(kc_consumer_t *c, const kc_topic_partition_t *parts, size_t cnt, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_pause(kc_consumer_t *c, const kc_topic_partition_t *parts, size_t cnt, int resume, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_assignment(kc_consumer_t *c, kc_topic_partition_t **parts, size_t *cnt, kc_go_errbuf *eb);
kc_message_t *kc_go_consumer_poll(kc_consumer_t *c, int32_t timeout_ms, kc_err_t *err, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_commit(kc_consumer_t *c, const kc_topic_partition_t *parts, size_t cnt, int async, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_committed(kc_consumer_t *c, kc_topic_partition_t *parts, size_t cnt, int32_t timeout_ms, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_position(kc_consumer_t *c, kc_topic_partition_t *parts, size_t cnt, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_seek(kc_consumer_t *c, const char *topic, int32_t partition, int64_t offset, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_store_offset(kc_consumer_t *c, const char *topic, int32_t partition, int64_t offset, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_close(kc_consumer_t *c, int32_t timeout_ms, kc_go_errbuf *eb);

/* A message's header i, with its pointers (valid until kc_message_free). */
typedef struct kc_go_header {
    const char *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} kc_go_header;
kc_err_t kc_go_message_header(const kc_message_t *m, size_t i, kc_go_header *out);

kc_err_t kc_go_client_create_topic(kc_client_t *c, const char *topic, int32_t partitions,
                                   int32_t replication_factor, char **configs, size_t config_cnt,
                                   int32_t timeout_ms, kc_go_errbuf *eb);
kc_err_t kc_go_client_delete_topic(kc_client_t *c, const char *topic, int32_t timeout_ms, kc_go_errbuf *eb);

/* C string arrays for the calls that take one. */
char **kc_go_strv_new(size_t cnt);
void kc_go_strv_set(char **v, size_t i, char *s);
void kc_go_strv_free(char **v, size_t cnt);

/* ---- transactions -------------------------------------------------------------- */

/*
 * Each transactional call, with its error's class (kc_txn_error_is_*: thread-local)
 * and detail (kc_last_error) read in the same C call, on the thread that made it.
 * `*cls`: 0 none, 1 retriable, 2 abortable, 3 fatal.
 */
kc_err_t kc_go_txn_init(kc_producer_t *p, int32_t timeout_ms, int *cls, kc_go_errbuf *eb);
kc_err_t kc_go_txn_begin(kc_producer_t *p, int *cls, kc_go_errbuf *eb);
kc_err_t kc_go_txn_send_offsets(kc_producer_t *p, const kc_topic_partition_t *parts, size_t cnt,
                                const kc_group_metadata_t *meta, int32_t timeout_ms, int *cls,
                                kc_go_errbuf *eb);
kc_err_t kc_go_txn_commit(kc_producer_t *p, int32_t timeout_ms, int *cls, kc_go_errbuf *eb);
kc_err_t kc_go_txn_abort(kc_producer_t *p, int32_t timeout_ms, int *cls, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_group_metadata(kc_consumer_t *c, kc_group_metadata_t **meta, kc_go_errbuf *eb);

/* ---- OAUTHBEARER ---------------------------------------------------------------- */

/* Installs the token refresh trampoline (its opaque is the one of the callbacks above). */
kc_err_t kc_go_conf_oauthbearer_cb(kc_conf_t *conf, kc_go_errbuf *eb);

/* Where a token goes: the `ob` a refresh callback received, a producer, a consumer. */
enum { KC_GO_OB = 0, KC_GO_PRODUCER = 1, KC_GO_CONSUMER = 2 };

/* Sets the token (`ext`: `ext_cnt` strings, key, value, ...) of `target`, of kind `kind`. */
kc_err_t kc_go_oauthbearer_set_token(int kind, void *target, const char *token, int64_t lifetime_ms,
                                     const char *principal, char **ext, size_t ext_cnt,
                                     kc_go_errbuf *eb);
kc_err_t kc_go_oauthbearer_set_token_failure(int kind, void *target, const char *errstr,
                                             kc_go_errbuf *eb);
kc_err_t kc_go_producer_sasl_background(kc_producer_t *p, kc_go_errbuf *eb);
kc_err_t kc_go_consumer_sasl_background(kc_consumer_t *c, kc_go_errbuf *eb);

#endif
