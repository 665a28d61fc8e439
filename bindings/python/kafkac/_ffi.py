"""ctypes declarations of the C API in include/kafkac.h, and the loaded library.

The library is looked for, in order, at `$KAFKAC_LIB` (a path to libkafkac.so), next
to this package (kafkac/libkafkac.so), then by the system loader (libkafkac.so.0,
then libkafkac.so: LD_LIBRARY_PATH, the ld.so cache, ...).

Every struct here mirrors the header's field for field; only the pointer types differ
where ctypes needs it (`c_char_p` for a borrowed input buffer, so that a `bytes` object
is passed without a copy, and `c_void_p` for an opaque handle).
"""
import ctypes
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_void_p,
)

from . import _constants as C

__all__ = ["lib", "lib_path"]


def _candidates():
    env = os.environ.get("KAFKAC_LIB")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, name) for name in ("libkafkac.so", "libkafkac.so.0")]
    out = [p for p in out if os.path.exists(p)]
    return out + ["libkafkac.so.0", "libkafkac.so"], False


def _load():
    paths, explicit = _candidates()
    errors = []
    for p in paths:
        try:
            return ctypes.CDLL(p), p
        except OSError as e:
            errors.append(f"{p}: {e}")
            if explicit:
                break
    raise ImportError(
        "kafkac: cannot load libkafkac ("
        + "; ".join(errors)
        + "). Set KAFKAC_LIB to the path of libkafkac.so, put it next to the kafkac "
        "package, or on the loader's path (LD_LIBRARY_PATH)."
    )


lib, lib_path = _load()

# ---------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------

kc_err_t = c_int32


class kc_header_t(Structure):
    _fields_ = [
        ("key", c_char_p),
        ("key_len", c_size_t),
        ("value", c_char_p),
        ("value_len", c_size_t),
    ]


class kc_record_t(Structure):
    _fields_ = [
        ("key", c_char_p),
        ("key_len", c_size_t),
        ("value", c_char_p),
        ("value_len", c_size_t),
        ("headers", POINTER(kc_header_t)),
        ("header_cnt", c_size_t),
        ("timestamp", c_int64),
    ]


class kc_topic_partition_t(Structure):
    _fields_ = [
        ("topic", c_char_p),
        ("partition", c_int32),
        ("offset", c_int64),
        ("leader_epoch", c_int32),
        ("err", kc_err_t),
    ]


class kc_delivery_report_t(Structure):
    # The header allows later minor versions to add fields at the end: this struct is
    # only ever read through a pointer the library hands out.
    _fields_ = [
        ("topic", c_char_p),
        ("partition", c_int32),
        ("offset", c_int64),
        ("timestamp", c_int64),
        ("err", kc_err_t),
        ("errstr", c_char_p),
        ("status", c_int32),
        ("opaque", c_void_p),
    ]


# Callbacks. Pointer arguments the Python side only passes on are c_void_p.
kc_dr_batch_cb_t = CFUNCTYPE(
    None, c_void_p, POINTER(POINTER(kc_delivery_report_t)), c_size_t, c_void_p
)
kc_error_cb_t = CFUNCTYPE(None, c_void_p, kc_err_t, c_char_p, c_void_p)
kc_rebalance_cb_t = CFUNCTYPE(
    None, c_void_p, kc_err_t, POINTER(kc_topic_partition_t), c_size_t, c_void_p
)
kc_offset_commit_cb_t = CFUNCTYPE(
    None, c_void_p, kc_err_t, POINTER(kc_topic_partition_t), c_size_t, c_void_p
)
# (ob, oauthbearer_config, cb_opaque): `ob` is passed back to kc_oauthbearer_set_token*.
kc_oauthbearer_token_refresh_cb_t = CFUNCTYPE(None, c_void_p, c_char_p, c_void_p)

# ---------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


P = c_void_p  # an opaque handle
TP = POINTER(kc_topic_partition_t)

# Errors and versions
kc_err_name = _fn("kc_err_name", c_char_p, kc_err_t)
kc_err_str = _fn("kc_err_str", c_char_p, kc_err_t)
kc_last_error_code = _fn("kc_last_error_code", kc_err_t)
kc_last_error = _fn("kc_last_error", c_size_t, c_void_p, c_size_t)
kc_version = _fn("kc_version", c_char_p)
kc_version_num = _fn("kc_version_num", c_uint32)

