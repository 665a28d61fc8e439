/*
 * kafkac.hpp: the C++17 interface of kafkac, header-only, over the C API of kafkac.h.
 *
 * The first program:
 *
 *     #include <kafkac.hpp>
 *     #include <iostream>
 *
 *     int main() {
 *         kafkac::Producer p({{"bootstrap.servers", "localhost:9092"}},
 *             [](const kafkac::DeliveryReport& r) { std::cout << r.partition() << "@" << r.offset() << "\n"; });
 *         p.produce("greetings", "hello, Kafka", "key-1");    // value, key
 *         p.flush(std::chrono::seconds(10));                  // serves the report above
 *     }
 *
 * and the consumer loop:
 *
 *     kafkac::Consumer c({{"bootstrap.servers", "localhost:9092"}, {"group.id", "readers"}});
 *     c.subscribe({"greetings"});
 *     while (std::optional<kafkac::Message> m = c.poll(std::chrono::seconds(1)))
 *         if (m->ok()) std::cout << m->key().str() << ": " << m->value().str() << "\n";
 *     c.close();                                          // commits, leaves the group
 *
 * Build with `g++ -std=c++17 -Iinclude hello.cpp target/release/libkafkac.a -lpthread
 * -ldl -lm` (or `-lkafkac` for the shared library). examples-cpp/hello.cpp does both.
 *
 * Errors are exceptions: `kafkac::Error` (a std::runtime_error) carries the kafkac error
 * code (`code()`, the `KC_ERR_*` value of kafkac.h), its name (`name()`, as kc_err_name)
 * and the detail of kc_last_error (`what()`: which property, broker, topic or partition).
 * Why exceptions rather than a Result<T>: every failure of the C API is a call that could
 * not do its job (bad configuration, a closed handle, a timeout the caller chose); C++
 * users of Kafka clients expect them, the happy path stays free of checks, and
 * constructors (Conf, Producer, Consumer) can fail without two-phase initialisation.
 * What is not a failure is not thrown: a consumer poll that times out returns an empty
 * std::optional, a consumed event (partition EOF, a partition's error) is a Message whose
 * `error()` is not KC_OK, and a failed delivery is a DeliveryReport whose `error()` says
 * why. Destructors, moves and accessors are noexcept.
 *
 * Handles (Conf, Producer, Consumer, Message) own their C handle alone: they move, they
 * do not copy (Conf::clone() makes an explicit copy). A moved-from handle may only be
 * destroyed or assigned to; calls on it throw KC_ERR__NULL_ARG.
 *
 * Payloads are `kafkac::Bytes`, a view of (pointer, length) that keeps Kafka's null apart
 * from empty: `Bytes()` and `nullptr` are null; "" and an empty std::string are empty.
 * Bytes never owns memory: what it views must outlive the call it is passed to (produce
 * copies keys, values and headers before it returns). Names (topics, properties) are
 * std::string_view.
 *
 * Callbacks are std::function: the producer's delivery callback (one for the producer,
 * or one per message), the consumer's rebalance and offset commit callbacks. They run on
 * the thread that calls poll, flush or close, inside the C call. An exception a callback
 * throws never enters C: it is caught, the remaining reports are still served, and the
 * first exception is rethrown (the object itself, by std::rethrow_exception) once the C
 * call has returned. A consumer poll that rethrows keeps the message the C call handed
 * out and returns it from the next poll, so nothing is skipped. Exceptions thrown by
 * callbacks that run inside a destructor (the consumer's destructor closes it and runs
 * the revoke callback) are dropped.
 *
 * Threads: as the C API says. A Producer and a Consumer may be used from many threads;
 * a Conf and a Message from one at a time (a Message may be read from several).
 *
 * Constants mirror the C macros they are defined from (kafkac::offset_beginning is
 * KC_OFFSET_BEGINNING, ...); error codes are the KC_ERR_* macros themselves.
 */

#ifndef KAFKAC_HPP
#define KAFKAC_HPP

#include "kafkac.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

namespace kafkac {

/// An error code: KC_OK, a Kafka error (KC_ERR_<NAME>) or a local one (KC_ERR__<NAME>).
using ErrorCode = kc_err_t;

/// A timeout; a negative one waits (up to a year, as the C API says).
using Timeout = std::chrono::milliseconds;

/// Waits as long as it takes (a negative timeout).
inline constexpr Timeout forever{-1};

/// The partitioner chooses the partition.
inline constexpr int32_t partition_any = KC_PARTITION_UA;

/// Offsets of TopicPartition and seek.
inline constexpr int64_t offset_beginning = KC_OFFSET_BEGINNING;
inline constexpr int64_t offset_end = KC_OFFSET_END;
inline constexpr int64_t offset_stored = KC_OFFSET_STORED;
inline constexpr int64_t offset_invalid = KC_OFFSET_INVALID;

/// Flags of Producer::purge.
inline constexpr int purge_queue = KC_PURGE_F_QUEUE;
inline constexpr int purge_inflight = KC_PURGE_F_INFLIGHT;

/// A message's timestamp type.
enum class TimestampType : int32_t {
    not_available = KC_TIMESTAMP_NOT_AVAILABLE,
    create_time = KC_TIMESTAMP_CREATE_TIME,
    log_append_time = KC_TIMESTAMP_LOG_APPEND_TIME,
};

/// Whether a produced message is in the log (DeliveryReport::status).
enum class Persisted : int32_t {
    no = KC_PERSISTED_NOT,
    possibly = KC_PERSISTED_POSSIBLY,
    yes = KC_PERSISTED,
};

/// The kind of a rebalance (see kc_rebalance_cb_t).
enum class Rebalance : kc_err_t {
    assign = KC_ERR__ASSIGN_PARTITIONS,
    revoke = KC_ERR__REVOKE_PARTITIONS,
    lost = KC_ERR__ASSIGNMENT_LOST,
};

/// The symbolic name of a code, without KC_ERR_ ("_TIMED_OUT", "OFFSET_OUT_OF_RANGE").
inline std::string_view err_name(ErrorCode code) noexcept { return kc_err_name(code); }

/// A description of a code.
inline std::string_view err_str(ErrorCode code) noexcept { return kc_err_str(code); }

/// The library loaded at run time ("0.1.0"); KC_VERSION_* give the header's.
inline std::string_view version() noexcept { return kc_version(); }

/// What every call of this interface throws on failure.
///
/// A failed transactional call of Producer (init_transactions, begin_transaction,
/// send_offsets_to_transaction, commit_transaction, abort_transaction) also says what to
/// do about it, read on the calling thread right after the C call (kc_txn_error_is_*):
/// retriable() (call again, it continues where it stopped), txn_requires_abort() (abort
/// the transaction, rewind the input, begin again) or fatal() (the producer cannot go
/// on: fenced by a newer producer with the same transactional.id, not authorised;
/// destroy it). None of the three is true for a call made in the wrong state
/// (KC_ERR__STATE: no init_transactions, not a transactional producer) or for any other
/// call; fatal() is also true for Producer::fatal_error().
class Error : public std::runtime_error {
public:
    /// `detail` is what() (kc_err_str of the code when empty).
    Error(ErrorCode code, const std::string& detail)
        : std::runtime_error(detail.empty() ? std::string(kc_err_str(code)) : detail),
          code_(code) {}

