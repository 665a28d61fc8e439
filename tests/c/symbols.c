/*
 * References every function declared in include/kafkac.h, so that linking this file
 * against libkafkac proves each one is exported (as librdkafka's tests/0006-symbols.c
 * does). tests/symbols.rs builds it against the shared and the static library, runs it,
 * and fails when the header declares a kc_ function that is missing from the list below.
 *
 * Keep the list in the header's order; one function per line.
 */
#include <stdio.h>
#include <string.h>

#include "kafkac.h"

typedef void (*kc_any_fn)(void);

static const struct {
    const char *name;
    kc_any_fn fn;
} symbols[] = {
#define SYM(f) {#f, (kc_any_fn)f}
    SYM(kc_client_new),
    SYM(kc_client_free),
    SYM(kc_client_last_error),
    SYM(kc_client_event_fd),
    SYM(kc_client_event_poll),
    SYM(kc_client_produce),
    SYM(kc_client_list_offsets),
    SYM(kc_client_create_topic),
    SYM(kc_client_delete_topic),
    SYM(kc_client_sasl_background_callbacks_enable),
    SYM(kc_client_oauthbearer_set_token),
    SYM(kc_client_oauthbearer_set_token_failure),
    SYM(kc_producer_oauthbearer_set_token),
    SYM(kc_producer_oauthbearer_set_token_failure),
    SYM(kc_consumer_oauthbearer_set_token),
    SYM(kc_consumer_oauthbearer_set_token_failure),
    SYM(kc_oauthbearer_set_token),
    SYM(kc_oauthbearer_set_token_failure),
    SYM(kc_conf_set_oauthbearer_token_refresh_cb),
    SYM(kc_conf_new),
    SYM(kc_conf_dup),
    SYM(kc_conf_free),
    SYM(kc_conf_set),
    SYM(kc_conf_get),
    SYM(kc_conf_set_rebalance_cb),
    SYM(kc_conf_set_offset_commit_cb),
    SYM(kc_consumer_new),
    SYM(kc_consumer_subscribe),
    SYM(kc_consumer_unsubscribe),
    SYM(kc_consumer_assign),
    SYM(kc_consumer_assignment),
    SYM(kc_topic_partitions_free),
    SYM(kc_consumer_poll),
    SYM(kc_consumer_poll_batch),
    SYM(kc_message_err),
    SYM(kc_message_errstr),
    SYM(kc_message_is_fatal),
    SYM(kc_message_topic),
    SYM(kc_message_partition),
    SYM(kc_message_offset),
    SYM(kc_message_timestamp),
    SYM(kc_message_leader_epoch),
    SYM(kc_message_key),
    SYM(kc_message_value),
    SYM(kc_message_header_cnt),
    SYM(kc_message_header),
    SYM(kc_message_free),
    SYM(kc_consumer_commit),
    SYM(kc_consumer_store_offset),
    SYM(kc_consumer_committed),
    SYM(kc_consumer_position),
    SYM(kc_consumer_seek),
    SYM(kc_consumer_pause),
    SYM(kc_consumer_resume),
    SYM(kc_consumer_close),
    SYM(kc_consumer_free),
    SYM(kc_consumer_sasl_background_callbacks_enable),
    SYM(kc_err_name),
    SYM(kc_err_str),
    SYM(kc_last_error_code),
    SYM(kc_last_error),
    SYM(kc_version),
    SYM(kc_version_num),
    SYM(kc_client_fetch),
    SYM(kc_fetch_result_free),
    SYM(kc_fetch_result_record_count),
    SYM(kc_fetch_result_high_watermark),
    SYM(kc_fetch_result_log_start_offset),
    SYM(kc_fetch_result_last_stable_offset),
    SYM(kc_fetch_result_next_offset),
    SYM(kc_fetch_result_record),
    SYM(kc_fetch_result_header),
    SYM(kc_client_metadata),
    SYM(kc_metadata_free),
    SYM(kc_metadata_broker_count),
    SYM(kc_metadata_topic_count),
    SYM(kc_metadata_controller_id),
    SYM(kc_metadata_cluster_id),
    SYM(kc_metadata_broker),
    SYM(kc_metadata_topic),
    SYM(kc_metadata_partition),
    SYM(kc_conf_set_dr_batch_cb),
    SYM(kc_conf_set_dr_msg_cb),
    SYM(kc_conf_set_error_cb),
    SYM(kc_conf_set_opaque),
    SYM(kc_conf_set_free_cb),
    SYM(kc_conf_set_partitioner_cb),
    SYM(kc_producer_close),
    SYM(kc_producer_fatal_error),
    SYM(kc_producer_flush),
    SYM(kc_producer_free),
    SYM(kc_producer_sasl_background_callbacks_enable),
    SYM(kc_txn_error_is_retriable),
    SYM(kc_txn_error_is_abortable),
    SYM(kc_txn_error_is_fatal),
    SYM(kc_producer_init_transactions),
    SYM(kc_producer_begin_transaction),
    SYM(kc_producer_send_offsets_to_transaction),
    SYM(kc_producer_commit_transaction),
    SYM(kc_producer_abort_transaction),
    SYM(kc_consumer_group_metadata),
    SYM(kc_group_metadata_free),
    SYM(kc_producer_new),
    SYM(kc_producer_outq_len),
    SYM(kc_producer_poll),
    SYM(kc_producer_purge),
    SYM(kc_producer_send),
    SYM(kc_producer_send_batch),
    SYM(kc_producer_send_batch_flags),
    SYM(kc_producer_send_flags),
    SYM(kc_producer_send_blocking),
#undef SYM
};

int main(void) {
    size_t i, n = sizeof(symbols) / sizeof(symbols[0]);
    char version[32];
    for (i = 0; i < n; i++) {
        if (symbols[i].fn == NULL) {
            fprintf(stderr, "symbol %s resolved to NULL\n", symbols[i].name);
            return 1;
        }
    }
    /* One call proves the library loads and matches the header it was built with. */
    snprintf(version, sizeof(version), "%d.%d.%d", KC_VERSION_MAJOR, KC_VERSION_MINOR,
             KC_VERSION_PATCH);
    if (strcmp(kc_version(), version) != 0 ||
        kc_version_num() !=
            (uint32_t)((KC_VERSION_MAJOR << 16) | (KC_VERSION_MINOR << 8) | KC_VERSION_PATCH)) {
        fprintf(stderr, "library version %s (%u) does not match the header's %s\n",
                kc_version(), (unsigned)kc_version_num(), version);
        return 1;
    }
    printf("%zu symbols, version %s\n", n, kc_version());
    return 0;
}