# Configuration
kc_conf_new = _fn("kc_conf_new", P)
kc_conf_free = _fn("kc_conf_free", None, P)
kc_conf_set = _fn("kc_conf_set", kc_err_t, P, c_char_p, c_char_p)
kc_conf_get = _fn("kc_conf_get", kc_err_t, P, c_char_p, c_void_p, POINTER(c_size_t))
kc_conf_set_dr_batch_cb = _fn("kc_conf_set_dr_batch_cb", kc_err_t, P, kc_dr_batch_cb_t)
kc_conf_set_error_cb = _fn("kc_conf_set_error_cb", kc_err_t, P, kc_error_cb_t)
kc_conf_set_rebalance_cb = _fn("kc_conf_set_rebalance_cb", kc_err_t, P, kc_rebalance_cb_t)
kc_conf_set_offset_commit_cb = _fn(
    "kc_conf_set_offset_commit_cb", kc_err_t, P, kc_offset_commit_cb_t
)
kc_conf_set_oauthbearer_token_refresh_cb = _fn(
    "kc_conf_set_oauthbearer_token_refresh_cb", kc_err_t, P, kc_oauthbearer_token_refresh_cb_t
)

# Producer
kc_producer_new = _fn("kc_producer_new", kc_err_t, P, POINTER(c_void_p))
kc_producer_send = _fn(
    "kc_producer_send", kc_err_t, P, c_char_p, c_int32, POINTER(kc_record_t), c_void_p
)
kc_producer_send_blocking = _fn(
    "kc_producer_send_blocking",
    kc_err_t,
    P,
    c_char_p,
    c_int32,
    POINTER(kc_record_t),
    c_void_p,
    c_int32,
)
kc_producer_poll = _fn("kc_producer_poll", c_int, P, c_int32)
kc_producer_flush = _fn("kc_producer_flush", kc_err_t, P, c_int32)
kc_producer_purge = _fn("kc_producer_purge", kc_err_t, P, c_int)
kc_producer_outq_len = _fn("kc_producer_outq_len", c_size_t, P)
kc_producer_fatal_error = _fn("kc_producer_fatal_error", kc_err_t, P, c_void_p, c_size_t)
kc_producer_close = _fn("kc_producer_close", kc_err_t, P, c_int32, POINTER(c_size_t))
kc_producer_free = _fn("kc_producer_free", None, P)

# Transactions
kc_txn_error_is_retriable = _fn("kc_txn_error_is_retriable", c_int32)
kc_txn_error_is_abortable = _fn("kc_txn_error_is_abortable", c_int32)
kc_txn_error_is_fatal = _fn("kc_txn_error_is_fatal", c_int32)
kc_producer_init_transactions = _fn("kc_producer_init_transactions", kc_err_t, P, c_int32)
kc_producer_begin_transaction = _fn("kc_producer_begin_transaction", kc_err_t, P)
kc_producer_send_offsets_to_transaction = _fn(
    "kc_producer_send_offsets_to_transaction", kc_err_t, P, TP, c_size_t, P, c_int32
)
kc_producer_commit_transaction = _fn("kc_producer_commit_transaction", kc_err_t, P, c_int32)
kc_producer_abort_transaction = _fn("kc_producer_abort_transaction", kc_err_t, P, c_int32)
kc_consumer_group_metadata = _fn(
    "kc_consumer_group_metadata", kc_err_t, P, POINTER(c_void_p)
)
kc_group_metadata_free = _fn("kc_group_metadata_free", None, P)

# OAUTHBEARER tokens
_TOKEN_ARGS = (c_char_p, c_int64, c_char_p, POINTER(c_char_p), c_size_t)
kc_oauthbearer_set_token = _fn("kc_oauthbearer_set_token", kc_err_t, P, *_TOKEN_ARGS)
kc_oauthbearer_set_token_failure = _fn(
    "kc_oauthbearer_set_token_failure", kc_err_t, P, c_char_p
)
kc_producer_oauthbearer_set_token = _fn(
    "kc_producer_oauthbearer_set_token", kc_err_t, P, *_TOKEN_ARGS
)
kc_producer_oauthbearer_set_token_failure = _fn(
    "kc_producer_oauthbearer_set_token_failure", kc_err_t, P, c_char_p
)
kc_consumer_oauthbearer_set_token = _fn(
    "kc_consumer_oauthbearer_set_token", kc_err_t, P, *_TOKEN_ARGS
)
kc_consumer_oauthbearer_set_token_failure = _fn(
    "kc_consumer_oauthbearer_set_token_failure", kc_err_t, P, c_char_p
)
kc_producer_sasl_background_callbacks_enable = _fn(
    "kc_producer_sasl_background_callbacks_enable", kc_err_t, P
)
kc_consumer_sasl_background_callbacks_enable = _fn(
    "kc_consumer_sasl_background_callbacks_enable", kc_err_t, P
)