    /// As Error(code, detail), with the class of a failed transactional call.
    Error(ErrorCode code, const std::string& detail, bool retriable, bool txn_requires_abort,
          bool fatal)
        : Error(code, detail) {
        retriable_ = retriable;
        txn_requires_abort_ = txn_requires_abort;
        fatal_ = fatal;
    }

    /// The KC_ERR_* code.
    ErrorCode code() const noexcept { return code_; }
    /// kc_err_name of the code ("_UNKNOWN_CONFIG").
    std::string_view name() const noexcept { return kc_err_name(code_); }

    /// A transactional call that may be made again (a timeout): it continues.
    bool retriable() const noexcept { return retriable_; }
    /// A transactional call whose transaction must be aborted (abort_transaction), after
    /// which a new one may begin.
    bool txn_requires_abort() const noexcept { return txn_requires_abort_; }
    /// The producer cannot go on (a transactional call fenced or refused; the producer's
    /// fatal error): destroy it.
    bool fatal() const noexcept { return fatal_; }

private:
    ErrorCode code_;
    bool retriable_ = false;
    bool txn_requires_abort_ = false;
    bool fatal_ = false;
};

namespace detail {

/// The detail of the last failure on this thread (kc_last_error).
inline std::string last_error() {
    char buf[512];
    size_t n = kc_last_error(buf, sizeof buf);
    if (n < sizeof buf) {
        return std::string(buf, n);
    }
    std::string s(n + 1, '\0');
    n = kc_last_error(&s[0], s.size());
    s.resize(n < s.size() ? n : s.size() - 1);
    return s;
}

/// Throws the last failure of this thread as an Error with `code`.
[[noreturn]] inline void throw_last(ErrorCode code) { throw Error(code, last_error()); }

inline void check(ErrorCode code) {
    if (code != KC_OK) {
        throw_last(code);
    }
}

/// The failure `code` of the transactional call that just returned on this thread, with
/// its class (kc_txn_error_is_*) and detail (kc_last_error): both thread-local, so read
/// here, before anything else calls into the library.
inline Error txn_error(ErrorCode code) {
    bool retriable = kc_txn_error_is_retriable() != 0;
    bool abortable = kc_txn_error_is_abortable() != 0;
    bool fatal = kc_txn_error_is_fatal() != 0;
    return Error(code, last_error(), retriable, abortable, fatal);
}

/// A timeout as the C API takes it: milliseconds, negative for "wait", clamped to int32.
inline int32_t to_ms(Timeout t) noexcept {
    auto ms = t.count();
    if (ms < 0) {
        return -1;
    }
    return ms > INT32_MAX ? INT32_MAX : static_cast<int32_t>(ms);
}

/// A NUL-terminated copy of a string_view: on the stack when short.
class CStr {
public:
    explicit CStr(std::string_view s) {
        if (s.size() < sizeof small_) {
            std::memcpy(small_, s.data() ? s.data() : "", s.size());
            small_[s.size()] = '\0';
            p_ = small_;
        } else {
            big_.assign(s.data(), s.size());
            p_ = big_.c_str();
        }
    }
    CStr(const CStr&) = delete;
    CStr& operator=(const CStr&) = delete;
    const char* get() const noexcept { return p_; }

private:
    char small_[128];
    std::string big_;
    const char* p_;
};

/// The exception slot of the poll/flush/close call running on this thread: callbacks
/// store the first exception there instead of letting it reach C.
inline thread_local std::exception_ptr* callback_slot = nullptr;

/// Opens a slot for the callbacks of one C call; rethrow() after the call returns.
class CallbackScope {
public:
    CallbackScope() noexcept : prev_(callback_slot) { callback_slot = &caught_; }
    ~CallbackScope() { callback_slot = prev_; }
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;
    bool failed() const noexcept { return static_cast<bool>(caught_); }
    void rethrow() {
        if (caught_) {
            std::rethrow_exception(std::exchange(caught_, nullptr));
        }
    }

private:
    std::exception_ptr caught_;
    std::exception_ptr* prev_;
};

/// Runs a user callback; keeps its exception (the first one) for the scope of the call.
template <typename F>
inline void guarded(F&& f) noexcept {
    try {
        f();
    } catch (...) {
        if (callback_slot != nullptr && !*callback_slot) {
            *callback_slot = std::current_exception();
        }
    }
}

}  // namespace detail

/// A view of bytes that keeps null apart from empty. Does not own what it views.
class Bytes {
public:
    /// Null.
    constexpr Bytes() noexcept = default;
    /// Null.
    constexpr Bytes(std::nullptr_t) noexcept {}
    /// `size` bytes at `data`; a NULL `data` (with size 0) is null.
    Bytes(const void* data, size_t size) noexcept
        : data_(static_cast<const uint8_t*>(data)), size_(data ? size : 0) {}
    /// The characters of a C string; NULL is null.
    Bytes(const char* s) noexcept
        : data_(reinterpret_cast<const uint8_t*>(s)), size_(s ? std::strlen(s) : 0) {}
    /// The characters of `s`; never null (an empty view is empty).
    Bytes(std::string_view s) noexcept
        : data_(s.data() ? reinterpret_cast<const uint8_t*>(s.data()) : empty_ptr()),
          size_(s.size()) {}
    /// The characters of `s` (empty, not null, when `s` is).
    Bytes(const std::string& s) noexcept : Bytes(std::string_view(s)) {}
    /// The elements of a vector of bytes (char, unsigned char, uint8_t, std::byte).
    template <typename T, typename A,
              typename = std::enable_if_t<sizeof(T) == 1 && std::is_trivially_copyable_v<T>>>
    Bytes(const std::vector<T, A>& v) noexcept
        : data_(v.empty() ? empty_ptr() : reinterpret_cast<const uint8_t*>(v.data())),
          size_(v.size()) {}

    /// Null.
    static constexpr Bytes null() noexcept { return Bytes(); }

    const uint8_t* data() const noexcept { return data_; }
    size_t size() const noexcept { return size_; }
    bool is_null() const noexcept { return data_ == nullptr; }
    bool empty() const noexcept { return size_ == 0; }
    /// The bytes as characters (a null view gives an empty one).
    std::string_view str() const noexcept {
        return data_ ? std::string_view(reinterpret_cast<const char*>(data_), size_)
                     : std::string_view();
    }
    /// A copy (a null view gives an empty string: ask is_null() first).
    std::string to_string() const { return std::string(str()); }

