// kafkac.hpp's transactions against a broker: a committed transaction's records are
// read back exactly by a read_committed consumer and its offsets (sent with
// send_offsets_to_transaction) become the group's committed offsets only once it
// commits; an aborted transaction's records are seen by read_uncommitted readers only
// and its offsets are never committed; a second producer with the same
// transactional.id fences the first (fatal class); a zero timeout on init_transactions
// is retriable and the call then continues; calls in the wrong state throw
// KC_ERR__STATE with no class.
//
// Usage: txn <bootstrap> <topic> <group> <transactional.id prefix> (topics <topic> and
// <topic>-in, of one partition each, must exist and be empty)
// Prints one line per part done, then the summary.

#include "check.hpp"

#include <kafkac.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::string bootstrap, topic, input, group, txn_prefix;

kafkac::Conf txn_conf(const std::string& id) {
    return kafkac::Conf{{"bootstrap.servers", bootstrap},
                        {"transactional.id", id},
                        {"linger.ms", "5"}};
}

// The values of partition 0 of `t` from the beginning up to and including `last`, read
// with isolation.level `isolation` (without a group).
std::vector<std::string> read_until(const std::string& t, const std::string& isolation,
                                    const std::string& last) {
    kafkac::Consumer c(kafkac::Conf{{"bootstrap.servers", bootstrap},
                                    {"isolation.level", isolation},
                                    {"enable.partition.eof", "false"}});
    c.assign({kafkac::TopicPartition(t, 0, kafkac::offset_beginning)});
    std::vector<std::string> got;
    auto deadline = Clock::now() + 60s;
    while (Clock::now() < deadline) {
        auto m = c.poll(500ms);
        if (!m) continue;
        if (!m->ok()) {
            std::printf("event while reading %s: %s\n", t.c_str(),
                        std::string(m->error_string()).c_str());
            continue;
        }
        got.push_back(m->value().to_string());
        if (got.back() == last) break;
    }
    c.close();
    return got;
}

void print(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + " ";
    std::printf("  got: %s\n", s.c_str());
}

void wrong_state() {
    // A producer without transactional.id.
    kafkac::Producer plain(kafkac::Conf{{"bootstrap.servers", bootstrap}});
    CHECK_THROWS(plain.init_transactions(5s), KC_ERR__STATE, e, {
        CHECK(check::contains(e.what(), "transactional.id"));
        CHECK(!e.retriable() && !e.txn_requires_abort() && !e.fatal());
    });
    CHECK_THROWS(plain.begin_transaction(), KC_ERR__STATE, e, {
        CHECK(std::string(e.what()).size() > 0);
        CHECK(!e.retriable() && !e.txn_requires_abort() && !e.fatal());
    });
    // A transactional producer that did not init.
    kafkac::Producer p(txn_conf(txn_prefix + "-state"));
    CHECK_THROWS(p.begin_transaction(), KC_ERR__STATE, e, {
        CHECK(check::contains(e.what(), "begin_transaction"));
        CHECK(!e.retriable() && !e.txn_requires_abort() && !e.fatal());
    });
    CHECK_THROWS(p.commit_transaction(5s), KC_ERR__STATE, e,
                 { CHECK(!e.retriable() && !e.txn_requires_abort() && !e.fatal()); });
    CHECK_THROWS(p.abort_transaction(5s), KC_ERR__STATE, e,
                 { CHECK(!e.retriable() && !e.txn_requires_abort() && !e.fatal()); });
    p.init_transactions(30s);
    // Twice is a usage error; so is producing outside a transaction and committing
    // none.
    CHECK_THROWS(p.init_transactions(5s), KC_ERR__STATE, e,
                 { CHECK(!e.retriable() && !e.txn_requires_abort() && !e.fatal()); });
    CHECK_THROWS(p.produce(topic, "outside"), KC_ERR__STATE, e, {});
    CHECK_THROWS(p.commit_transaction(5s), KC_ERR__STATE, e, {});
    p.begin_transaction();
    CHECK_THROWS(p.begin_transaction(), KC_ERR__STATE, e, {});
    p.abort_transaction(30s);
    std::printf("wrong state: KC_ERR__STATE, no class\n");
}

void retriable() {
    kafkac::Producer p(txn_conf(txn_prefix + "-retry"));
    bool timed_out = false;
    try {
        p.init_transactions(0ms);
    } catch (const kafkac::Error& e) {
        timed_out = true;
        CHECK(e.code() == KC_ERR__TIMED_OUT);
        CHECK(e.retriable());
        CHECK(!e.txn_requires_abort() && !e.fatal());
        std::printf("init_transactions(0): %s %s (retriable %d)\n",
                    std::string(e.name()).c_str(), e.what(), e.retriable());
    }
    CHECK(timed_out);
    // The call continues where it stopped.
    p.init_transactions(30s);
    p.begin_transaction();
    p.produce(topic, "retried");
    p.commit_transaction(30s);
    std::printf("retriable init continued\n");
}