# Consumer
kc_consumer_new = _fn("kc_consumer_new", kc_err_t, P, POINTER(c_void_p))
kc_consumer_subscribe = _fn("kc_consumer_subscribe", kc_err_t, P, POINTER(c_char_p), c_size_t)
kc_consumer_unsubscribe = _fn("kc_consumer_unsubscribe", kc_err_t, P)
kc_consumer_assign = _fn("kc_consumer_assign", kc_err_t, P, TP, c_size_t)
kc_consumer_assignment = _fn(
    "kc_consumer_assignment", kc_err_t, P, POINTER(TP), POINTER(c_size_t)
)
kc_topic_partitions_free = _fn("kc_topic_partitions_free", None, TP, c_size_t)
kc_consumer_poll = _fn("kc_consumer_poll", c_void_p, P, c_int32)
kc_consumer_poll_batch = _fn(
    "kc_consumer_poll_batch", c_size_t, P, c_int32, POINTER(c_void_p), c_size_t
)
kc_consumer_commit = _fn("kc_consumer_commit", kc_err_t, P, TP, c_size_t, c_int)
kc_consumer_store_offset = _fn(
    "kc_consumer_store_offset", kc_err_t, P, c_char_p, c_int32, c_int64
)
kc_consumer_committed = _fn("kc_consumer_committed", kc_err_t, P, TP, c_size_t, c_int32)
kc_consumer_position = _fn("kc_consumer_position", kc_err_t, P, TP, c_size_t)
kc_consumer_seek = _fn("kc_consumer_seek", kc_err_t, P, c_char_p, c_int32, c_int64)
kc_consumer_pause = _fn("kc_consumer_pause", kc_err_t, P, TP, c_size_t)
kc_consumer_resume = _fn("kc_consumer_resume", kc_err_t, P, TP, c_size_t)
kc_consumer_close = _fn("kc_consumer_close", kc_err_t, P, c_int32)
kc_consumer_free = _fn("kc_consumer_free", None, P)

# Messages
kc_message_err = _fn("kc_message_err", kc_err_t, P)
kc_message_errstr = _fn("kc_message_errstr", c_char_p, P)
kc_message_is_fatal = _fn("kc_message_is_fatal", c_int, P)
kc_message_topic = _fn("kc_message_topic", c_char_p, P)
kc_message_partition = _fn("kc_message_partition", c_int32, P)
kc_message_offset = _fn("kc_message_offset", c_int64, P)
kc_message_timestamp = _fn("kc_message_timestamp", c_int64, P, POINTER(c_int32))
kc_message_leader_epoch = _fn("kc_message_leader_epoch", c_int32, P)
# Key and value come back as char pointers: slicing one (`p[:n]`) copies into bytes in
# one step, much cheaper than ctypes.string_at.
kc_message_key = _fn("kc_message_key", POINTER(c_char), P, POINTER(c_size_t))
kc_message_value = _fn("kc_message_value", POINTER(c_char), P, POINTER(c_size_t))
kc_message_header_cnt = _fn("kc_message_header_cnt", c_size_t, P)
kc_message_header = _fn(
    "kc_message_header",
    kc_err_t,
    P,
    c_size_t,
    POINTER(POINTER(c_char)),
    POINTER(c_size_t),
    POINTER(POINTER(c_char)),
    POINTER(c_size_t),
)
kc_message_free = _fn("kc_message_free", None, P)

# Client (topic administration and offsets)
kc_client_new = _fn("kc_client_new", kc_err_t, P, POINTER(c_void_p))
kc_client_free = _fn("kc_client_free", None, P)
kc_client_create_topic = _fn(
    "kc_client_create_topic",
    kc_err_t,
    P,
    c_char_p,
    c_int32,
    c_int32,
    POINTER(c_char_p),
    c_size_t,
    c_int32,
)
kc_client_delete_topic = _fn("kc_client_delete_topic", kc_err_t, P, c_char_p, c_int32)
kc_client_list_offsets = _fn(
    "kc_client_list_offsets", kc_err_t, P, c_char_p, c_int32, c_int64, c_int32, POINTER(c_int64)
)


def check_version():
    """Fails the import when the library's major version is not the header's, or its
    minor version is older than the one these declarations were written against."""
    num = kc_version_num()
    major, minor = num >> 16, (num >> 8) & 0xFF
    if major != C.KC_VERSION_MAJOR or minor < C.KC_VERSION_MINOR:
        raise ImportError(
            f"kafkac: {lib_path} is version {kc_version().decode()}, this package needs "
            f"{C.KC_VERSION_MAJOR}.{C.KC_VERSION_MINOR} or a later "
            f"{C.KC_VERSION_MAJOR}.x"
        )


check_version()