    /// Equal when both are null, or both are not null with the same bytes.
    friend bool operator==(const Bytes& a, const Bytes& b) noexcept {
        return a.is_null() == b.is_null() && a.str() == b.str();
    }
    friend bool operator!=(const Bytes& a, const Bytes& b) noexcept { return !(a == b); }

private:
    static const uint8_t* empty_ptr() noexcept {
        static const uint8_t none = 0;
        return &none;
    }
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

/// A record header: a key and a value (null or not). Views, as Bytes is.
struct Header {
    std::string_view key;
    Bytes value;
};

/// A record to produce. Everything it points to is copied by produce().
struct Record {
    Bytes key;
    Bytes value;
    std::vector<Header> headers;
    /// A partition, or partition_any (the `partitioner` property chooses).
    int32_t partition = partition_any;
    /// Milliseconds since the epoch; 0 is the time of the call.
    int64_t timestamp = 0;
};

/// A partition of a topic with an offset (and, where a call fills it, an error).
struct TopicPartition {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = offset_invalid;
    int32_t leader_epoch = -1;
    ErrorCode err = KC_OK;

    TopicPartition() = default;
    TopicPartition(std::string_view t, int32_t p, int64_t o = offset_invalid)
        : topic(t), partition(p), offset(o) {}

    friend bool operator==(const TopicPartition& a, const TopicPartition& b) noexcept {
        return a.topic == b.topic && a.partition == b.partition && a.offset == b.offset &&
               a.leader_epoch == b.leader_epoch && a.err == b.err;
    }
    friend bool operator!=(const TopicPartition& a, const TopicPartition& b) noexcept {
        return !(a == b);
    }
};

namespace detail {

inline std::vector<kc_topic_partition_t> to_c(const std::vector<TopicPartition>& parts) {
    std::vector<kc_topic_partition_t> out;
    out.reserve(parts.size());
    for (const auto& p : parts) {
        out.push_back(kc_topic_partition_t{p.topic.c_str(), p.partition, p.offset,
                                           p.leader_epoch, p.err});
    }
    return out;
}

inline std::vector<TopicPartition> from_c(const kc_topic_partition_t* parts, size_t cnt) {
    std::vector<TopicPartition> out;
    out.reserve(cnt);
    for (size_t i = 0; i < cnt; i++) {
        TopicPartition p(parts[i].topic ? parts[i].topic : "", parts[i].partition,
                         parts[i].offset);
        p.leader_epoch = parts[i].leader_epoch;
        p.err = parts[i].err;
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace detail

/// An OAUTHBEARER token, as a token refresh callback returns it or
/// Producer::oauthbearer_set_token / Consumer::oauthbearer_set_token take it.
struct OAuthBearerToken {
    /// The token (an RFC 6750 b64token, e.g. a JWT); not empty.
    std::string value;
    /// When it expires (in the future). The refresh callback is called again at 80 % of
    /// the time left.
    std::chrono::system_clock::time_point expiry;
    /// The principal it names (not empty; used in error messages).
    std::string principal;
    /// RFC 7628 SASL extensions, (key, value) each: keys ASCII letters, not "auth".
    std::vector<std::pair<std::string, std::string>> extensions;
};

/// The OAUTHBEARER token refresh callback: gets a token for `oauthbearer_config` (the
/// value of sasl.oauthbearer.config, "" when not set) and returns it. Returning
/// std::nullopt sets nothing (a token may be set later, from any thread, with
/// oauthbearer_set_token; the callback is called again 10 s later otherwise). Throwing
/// reports a failure: kc_oauthbearer_set_token_failure with what() (connections fail
/// with KC_ERR__AUTHENTICATION saying it, and the callback is called again 10 s later),
/// and the exception is rethrown by the poll or flush it ran in. A token the library
/// refuses (expired, empty, a bad extension) is reported as a failure too, and thrown
/// as an Error (KC_ERR__INVALID_ARG saying why).
///
/// It runs inside Producer::poll, flush, close and the transactional calls, and
/// Consumer::poll, on the calling thread; after sasl_background_callbacks_enable(), on
/// the handle's background thread only, where what it throws is reported as a failure
/// and then dropped (it must then return within 10 s of the handle's destruction). It
/// never runs on two threads at once.
using OAuthBearerTokenRefreshCallback =
    std::function<std::optional<OAuthBearerToken>(const std::string& oauthbearer_config)>;

namespace detail {

/// The C arguments of kc_*oauthbearer_set_token for `t`.
struct CToken {
    explicit CToken(const OAuthBearerToken& t) {
        lifetime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          t.expiry.time_since_epoch())
                          .count();
        ext.reserve(2 * t.extensions.size());
        for (const auto& [k, v] : t.extensions) {
            ext.push_back(k.c_str());
            ext.push_back(v.c_str());
        }
    }
    int64_t lifetime_ms;
    std::vector<const char*> ext;
    const char* const* ext_ptr() const noexcept { return ext.empty() ? nullptr : ext.data(); }
};

/// Runs the refresh callback `cb` for `ob` and hands its outcome to the library; what
/// it throws is reported as a failure, then kept for the call it ran in (guarded).
inline void refresh_token(const OAuthBearerTokenRefreshCallback& cb, kc_oauthbearer_t* ob,
                          const char* config) noexcept {
    guarded([&] {
        std::optional<OAuthBearerToken> t;
        try {
            t = cb(config ? std::string(config) : std::string());
        } catch (const std::exception& e) {
            const char* why = e.what();
            kc_oauthbearer_set_token_failure(
                ob, why && *why ? why : "the token refresh callback threw an exception");
            throw;
        } catch (...) {
            kc_oauthbearer_set_token_failure(ob, "the token refresh callback threw");
            throw;
        }
        if (!t) {
            return;
        }
        CToken c(*t);
        ErrorCode rc = kc_oauthbearer_set_token(ob, t->value.c_str(), c.lifetime_ms,
                                                t->principal.c_str(), c.ext_ptr(), c.ext.size());
        if (rc != KC_OK) {
            Error e(rc, "the token refresh callback's token was refused: " + last_error());
            kc_oauthbearer_set_token_failure(ob, e.what());
            throw e;
        }
    });
}

}  // namespace detail

/// Configuration properties (librdkafka's names). Move-only; clone() copies.
class Conf {
public:
    /// An empty configuration.
    Conf() : conf_(kc_conf_new()) {
        if (!conf_) {
            detail::throw_last(KC_ERR__PANIC);
        }
    }
    /// A configuration with `props` set in order; throws on the first one refused.
    Conf(std::initializer_list<std::pair<std::string_view, std::string_view>> props) : Conf() {
        for (const auto& [name, value] : props) {
            set(name, value);
        }
    }
    ~Conf() { kc_conf_free(conf_); }
    Conf(Conf&& o) noexcept
        : conf_(std::exchange(o.conf_, nullptr)), oauth_cb_(std::move(o.oauth_cb_)) {}
    Conf& operator=(Conf&& o) noexcept {
        if (this != &o) {
            kc_conf_free(std::exchange(conf_, std::exchange(o.conf_, nullptr)));
            oauth_cb_ = std::move(o.oauth_cb_);
        }
        return *this;
    }
    Conf(const Conf&) = delete;
    Conf& operator=(const Conf&) = delete;

    /// Sets a property. Throws KC_ERR__UNKNOWN_CONFIG (no such property) or
    /// KC_ERR__INVALID_CONFIG (a value it does not take); what() names both.
    Conf& set(std::string_view name, std::string_view value) {
        detail::CStr n(name), v(value);
        detail::check(kc_conf_set(conf_, n.get(), v.get()));
        return *this;
    }

    /// A property's value (the one set, or its default). Throws KC_ERR__UNKNOWN_CONFIG.
    std::string get(std::string_view name) const {
        detail::CStr n(name);
        std::string buf(64, '\0');
        for (;;) {
            size_t len = buf.size();
            kc_err_t rc = kc_conf_get(conf_, n.get(), &buf[0], &len);
            if (rc == KC_OK) {
                buf.resize(len);
                return buf;
            }
            if (rc != KC_ERR__BUFFER_TOO_SMALL) {
                detail::throw_last(rc);
            }
            buf.assign(len + 1, '\0');
        }
    }

    /// An independent copy (the token refresh callback included).
    Conf clone() const {
        kc_conf_t* c = kc_conf_dup(conf_);
        if (!c) {
            detail::throw_last(kc_last_error_code());
        }
        Conf out(c);
        out.oauth_cb_ = oauth_cb_;
        return out;
    }

    /// Sets the OAUTHBEARER token refresh callback (see OAuthBearerTokenRefreshCallback)
    /// of the producers and consumers made from this configuration; an empty one removes
    /// it. For sasl.mechanism=OAUTHBEARER without enable.sasl.oauthbearer.unsecure.jwt
    /// (with it, creating a producer or consumer throws KC_ERR__INVALID_CONFIG); never
    /// called for another mechanism. Kept by this Conf, not by c_ptr().
    Conf& set_oauthbearer_token_refresh_cb(OAuthBearerTokenRefreshCallback cb) {
        if (cb) {
            oauth_cb_ = std::make_shared<const OAuthBearerTokenRefreshCallback>(std::move(cb));
        } else {
            oauth_cb_.reset();
        }
        return *this;
    }

    /// The token refresh callback set, or nullptr.
    const OAuthBearerTokenRefreshCallback* oauthbearer_token_refresh_cb() const noexcept {
        return oauth_cb_.get();
    }

    /// The C handle, still owned by this Conf. Producer and Consumer replace its
    /// callbacks and opaque in their own copy.
    kc_conf_t* c_ptr() const noexcept { return conf_; }

private:
    explicit Conf(kc_conf_t* c) noexcept : conf_(c) {}
    kc_conf_t* conf_;
    std::shared_ptr<const OAuthBearerTokenRefreshCallback> oauth_cb_;
};

/// The outcome of one produced message. Valid during the delivery callback only.
class DeliveryReport {
public:
    explicit DeliveryReport(const kc_delivery_report_t* r) noexcept : r_(r) {}

    bool ok() const noexcept { return r_->err == KC_OK; }
    ErrorCode error() const noexcept { return r_->err; }
    /// Why it failed (naming the topic, partition and broker where known); empty when ok.
    std::string_view error_string() const noexcept {
        return r_->errstr ? std::string_view(r_->errstr) : std::string_view();
    }
    /// The failure as an Error (to throw or keep); code KC_OK when delivered.
    Error as_error() const { return Error(r_->err, std::string(error_string())); }
    std::string_view topic() const noexcept {
        return r_->topic ? std::string_view(r_->topic) : std::string_view();
    }
    int32_t partition() const noexcept { return r_->partition; }
    /// The offset the broker gave it; -1 when it failed (or acks=0, or a duplicate).
    int64_t offset() const noexcept { return r_->offset; }
    int64_t timestamp() const noexcept { return r_->timestamp; }
    Persisted status() const noexcept { return static_cast<Persisted>(r_->status); }
    /// The C report.
    const kc_delivery_report_t* c_ptr() const noexcept { return r_; }

private:
    const kc_delivery_report_t* r_;
};

/// A delivery callback.
using DeliveryCallback = std::function<void(const DeliveryReport&)>;

namespace detail {

struct ProducerState {
    DeliveryCallback on_delivery;
    OAuthBearerTokenRefreshCallback on_oauth;
    /// The per-message callbacks not served yet (deleted when served, or with the producer).
    std::mutex mu;
    std::unordered_set<DeliveryCallback*> pending;

    ~ProducerState() {
        for (DeliveryCallback* cb : pending) {
            delete cb;
        }
    }

    void deliver(const kc_delivery_report_t* r) noexcept {
        auto* own = static_cast<DeliveryCallback*>(r->opaque);
        if (own) {
            {
                std::lock_guard<std::mutex> g(mu);
                pending.erase(own);
            }
            std::unique_ptr<DeliveryCallback> hold(own);
            guarded([&] { (*hold)(DeliveryReport(r)); });
        } else if (on_delivery) {
            guarded([&] { on_delivery(DeliveryReport(r)); });
        }
    }
};

extern "C" inline void kafkac_cpp_dr_batch(kc_producer_t*, const kc_delivery_report_t* const* reports,
                                           size_t count, void* opaque) noexcept {
    auto* st = static_cast<ProducerState*>(opaque);
    for (size_t i = 0; i < count; i++) {
        st->deliver(reports[i]);
    }
}

extern "C" inline void kafkac_cpp_producer_oauth(kc_oauthbearer_t* ob, const char* config,
                                                 void* opaque) noexcept {
    auto* st = static_cast<ProducerState*>(opaque);
    refresh_token(st->on_oauth, ob, config);
}

/// Runs the transactional call `f` (returning its kc_err_t) with a callback scope: its
/// failure (class and detail read at once) is thrown first; else what a callback threw.
template <typename F>
inline void txn_call(F&& f) {
    CallbackScope scope;
    ErrorCode rc = f();
    if (rc != KC_OK) {
        throw txn_error(rc);
    }
    scope.rethrow();
}

/// Hands `t` to the set-token function `set` of a producer or consumer.
template <typename H, typename F>
inline void set_token(H* h, F set, const OAuthBearerToken& t) {
    CToken c(t);
    check(set(h, t.value.c_str(), c.lifetime_ms, t.principal.c_str(), c.ext_ptr(), c.ext.size()));
}

/// Up to 8 headers on the stack, more on the heap.
class CHeaders {
public:
    explicit CHeaders(const std::vector<Header>& hs) {
        kc_header_t* out = hs.size() <= 8 ? small_ : (big_.resize(hs.size()), big_.data());
        for (size_t i = 0; i < hs.size(); i++) {
            out[i] = kc_header_t{hs[i].key.data() ? hs[i].key.data() : "", hs[i].key.size(),
                                 hs[i].value.data(), hs[i].value.size()};
        }
        p_ = hs.empty() ? nullptr : out;
        n_ = hs.size();
    }
    const kc_header_t* data() const noexcept { return p_; }
    size_t size() const noexcept { return n_; }

private:
    kc_header_t small_[8];
    std::vector<kc_header_t> big_;
    const kc_header_t* p_;
    size_t n_;
};

}  // namespace detail

/// A consumer's group and membership (Consumer::consumer_group_metadata), for
/// Producer::send_offsets_to_transaction. Owns its C handle; move-only.
class ConsumerGroupMetadata {
public:
    explicit ConsumerGroupMetadata(kc_group_metadata_t* m) noexcept : m_(m) {}
    ~ConsumerGroupMetadata() { kc_group_metadata_free(m_); }
    ConsumerGroupMetadata(ConsumerGroupMetadata&& o) noexcept
        : m_(std::exchange(o.m_, nullptr)) {}
    ConsumerGroupMetadata& operator=(ConsumerGroupMetadata&& o) noexcept {
        if (this != &o) {
            kc_group_metadata_free(std::exchange(m_, std::exchange(o.m_, nullptr)));
        }
        return *this;
    }
    ConsumerGroupMetadata(const ConsumerGroupMetadata&) = delete;
    ConsumerGroupMetadata& operator=(const ConsumerGroupMetadata&) = delete;

    /// The C handle, still owned by this object.
    const kc_group_metadata_t* c_ptr() const noexcept { return m_; }

private:
    kc_group_metadata_t* m_;
};

/// An asynchronous producer. Delivery reports are served by poll(), flush() and close()
/// on the calling thread. The destructor frees the producer without waiting: call
/// flush() or close() first, or messages not yet delivered are dropped without a report.
class Producer {
public:
    /// Creates a producer from `conf` (borrowed: the producer keeps a copy). Every
    /// message sent without a callback of its own reports to `on_delivery` (may be
    /// empty). Throws KC_ERR__INVALID_CONFIG (e.g. no bootstrap.servers).
    explicit Producer(const Conf& conf, DeliveryCallback on_delivery = {})
        : state_(std::make_unique<detail::ProducerState>()) {
        state_->on_delivery = std::move(on_delivery);
        Conf mine = conf.clone();
        if (const auto* cb = conf.oauthbearer_token_refresh_cb()) {
            state_->on_oauth = *cb;
            detail::check(kc_conf_set_oauthbearer_token_refresh_cb(
                mine.c_ptr(), detail::kafkac_cpp_producer_oauth));
        }
        detail::check(kc_conf_set_dr_batch_cb(mine.c_ptr(), detail::kafkac_cpp_dr_batch));
        detail::check(kc_conf_set_opaque(mine.c_ptr(), state_.get()));
        detail::check(kc_producer_new(mine.c_ptr(), &p_));
    }
    ~Producer() { reset(); }
    Producer(Producer&& o) noexcept
        : p_(std::exchange(o.p_, nullptr)), state_(std::move(o.state_)) {}
    Producer& operator=(Producer&& o) noexcept {
        if (this != &o) {
            reset();
            p_ = std::exchange(o.p_, nullptr);
            state_ = std::move(o.state_);
        }
        return *this;
    }
    Producer(const Producer&) = delete;
    Producer& operator=(const Producer&) = delete;

    /// Sends `value` with `key` (both may be null) to `topic`; the partitioner chooses
    /// the partition. Returns at once; the report comes through the delivery callback.
    void produce(std::string_view topic, Bytes value, Bytes key = Bytes()) {
        Record r;
        r.key = key;
        r.value = value;
        produce(topic, r);
    }

    /// Sends one record. Throws KC_ERR__QUEUE_FULL (poll, then send again),
    /// KC_ERR_MESSAGE_TOO_LARGE, KC_ERR__UNKNOWN_PARTITION, KC_ERR__FATAL, ... (nothing
    /// was queued then, and no report will come).
    void produce(std::string_view topic, const Record& rec) { send(topic, rec, nullptr, 0); }

    /// As produce(topic, rec), waiting up to `block` for room when the queue is full.
    void produce(std::string_view topic, const Record& rec, Timeout block) {
        send(topic, rec, nullptr, detail::to_ms(block));
    }

    /// As produce(topic, rec), with a callback for this message only (instead of the
    /// producer's), and waiting up to `block` for room when the queue is full.
    void produce(std::string_view topic, const Record& rec, DeliveryCallback on_delivery,
                 Timeout block = Timeout(0)) {
        if (!state_) {
            throw Error(KC_ERR__NULL_ARG, "the producer was moved from");
        }
        auto own = std::make_unique<DeliveryCallback>(std::move(on_delivery));
        {
            std::lock_guard<std::mutex> g(state_->mu);
            state_->pending.insert(own.get());
        }
        try {
            send(topic, rec, own.get(), detail::to_ms(block));
        } catch (...) {
            std::lock_guard<std::mutex> g(state_->mu);
            state_->pending.erase(own.get());
            throw;
        }
        own.release();  // the producer's state owns it until its report is served
    }

    /// Serves waiting delivery reports, waiting up to `timeout` for the first. Returns
    /// how many were served; rethrows what a callback threw.
    int poll(Timeout timeout = Timeout(0)) {
        detail::CallbackScope scope;
        int n = kc_producer_poll(p_, detail::to_ms(timeout));
        ErrorCode rc = n < 0 ? kc_last_error_code() : KC_OK;
        std::string why = n < 0 ? detail::last_error() : std::string();
        scope.rethrow();
        if (n < 0) {
            throw Error(rc, why);
        }
        return n;
    }

    /// Sends everything queued and serves reports until every message sent before has
    /// its report. Throws KC_ERR__TIMED_OUT when `timeout` passes first (the rest stays
    /// queued); rethrows what a callback threw (before any error of its own).
    void flush(Timeout timeout = forever) {
        detail::CallbackScope scope;
        ErrorCode rc = kc_producer_flush(p_, detail::to_ms(timeout));
        std::string why = rc != KC_OK ? detail::last_error() : std::string();
        scope.rethrow();
        if (rc != KC_OK) {
            throw Error(rc, why);
        }
    }

    /// Flushes for up to `timeout`, then drops what is left and stops the producer.
    /// Returns how many messages were dropped without a report.
    size_t close(Timeout timeout = forever) {
        detail::CallbackScope scope;
        size_t dropped = 0;
        ErrorCode rc = kc_producer_close(p_, detail::to_ms(timeout), &dropped);
        std::string why = rc != KC_OK ? detail::last_error() : std::string();
        scope.rethrow();
        if (rc != KC_OK) {
            throw Error(rc, why);
        }
        return dropped;
    }

    /// Drops queued (purge_queue) and/or in-flight (purge_inflight) messages; their
    /// failed reports come with the next poll.
    void purge(int flags) { detail::check(kc_producer_purge(p_, flags)); }

    /// Messages not yet acknowledged plus reports not yet served.
    size_t outq_len() const noexcept { return kc_producer_outq_len(p_); }

    /// The producer's fatal error (fatal() true), if it hit one.
    std::optional<Error> fatal_error() const {
        char buf[512];
        ErrorCode rc = kc_producer_fatal_error(p_, buf, sizeof buf);
        if (rc == KC_OK) {
            return std::nullopt;
        }
        return Error(rc, buf, false, false, true);
    }

    // Transactions (a producer with transactional.id). Each call throws an Error whose
    // retriable(), txn_requires_abort() and fatal() say what to do; KC_ERR__STATE with
    // none of them for a call in the wrong state. Delivery reports (and the token
    // refresh callback) are served inside commit and abort; what a callback throws is
    // rethrown when the call itself succeeded (its own Error comes first otherwise).

    /// Gets the producer id for transactional.id (fencing older producers with the same
    /// id and aborting what they left open). Once, before the first transaction.
    /// Throws KC_ERR__TIMED_OUT (retriable: call again), KC_ERR__STATE (not a
    /// transactional producer, or already done), a broker error (fatal).
    void init_transactions(Timeout timeout = forever) {
        detail::txn_call([&] { return kc_producer_init_transactions(p_, detail::to_ms(timeout)); });
    }

    /// Begins a transaction: what is produced until commit or abort belongs to it.
    /// Throws KC_ERR__STATE (no init_transactions, a transaction already begun, an
    /// abortable error not aborted yet), a fatal error.
    void begin_transaction() {
        detail::txn_call([&] { return kc_producer_begin_transaction(p_); });
    }

    /// Commits `offsets` (the next record to consume, each) of the group of `group` as
    /// part of the transaction: they become the group's committed offsets when, and
    /// only if, the transaction commits. Throws KC_ERR__TIMED_OUT (retriable), an
    /// abortable error (the consumer left the group, or it rebalanced since
    /// consumer_group_metadata()), a fatal error, KC_ERR__STATE, KC_ERR__INVALID_ARG.
    void send_offsets_to_transaction(const std::vector<TopicPartition>& offsets,
                                     const ConsumerGroupMetadata& group,
                                     Timeout timeout = forever) {
        auto cs = detail::to_c(offsets);
        detail::txn_call([&] {
            return kc_producer_send_offsets_to_transaction(p_, cs.data(), cs.size(),
                                                           group.c_ptr(), detail::to_ms(timeout));
        });
    }

    /// Sends what is queued, waits for every message of the transaction (serving their
    /// reports), then commits it. Throws KC_ERR__TIMED_OUT (retriable: call again), an
    /// abortable error (a message failed: abort), a fatal error (fenced; or the broker
    /// aborted it after transaction.timeout.ms), KC_ERR__STATE.
    void commit_transaction(Timeout timeout = forever) {
        detail::txn_call(
            [&] { return kc_producer_commit_transaction(p_, detail::to_ms(timeout)); });
    }

    /// Drops what is queued (reports KC_ERR__PURGE_QUEUE), waits for what is in flight,
    /// then aborts the transaction: read_committed consumers never see its records.
    /// Throws KC_ERR__TIMED_OUT (retriable), a fatal error, KC_ERR__STATE (none begun).
    void abort_transaction(Timeout timeout = forever) {
        detail::txn_call(
            [&] { return kc_producer_abort_transaction(p_, detail::to_ms(timeout)); });
    }

    // OAUTHBEARER (sasl.mechanism=OAUTHBEARER): see OAuthBearerTokenRefreshCallback.

    /// Sets the token every connection of the producer authenticates with (instead of,
    /// or besides, the refresh callback). From any thread. Throws KC_ERR__INVALID_ARG (an
    /// empty token or principal, an expiry in the past, a bad extension; what() says
    /// which), KC_ERR__STATE (sasl.mechanism is not OAUTHBEARER, or the unsecured JWT is
    /// configured).
    void oauthbearer_set_token(const OAuthBearerToken& token) {
        detail::set_token(p_, kc_producer_oauthbearer_set_token, token);
    }

    /// Says no token could be had: connections fail with KC_ERR__AUTHENTICATION saying
    /// `errstr` until a token is set. Throws KC_ERR__INVALID_ARG (empty), KC_ERR__STATE.
    void oauthbearer_set_token_failure(std::string_view errstr) {
        detail::CStr e(errstr);
        detail::check(kc_producer_oauthbearer_set_token_failure(p_, e.get()));
    }

    /// Runs the token refresh callback on a background thread of the producer from now
    /// on, instead of inside poll and flush (for a producer that seldom polls). Throws
    /// KC_ERR__STATE (no refresh callback, or not OAUTHBEARER).
    void sasl_background_callbacks_enable() {
        detail::check(kc_producer_sasl_background_callbacks_enable(p_));
    }

    /// The C handle, still owned by this Producer.
    kc_producer_t* c_ptr() const noexcept { return p_; }

private:
    void send(std::string_view topic, const Record& rec, void* opaque, int32_t block_ms) {
        detail::CStr t(topic);
        detail::CHeaders hs(rec.headers);
        kc_record_t r{rec.key.data(), rec.key.size(), rec.value.data(), rec.value.size(),
                      hs.data(), hs.size(), rec.timestamp};
        detail::check(
            kc_producer_send_flags(p_, t.get(), rec.partition, &r, opaque, 0, block_ms));
    }

    void reset() noexcept {
        kc_producer_free(std::exchange(p_, nullptr));  // no callback runs in it
        state_.reset();
    }

    kc_producer_t* p_ = nullptr;
    std::unique_ptr<detail::ProducerState> state_;
};

/// A consumed record, or an event (error() is then not KC_OK). Owns its C message; the
/// views it hands out are valid until it is destroyed (also after its consumer is).
class Message {
public:
    explicit Message(kc_message_t* m) noexcept : m_(m) {}
    ~Message() { kc_message_free(m_); }
    Message(Message&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
    Message& operator=(Message&& o) noexcept {
        if (this != &o) {
            kc_message_free(std::exchange(m_, std::exchange(o.m_, nullptr)));
        }
        return *this;
    }
    Message(const Message&) = delete;
    Message& operator=(const Message&) = delete;

    /// A record (not an event).
    bool ok() const noexcept { return kc_message_err(m_) == KC_OK; }
    /// KC_OK for a record; else the event's code (KC_ERR__PARTITION_EOF, a partition's
    /// or the group's error, ...).
    ErrorCode error() const noexcept { return kc_message_err(m_); }
    /// The event's description; empty for a record.
    std::string_view error_string() const noexcept {
        const char* s = kc_message_errstr(m_);
        return s ? std::string_view(s) : std::string_view();
    }
    /// The event as an Error (to throw or keep).
    Error as_error() const { return Error(error(), std::string(error_string())); }
    /// The consumer cannot go on (close it).
    bool is_fatal() const noexcept { return kc_message_is_fatal(m_) != 0; }

    /// The topic; empty for an event of no partition.
    std::string_view topic() const noexcept {
        const char* s = kc_message_topic(m_);
        return s ? std::string_view(s) : std::string_view();
    }
    int32_t partition() const noexcept { return kc_message_partition(m_); }
    int64_t offset() const noexcept { return kc_message_offset(m_); }
    /// Milliseconds since the epoch; -1 when there is none.
    int64_t timestamp() const noexcept { return kc_message_timestamp(m_, nullptr); }
    TimestampType timestamp_type() const noexcept {
        int32_t t = KC_TIMESTAMP_NOT_AVAILABLE;
        kc_message_timestamp(m_, &t);
        return static_cast<TimestampType>(t);
    }
    int32_t leader_epoch() const noexcept { return kc_message_leader_epoch(m_); }

    Bytes key() const noexcept {
        size_t n = 0;
        const void* p = kc_message_key(m_, &n);
        return Bytes(p, n);
    }
    Bytes value() const noexcept {
        size_t n = 0;
        const void* p = kc_message_value(m_, &n);
        return Bytes(p, n);
    }

    size_t header_count() const noexcept { return kc_message_header_cnt(m_); }
    /// Header `i`; throws KC_ERR__INVALID_ARG when out of range.
    Header header(size_t i) const {
        const char* k = nullptr;
        size_t kn = 0;
        const void* v = nullptr;
        size_t vn = 0;
        detail::check(kc_message_header(m_, i, &k, &kn, &v, &vn));
        return Header{std::string_view(k, kn), Bytes(v, vn)};
    }
    /// Every header, in order.
    std::vector<Header> headers() const {
        std::vector<Header> out;
        size_t n = header_count();
        out.reserve(n);
        for (size_t i = 0; i < n; i++) {
            out.push_back(header(i));
        }
        return out;
    }

    /// The C message, still owned by this Message.
    kc_message_t* c_ptr() const noexcept { return m_; }

private:
    kc_message_t* m_;
};

/// A rebalance callback: `kind` and the partitions concerned.
using RebalanceCallback = std::function<void(Rebalance kind, const std::vector<TopicPartition>&)>;

/// An offset commit callback (asynchronous and automatic commits): KC_OK or why the
/// commit failed, and the offsets sent.
using CommitCallback = std::function<void(ErrorCode err, const std::vector<TopicPartition>&)>;

namespace detail {

struct ConsumerState {
    RebalanceCallback on_rebalance;
    CommitCallback on_commit;
    OAuthBearerTokenRefreshCallback on_oauth;
    /// The message a poll got when a callback of the same poll threw.
    std::optional<Message> kept;
};

extern "C" inline void kafkac_cpp_rebalance(kc_consumer_t*, kc_err_t kind,
                                            const kc_topic_partition_t* parts, size_t cnt,
                                            void* opaque) noexcept {
    auto* st = static_cast<ConsumerState*>(opaque);
    if (st->on_rebalance) {
        guarded([&] { st->on_rebalance(static_cast<Rebalance>(kind), from_c(parts, cnt)); });
    }
}

extern "C" inline void kafkac_cpp_commit(kc_consumer_t*, kc_err_t err,
                                         const kc_topic_partition_t* offsets, size_t cnt,
                                         void* opaque) noexcept {
    auto* st = static_cast<ConsumerState*>(opaque);
    if (st->on_commit) {
        guarded([&] { st->on_commit(err, from_c(offsets, cnt)); });
    }
}

extern "C" inline void kafkac_cpp_consumer_oauth(kc_oauthbearer_t* ob, const char* config,
                                                 void* opaque) noexcept {
    auto* st = static_cast<ConsumerState*>(opaque);
    refresh_token(st->on_oauth, ob, config);
}

}  // namespace detail

/// A group consumer (subscribe) or a consumer of assigned partitions (assign).
/// Callbacks run inside poll() and close() on the calling thread; they may call
/// commit, store_offset, seek, pause, position and committed on this consumer. The
/// destructor closes the consumer if close() was not called (bounded by 10 s).
class Consumer {
public:
    /// Creates a consumer from `conf` (borrowed: the consumer keeps a copy). Throws
    /// KC_ERR__INVALID_CONFIG, KC_ERR__UNSUPPORTED_FEATURE.
    explicit Consumer(const Conf& conf, RebalanceCallback on_rebalance = {},
                      CommitCallback on_commit = {})
        : state_(std::make_unique<detail::ConsumerState>()) {
        state_->on_rebalance = std::move(on_rebalance);
        state_->on_commit = std::move(on_commit);
        Conf mine = conf.clone();
        if (const auto* cb = conf.oauthbearer_token_refresh_cb()) {
            state_->on_oauth = *cb;
            detail::check(kc_conf_set_oauthbearer_token_refresh_cb(
                mine.c_ptr(), detail::kafkac_cpp_consumer_oauth));
        }
        detail::check(kc_conf_set_rebalance_cb(mine.c_ptr(), detail::kafkac_cpp_rebalance));
        detail::check(kc_conf_set_offset_commit_cb(mine.c_ptr(), detail::kafkac_cpp_commit));
        detail::check(kc_conf_set_opaque(mine.c_ptr(), state_.get()));
        detail::check(kc_consumer_new(mine.c_ptr(), &c_));
    }
    ~Consumer() { reset(); }
    Consumer(Consumer&& o) noexcept
        : c_(std::exchange(o.c_, nullptr)), state_(std::move(o.state_)) {}
    Consumer& operator=(Consumer&& o) noexcept {
        if (this != &o) {
            reset();
            c_ = std::exchange(o.c_, nullptr);
            state_ = std::move(o.state_);
        }
        return *this;
    }
    Consumer(const Consumer&) = delete;
    Consumer& operator=(const Consumer&) = delete;

    /// Subscribes to topics (a name starting with ^ is a regular expression), replacing
    /// any earlier subscription or assignment. Throws KC_ERR__INVALID_ARG (no group.id,
    /// no topics, an empty name, a bad regular expression).
    void subscribe(const std::vector<std::string>& topics) {
        std::vector<const char*> ps;
        ps.reserve(topics.size());
        for (const auto& t : topics) {
            ps.push_back(t.c_str());
        }
        detail::check(kc_consumer_subscribe(c_, ps.data(), ps.size()));
    }
    void subscribe(std::initializer_list<std::string_view> topics) {
        subscribe(std::vector<std::string>(topics.begin(), topics.end()));
    }

    /// Leaves the subscription (and the group).
    void unsubscribe() { detail::check(kc_consumer_unsubscribe(c_)); }

    /// Consumes exactly these partitions from their offsets, without a group.
    void assign(const std::vector<TopicPartition>& parts) {
        auto cs = detail::to_c(parts);
        detail::check(kc_consumer_assign(c_, cs.data(), cs.size()));
    }

    /// The partitions assigned now.
    std::vector<TopicPartition> assignment() const {
        kc_topic_partition_t* ps = nullptr;
        size_t n = 0;
        detail::check(kc_consumer_assignment(c_, &ps, &n));
        struct Free {
            kc_topic_partition_t* p;
            size_t n;
            ~Free() { kc_topic_partitions_free(p, n); }
        } hold{ps, n};
        return detail::from_c(hold.p, hold.n);
    }

    /// The next record or event, waiting up to `timeout`; std::nullopt when nothing
    /// came in time. Runs the callbacks due and rethrows what they threw (the message
    /// this poll got is then kept for the next poll). Throws KC_ERR__DESTROY once
    /// closed.
    std::optional<Message> poll(Timeout timeout) {
        if (state_ && state_->kept) {
            std::optional<Message> m = std::move(state_->kept);
            state_->kept.reset();
            return m;
        }
        detail::CallbackScope scope;
        kc_message_t* raw = kc_consumer_poll(c_, detail::to_ms(timeout));
        ErrorCode rc = raw ? KC_OK : kc_last_error_code();
        std::string why = rc != KC_OK ? detail::last_error() : std::string();
        std::optional<Message> m;
        if (raw) {
            m.emplace(raw);
        }
        if (scope.failed()) {
            if (m) {
                state_->kept = std::move(m);
            }
            scope.rethrow();
        }
        if (rc != KC_OK) {
            throw Error(rc, why);
        }
        return m;
    }

    /// Commits what the polls handed out so far (synchronously: waits for the broker).
    void commit() { commit_c(nullptr, 0, false); }
    /// Commits the offset after `m` (synchronously).
    void commit(const Message& m) {
        std::vector<TopicPartition> one{
            TopicPartition(m.topic(), m.partition(), m.offset() + 1)};
        one[0].leader_epoch = m.leader_epoch();
        commit(one);
    }
    /// Commits these offsets (the next record to consume, each; synchronously).
    void commit(const std::vector<TopicPartition>& offsets) {
        auto cs = detail::to_c(offsets);
        commit_c(cs.data(), cs.size(), false);
    }
    /// Commits what the polls handed out without waiting; the result goes to the commit
    /// callback in a later poll.
    void commit_async() { commit_c(nullptr, 0, true); }
    void commit_async(const std::vector<TopicPartition>& offsets) {
        auto cs = detail::to_c(offsets);
        commit_c(cs.data(), cs.size(), true);
    }

    /// The group's committed offsets of `parts` (offset_invalid: nothing committed).
    std::vector<TopicPartition> committed(std::vector<TopicPartition> parts,
                                          Timeout timeout = forever) {
        auto cs = detail::to_c(parts);
        detail::check(kc_consumer_committed(c_, cs.data(), cs.size(), detail::to_ms(timeout)));
        for (size_t i = 0; i < parts.size(); i++) {
            parts[i].offset = cs[i].offset;
            parts[i].leader_epoch = cs[i].leader_epoch;
            parts[i].err = cs[i].err;
        }
        return parts;
    }

    /// The position (next offset a poll hands out) of each of `parts`; err is
    /// KC_ERR__UNKNOWN_PARTITION for one not assigned.
    std::vector<TopicPartition> position(std::vector<TopicPartition> parts) {
        auto cs = detail::to_c(parts);
        detail::check(kc_consumer_position(c_, cs.data(), cs.size()));
        for (size_t i = 0; i < parts.size(); i++) {
            parts[i].offset = cs[i].offset;
            parts[i].err = cs[i].err;
        }
        return parts;
    }

    /// Stores an offset for the next commit (enable.auto.offset.store=false).
    void store_offset(std::string_view topic, int32_t partition, int64_t offset) {
        detail::CStr t(topic);
        detail::check(kc_consumer_store_offset(c_, t.get(), partition, offset));
    }

    /// Moves an assigned partition's position.
    void seek(std::string_view topic, int32_t partition, int64_t offset) {
        detail::CStr t(topic);
        detail::check(kc_consumer_seek(c_, t.get(), partition, offset));
    }

    void pause(const std::vector<TopicPartition>& parts) {
        auto cs = detail::to_c(parts);
        detail::check(kc_consumer_pause(c_, cs.data(), cs.size()));
    }
    void resume(const std::vector<TopicPartition>& parts) {
        auto cs = detail::to_c(parts);
        detail::check(kc_consumer_resume(c_, cs.data(), cs.size()));
    }

    /// Leaves the group cleanly (the revoke callback runs here; with enable.auto.commit
    /// what was consumed is committed), within `timeout` plus 100 ms. Rethrows what a
    /// callback threw. Afterwards polls throw KC_ERR__DESTROY.
    void close(Timeout timeout = std::chrono::seconds(10)) {
        detail::CallbackScope scope;
        ErrorCode rc = kc_consumer_close(c_, detail::to_ms(timeout));
        std::string why = rc != KC_OK ? detail::last_error() : std::string();
        scope.rethrow();
        if (rc != KC_OK) {
            throw Error(rc, why);
        }
    }

    /// The group and membership now, for Producer::send_offsets_to_transaction: call
    /// it after the poll whose records the transaction holds. Throws
    /// KC_ERR__INVALID_ARG (no group.id).
    ConsumerGroupMetadata consumer_group_metadata() {
        kc_group_metadata_t* m = nullptr;
        detail::check(kc_consumer_group_metadata(c_, &m));
        return ConsumerGroupMetadata(m);
    }

    /// As Producer::oauthbearer_set_token, for this consumer's connections.
    void oauthbearer_set_token(const OAuthBearerToken& token) {
        detail::set_token(c_, kc_consumer_oauthbearer_set_token, token);
    }
    /// As Producer::oauthbearer_set_token_failure.
    void oauthbearer_set_token_failure(std::string_view errstr) {
        detail::CStr e(errstr);
        detail::check(kc_consumer_oauthbearer_set_token_failure(c_, e.get()));
    }
    /// As Producer::sasl_background_callbacks_enable: the token refresh callback runs on
    /// a background thread instead of inside poll.
    void sasl_background_callbacks_enable() {
        detail::check(kc_consumer_sasl_background_callbacks_enable(c_));
    }

    /// The C handle, still owned by this Consumer.
    kc_consumer_t* c_ptr() const noexcept { return c_; }

private:
    void commit_c(const kc_topic_partition_t* offsets, size_t cnt, bool async) {
        detail::CallbackScope scope;
        ErrorCode rc = kc_consumer_commit(c_, offsets, cnt, async ? 1 : 0);
        std::string why = rc != KC_OK ? detail::last_error() : std::string();
        scope.rethrow();
        if (rc != KC_OK) {
            throw Error(rc, why);
        }
    }

    void reset() noexcept {
        // Closes the consumer if needed: its callbacks may run here (their exceptions
        // are dropped), so the state goes after it.
        kc_consumer_free(std::exchange(c_, nullptr));
        state_.reset();
    }

    kc_consumer_t* c_ = nullptr;
    std::unique_ptr<detail::ConsumerState> state_;
};

}  // namespace kafkac

#endif  // KAFKAC_HPP