void commit_and_abort() {
    // The input: 10 records a consumer of the group reads.
    {
        kafkac::Producer in(kafkac::Conf{{"bootstrap.servers", bootstrap}});
        for (int i = 0; i < 10; i++) in.produce(input, "in-" + std::to_string(i));
        in.flush(30s);
    }
    kafkac::Consumer c(kafkac::Conf{{"bootstrap.servers", bootstrap},
                                    {"group.id", group},
                                    {"auto.offset.reset", "earliest"},
                                    {"enable.auto.commit", "false"},
                                    {"isolation.level", "read_committed"}});
    c.subscribe({input});
    int read = 0;
    auto deadline = Clock::now() + 60s;
    while (read < 10 && Clock::now() < deadline) {
        auto m = c.poll(500ms);
        if (m && m->ok()) read++;
    }
    CHECK(read == 10);
    const std::vector<kafkac::TopicPartition> in0{kafkac::TopicPartition(input, 0)};

    std::vector<std::string> delivered;
    kafkac::Producer p(txn_conf(txn_prefix + "-copy"), [&](const kafkac::DeliveryReport& r) {
        if (r.ok()) delivered.push_back(std::string(r.topic()));
    });
    p.init_transactions(30s);

    // Committed: 10 records and the input offsets.
    p.begin_transaction();
    for (int i = 0; i < 10; i++) p.produce(topic, "c-" + std::to_string(i));
    p.send_offsets_to_transaction({kafkac::TopicPartition(input, 0, 10)},
                                  c.consumer_group_metadata(), 30s);
    // Not committed yet: nothing, or the broker keeps the answer back (a timeout).
    try {
        auto before = c.committed(in0, 3s);
        CHECK(before[0].offset == kafkac::offset_invalid);
        std::printf("committed before the commit: %lld\n", (long long)before[0].offset);
    } catch (const kafkac::Error& e) {
        CHECK(e.code() == KC_ERR__TIMED_OUT);
        std::printf("committed before the commit: %s\n", std::string(e.name()).c_str());
    }
    p.commit_transaction(30s);
    CHECK(delivered.size() == 10);
    auto after = c.committed(in0, 30s);
    CHECK(after[0].offset == 10);
    std::printf("committed after the commit: %lld\n", (long long)after[0].offset);

    // Aborted: 5 records and offsets that are never committed.
    p.begin_transaction();
    for (int i = 0; i < 5; i++) p.produce(topic, "a-" + std::to_string(i));
    p.flush(30s);  // in the log, not committed
    p.send_offsets_to_transaction({kafkac::TopicPartition(input, 0, 3)},
                                  c.consumer_group_metadata(), 30s);
    p.abort_transaction(30s);
    auto aborted = c.committed(in0, 30s);
    CHECK(aborted[0].offset == 10);

    // A last committed one marks the end.
    p.begin_transaction();
    p.produce(topic, "end");
    p.commit_transaction(30s);
    CHECK(delivered.size() == 16);
    c.close();

    std::vector<std::string> want_committed{"retried"}, want_all;
    for (int i = 0; i < 10; i++) want_committed.push_back("c-" + std::to_string(i));
    want_all = want_committed;
    for (int i = 0; i < 5; i++) want_all.push_back("a-" + std::to_string(i));
    want_committed.push_back("end");
    want_all.push_back("end");
    auto rc = read_until(topic, "read_committed", "end");
    CHECK(rc == want_committed);
    if (rc != want_committed) print(rc);
    auto ru = read_until(topic, "read_uncommitted", "end");
    CHECK(ru == want_all);
    if (ru != want_all) print(ru);
    std::printf("read_committed: %zu records, read_uncommitted: %zu records\n", rc.size(),
                ru.size());
}

void fencing() {
    const std::string id = txn_prefix + "-fence";
    kafkac::Producer p1(txn_conf(id));
    p1.init_transactions(30s);
    p1.begin_transaction();
    p1.produce(topic + "-in", "p1-open");
    p1.flush(30s);
    kafkac::Producer p2(txn_conf(id));
    p2.init_transactions(30s);
    bool thrown = false;
    try {
        p1.produce(topic + "-in", "p1-after");
        p1.commit_transaction(30s);
    } catch (const kafkac::Error& e) {
        thrown = true;
        std::printf("fenced: %d %s: %s\n", e.code(), std::string(e.name()).c_str(), e.what());
        CHECK(e.code() == KC_ERR_PRODUCER_FENCED || e.code() == KC_ERR_INVALID_PRODUCER_EPOCH ||
              e.code() == KC_ERR__FATAL);
        CHECK(e.fatal());
        CHECK(!e.retriable() && !e.txn_requires_abort());
    }
    CHECK(thrown);
    // Every later transactional call says the same.
    bool again = false;
    try {
        p1.begin_transaction();
    } catch (const kafkac::Error& e) {
        again = e.fatal() && !e.retriable() && !e.txn_requires_abort();
    }
    CHECK(again);
    auto fe = p1.fatal_error();
    CHECK(fe.has_value() && fe->fatal());
    // The second one goes on.
    p2.begin_transaction();
    p2.produce(topic + "-in", "p2");
    p2.commit_transaction(30s);
    std::printf("fencing: fatal\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s <bootstrap> <topic> <group> <transactional.id prefix>\n",
                     argv[0]);
        return 2;
    }
    bootstrap = argv[1];
    topic = argv[2];
    input = topic + "-in";
    group = argv[3];
    txn_prefix = argv[4];
    try {
        wrong_state();
        retriable();
        commit_and_abort();
        fencing();
    } catch (const kafkac::Error& e) {
        std::printf("FAILED: uncaught %s: %s (retriable %d, abort %d, fatal %d)\n",
                    std::string(e.name()).c_str(), e.what(), e.retriable(),
                    e.txn_requires_abort(), e.fatal());
        return 1;
    } catch (const std::exception& e) {
        std::printf("FAILED: uncaught %s\n", e.what());
        return 1;
    }
    return check::finish();
}
