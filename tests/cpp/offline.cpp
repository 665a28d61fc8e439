// kafkac.hpp without a broker: configuration errors (code, name and message), ownership
// and moves, null versus empty bytes, and delivery callbacks (one that throws included)
// served by flush() for messages that cannot reach an address where nothing listens.
//
// Usage: offline <address where nothing listens>

#include "check.hpp"

#include <kafkac.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;

// Unique ownership: no copies, noexcept moves and destructors.
template <typename T>
constexpr bool move_only = !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
                           std::is_nothrow_move_constructible_v<T> &&
                           std::is_nothrow_move_assignable_v<T> &&
                           std::is_nothrow_destructible_v<T>;
static_assert(move_only<kafkac::Conf>);
static_assert(move_only<kafkac::Producer>);
static_assert(move_only<kafkac::Consumer>);
static_assert(move_only<kafkac::Message>);
static_assert(move_only<kafkac::ConsumerGroupMetadata>);
static_assert(std::is_base_of_v<std::runtime_error, kafkac::Error>);

namespace {

struct Boom : std::runtime_error {
    int n;
    explicit Boom(int k) : std::runtime_error("boom " + std::to_string(k)), n(k) {}
};

void conf_errors() {
    kafkac::Conf c;
    c.set("client.id", "cpp-offline").set("linger.ms", "7");
    CHECK(c.get("client.id") == "cpp-offline");
    CHECK(c.get("linger.ms") == "7");

    // A value longer than the first buffer get() tries.
    std::string long_id(300, 'x');
    c.set("client.id", long_id);
    CHECK(c.get("client.id") == long_id);

    CHECK_THROWS(c.set("no.such.property", "1"), KC_ERR__UNKNOWN_CONFIG, e, {
        CHECK(e.name() == "_UNKNOWN_CONFIG");
        CHECK(check::contains(e.what(), "no.such.property"));
    });
    CHECK_THROWS(c.set("linger.ms", "soon"), KC_ERR__INVALID_CONFIG, e, {
        CHECK(e.name() == "_INVALID_CONFIG");
        CHECK(check::contains(e.what(), "linger.ms"));
        CHECK(check::contains(e.what(), "soon"));
    });
    CHECK_THROWS(c.get("no.such.property"), KC_ERR__UNKNOWN_CONFIG, e,
                 { CHECK(check::contains(e.what(), "no.such.property")); });
    CHECK_THROWS((kafkac::Conf{{"acks", "all"}, {"enable.idempotence", "perhaps"}}),
                 KC_ERR__INVALID_CONFIG, e,
                 { CHECK(check::contains(e.what(), "enable.idempotence")); });

    // clone() is independent of the original.
    kafkac::Conf d = c.clone();
    d.set("client.id", "copy");
    CHECK(c.get("client.id") == long_id);
    CHECK(d.get("client.id") == "copy");

    // A moved-from Conf throws on use; the one it moved to works.
    kafkac::Conf e2 = std::move(d);
    CHECK(e2.get("client.id") == "copy");
    CHECK(d.c_ptr() == nullptr);
    CHECK_THROWS(d.set("client.id", "x"), KC_ERR__NULL_ARG, e, {});
    d = std::move(e2);
    CHECK(d.get("client.id") == "copy");
    kafkac::Conf& same = d;
    d = std::move(same);  // self-move keeps the handle
    CHECK(d.get("client.id") == "copy");

    CHECK(kafkac::err_name(KC_ERR__TIMED_OUT) == "_TIMED_OUT");
    CHECK(kafkac::err_name(KC_ERR_OFFSET_OUT_OF_RANGE) == "OFFSET_OUT_OF_RANGE");
    CHECK(!kafkac::version().empty());
    kafkac::Error ok(KC_OK, "");
    CHECK(std::string(ok.what()) == kc_err_str(KC_OK));
}

void bytes() {
    kafkac::Bytes null_default;
    kafkac::Bytes null_ptr = nullptr;
    kafkac::Bytes null_cstr = static_cast<const char*>(nullptr);
    kafkac::Bytes empty_lit = "";
    kafkac::Bytes empty_str = std::string();
    kafkac::Bytes empty_view = std::string_view();
    kafkac::Bytes empty_vec = std::vector<uint8_t>();
    CHECK(null_default.is_null() && null_ptr.is_null() && null_cstr.is_null());
    CHECK(kafkac::Bytes::null().is_null());
    CHECK(!empty_lit.is_null() && empty_lit.empty());
    CHECK(!empty_str.is_null() && empty_str.empty());
    CHECK(!empty_view.is_null() && empty_view.empty());
    CHECK(!empty_vec.is_null() && empty_vec.empty());
    CHECK(null_default == null_ptr);
    CHECK(null_default != empty_lit);
    CHECK(empty_lit == empty_view);
    std::vector<std::byte> raw{std::byte{0}, std::byte{0xff}};
    kafkac::Bytes b = raw;
    CHECK(b.size() == 2 && b.data()[0] == 0 && b.data()[1] == 0xff);
    CHECK(kafkac::Bytes("ab") == kafkac::Bytes(std::string("ab")));
    CHECK(kafkac::Bytes("ab").str() == "ab");
    CHECK(kafkac::Bytes(raw.data(), 0) == empty_lit);
    CHECK(kafkac::Bytes(nullptr, 5).size() == 0);
}

void creation_errors(const std::string& nowhere) {
    CHECK_THROWS(kafkac::Producer p(kafkac::Conf{}), KC_ERR__INVALID_CONFIG, e,
                 { CHECK(check::contains(e.what(), "bootstrap.servers")); });
    CHECK_THROWS((kafkac::Producer{kafkac::Conf{{"bootstrap.servers", nowhere},
                                                {"enable.idempotence", "true"},
                                                {"acks", "1"}}}),
                 KC_ERR__INVALID_CONFIG, e, { CHECK(check::contains(e.what(), "acks")); });
    kafkac::Consumer c(kafkac::Conf{{"bootstrap.servers", nowhere}});
    CHECK_THROWS(c.subscribe({"t"}), KC_ERR__INVALID_ARG, e,
                 { CHECK(check::contains(e.what(), "group.id")); });
    CHECK(!c.poll(0ms).has_value());
    c.close(1s);
    CHECK_THROWS(c.poll(10ms), KC_ERR__DESTROY, e, {});

    kafkac::Consumer g(kafkac::Conf{{"bootstrap.servers", nowhere}, {"group.id", "g"}});
    CHECK_THROWS(g.subscribe(std::vector<std::string>{}), KC_ERR__INVALID_ARG, e, {});
    CHECK_THROWS(g.seek("t", 0, 5), KC_ERR__UNKNOWN_PARTITION, e, {});
    kafkac::Consumer moved = std::move(g);
    CHECK_THROWS(g.subscribe({"t"}), KC_ERR__NULL_ARG, e, {});
    CHECK(g.c_ptr() == nullptr && moved.c_ptr() != nullptr);
    moved.subscribe({"t", "^t-.*"});
    CHECK(moved.assignment().empty());
    CHECK_THROWS(g.consumer_group_metadata(), KC_ERR__NULL_ARG, e, {});
    // Group metadata needs a group.id.
    kafkac::Consumer nogroup(kafkac::Conf{{"bootstrap.servers", nowhere}});
    CHECK_THROWS(nogroup.consumer_group_metadata(), KC_ERR__INVALID_ARG, e,
                 { CHECK(check::contains(e.what(), "group.id")); });
    kafkac::ConsumerGroupMetadata md = moved.consumer_group_metadata();
    CHECK(md.c_ptr() != nullptr);
    kafkac::ConsumerGroupMetadata md2 = std::move(md);
    CHECK(md.c_ptr() == nullptr && md2.c_ptr() != nullptr);
}

// Transactional calls without a broker: the wrong state (KC_ERR__STATE, no class), a
// timeout (retriable), an error of another call (no class).
void txn_offline(const std::string& nowhere) {
    kafkac::Error plain(KC_ERR__STATE, "x");
    CHECK(!plain.retriable() && !plain.txn_requires_abort() && !plain.fatal());
    kafkac::Producer p(kafkac::Conf{{"bootstrap.servers", nowhere},
                                    {"transactional.id", "cpp-offline"}});
    CHECK_THROWS(p.begin_transaction(), KC_ERR__STATE, e, {
        CHECK(check::contains(e.what(), "begin_transaction"));
        CHECK(!e.retriable() && !e.txn_requires_abort() && !e.fatal());
    });
    CHECK_THROWS(p.init_transactions(200ms), KC_ERR__TIMED_OUT, e, {
        CHECK(e.retriable());
        CHECK(!e.txn_requires_abort() && !e.fatal());
        CHECK(check::contains(e.what(), "call it again"));
    });
    // The class is of the last transactional call only.
    CHECK_THROWS(p.produce("", "x"), KC_ERR__INVALID_ARG, e,
                 { CHECK(!e.retriable() && !e.fatal()); });
    kafkac::Producer moved = std::move(p);
    CHECK_THROWS(p.commit_transaction(0ms), KC_ERR__NULL_ARG, e, {});
    CHECK(moved.close(0ms) == 0);
}

// Messages to an address where nothing listens fail after message.timeout.ms; flush()
// serves their reports. One per-message callback throws: flush() rethrows that very
// exception after every report was served, and the next flush() does not.
void failed_deliveries(const std::string& nowhere) {
    kafkac::Conf conf{{"bootstrap.servers", nowhere},
                      {"message.timeout.ms", "300"},
                      {"reconnect.backoff.ms", "20"}};
    std::vector<kafkac::ErrorCode> errs;
    std::vector<std::string> topics;
    int failed_persisted_no = 0;
    kafkac::Producer p(conf, [&](const kafkac::DeliveryReport& r) {
        errs.push_back(r.error());
        topics.emplace_back(r.topic());
        if (!r.ok() && r.offset() == -1 && !r.error_string().empty() &&
            r.as_error().code() == r.error() &&
            r.status() != kafkac::Persisted::yes) {
            failed_persisted_no++;
        }
    });
    kafkac::Producer mine = std::move(p);  // the callback state moves with the handle
    CHECK_THROWS(p.produce("t", "v"), KC_ERR__NULL_ARG, e, {});
    CHECK_THROWS(p.produce("t", kafkac::Record{}, [](const kafkac::DeliveryReport&) {}),
                 KC_ERR__NULL_ARG, e, {});

    mine.produce("cpp-offline", "v0", "k0");
    int own_calls = 0;
    kafkac::ErrorCode own_err = KC_OK;
    kafkac::Record r;
    r.value = "v1";
    r.headers = {{"h", "x"}, {"n", nullptr}};
    mine.produce("cpp-offline", r, [&](const kafkac::DeliveryReport& rep) {
        own_calls++;
        own_err = rep.error();
        throw Boom(1);
    });
    mine.produce("cpp-offline", "v2");
    CHECK(mine.outq_len() == 3);

    bool caught = false;
    try {
        mine.flush(10s);
    } catch (const Boom& b) {
        caught = true;
        CHECK(b.n == 1);
        CHECK(std::string(b.what()) == "boom 1");
    }
    CHECK(caught);
    CHECK(own_calls == 1);
    CHECK(own_err != KC_OK);
    CHECK(errs.size() == 2);  // the producer's callback got the other two
    CHECK(failed_persisted_no == 2);
    for (auto t : topics) {
        CHECK(t == "cpp-offline");
    }
    CHECK(mine.outq_len() == 0);
    mine.flush(1s);  // nothing left, nothing rethrown again
    CHECK(mine.poll(0ms) == 0);
    CHECK(!mine.fatal_error().has_value());

    // A message never reported (freed with the producer) does not leak its callback.
    mine.produce("cpp-offline", r, [](const kafkac::DeliveryReport&) {});
    CHECK(mine.close(0ms) == 1);
    CHECK_THROWS(mine.produce("cpp-offline", "late"), KC_ERR__DESTROY, e, {});
    CHECK_THROWS(mine.produce("cpp-offline", r, [](const kafkac::DeliveryReport&) {}),
                 KC_ERR__DESTROY, e, {});
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <address where nothing listens>\n", argv[0]);
        return 2;
    }
    std::string nowhere = argv[1];
    try {
        conf_errors();
        bytes();
        creation_errors(nowhere);
        txn_offline(nowhere);
        failed_deliveries(nowhere);
    } catch (const kafkac::Error& e) {
        std::printf("FAILED: uncaught %s: %s\n", std::string(e.name()).c_str(), e.what());
        return 1;
    } catch (const std::exception& e) {
        std::printf("FAILED: uncaught %s\n", e.what());
        return 1;
    }
    return check::finish();
}
