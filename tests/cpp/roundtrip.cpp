// kafkac.hpp against a broker: produces N records (keys, headers, null and empty keys
// and values) with a delivery lambda, checks every report; consumes them back in a
// group with a rebalance lambda and checks each record's exact contents against what was
// sent and where it was reported; commits and reads the committed offsets back; then
// the lambdas that throw: a delivery callback (flush rethrows, the record is still
// delivered) and a rebalance callback (poll rethrows, no record is lost).
//
// Usage: roundtrip <bootstrap> <topic> <group> <n> (topics <topic>, with any number of
// partitions, and <topic>-extra, with one, must exist)
// Prints "committed <partition> <offset>" for each partition, then the summary.

#include "check.hpp"

#include <kafkac.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Sent {
    // std::nullopt for null.
    std::optional<std::string> key, value;
    int32_t partition = -1;
    int64_t offset = -1;
};

std::optional<std::string> opt(kafkac::Bytes b) {
    if (b.is_null()) {
        return std::nullopt;
    }
    return b.to_string();
}

// Record i: key null every 5th, empty every 6th, else "key-i"; value null every 7th,
// empty every 11th, else a value of i bytes; headers "i" (its number), "null" (a null
// value) and "empty" (an empty value).
std::optional<std::string> key_of(int i) {
    if (i % 5 == 0) return std::nullopt;
    if (i % 6 == 0) return std::string();
    return "key-" + std::to_string(i);
}
std::optional<std::string> value_of(int i) {
    if (i % 7 == 0) return std::nullopt;
    if (i % 11 == 0) return std::string();
    return std::string(static_cast<size_t>(i), static_cast<char>('a' + i % 26));
}

kafkac::Bytes bytes_of(const std::optional<std::string>& s) {
    return s ? kafkac::Bytes(*s) : kafkac::Bytes();
}

kafkac::Conf consumer_conf(const std::string& bootstrap, const std::string& group) {
    return kafkac::Conf{{"bootstrap.servers", bootstrap},
                        {"group.id", group},
                        {"auto.offset.reset", "earliest"},
                        {"enable.auto.commit", "false"},
                        {"session.timeout.ms", "6000"}};
}

struct Boom : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::map<int, Sent> produce_all(const std::string& bootstrap, const std::string& topic,
                                int n) {
    std::map<int, Sent> sent;
    std::vector<std::pair<int, std::string>> bad;
    kafkac::Producer p(kafkac::Conf{{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}},
                       [&](const kafkac::DeliveryReport& r) {
                           // The key says which record it is (null and empty keys are
                           // looked up by partition/offset later).
                           if (!r.ok() || r.offset() < 0 || r.status() != kafkac::Persisted::yes ||
                               r.topic() != topic || !r.error_string().empty()) {
                               bad.emplace_back(r.error(), std::string(r.error_string()));
                           }
                       });
    // Per-message callbacks carry the record number.
    for (int i = 0; i < n; i++) {
        std::string num = std::to_string(i);
        sent[i].key = key_of(i);
        sent[i].value = value_of(i);
        kafkac::Record rec;
        rec.key = bytes_of(sent[i].key);
        rec.value = bytes_of(sent[i].value);
        rec.headers = {{"i", num}, {"null", nullptr}, {"empty", ""}};
        p.produce(topic, rec, [&sent, &bad, i](const kafkac::DeliveryReport& r) {
            if (!r.ok() || r.offset() < 0 || r.status() != kafkac::Persisted::yes) {
                bad.emplace_back(r.error(), std::string(r.error_string()));
            }
            sent[i].partition = r.partition();
            sent[i].offset = r.offset();
        });
        if (i % 50 == 0) {
            p.poll(0ms);
        }
    }
    p.flush(20s);
    CHECK(p.outq_len() == 0);
    CHECK(bad.empty());
    for (const auto& [code, why] : bad) {
        std::printf("  failed report %d: %s\n", code, why.c_str());
    }
    std::set<std::pair<int32_t, int64_t>> where;
    for (const auto& [i, s] : sent) {
        CHECK(s.partition >= 0 && s.offset >= 0);
        where.insert({s.partition, s.offset});
    }
    CHECK(where.size() == static_cast<size_t>(n));  // every record its own offset

    // The producer's own callback serves messages sent without one.
    int plain = 0;
    kafkac::Producer q(kafkac::Conf{{"bootstrap.servers", bootstrap}},
                       [&](const kafkac::DeliveryReport& r) { plain += r.ok() ? 1 : 100; });
    kafkac::Record extra;
    extra.value = "extra";
    extra.partition = 0;
    q.produce(topic + "-extra", extra, 10s);
    q.produce(topic + "-extra", "extra2", nullptr);
    CHECK(q.close(20s) == 0);
    CHECK(plain == 2);
    std::printf("produced %d records, reports checked\n", n);
    return sent;
}

// Consumes until `n` records came (or 60 s); checks each one against `sent`.
void consume_all(const std::string& bootstrap, const std::string& topic,
                 const std::string& group, const std::map<int, Sent>& sent, int n) {
    std::vector<kafkac::TopicPartition> assigned;
    int assigns = 0;
    std::vector<std::pair<kafkac::ErrorCode, size_t>> async_commits;
    kafkac::Consumer c(
        consumer_conf(bootstrap, group),
        [&](kafkac::Rebalance kind, const std::vector<kafkac::TopicPartition>& ps) {
            if (kind == kafkac::Rebalance::assign) {
                assigns++;
                assigned.insert(assigned.end(), ps.begin(), ps.end());
            }
        },
        [&](kafkac::ErrorCode err, const std::vector<kafkac::TopicPartition>& offsets) {
            async_commits.emplace_back(err, offsets.size());
        });
    c.subscribe({topic});
    std::map<int, int> seen;  // record number -> times
    std::map<int32_t, int64_t> next;  // partition -> offset after the last record
    int mismatches = 0;
    auto deadline = Clock::now() + 60s;
    while (static_cast<int>(seen.size()) < n && Clock::now() < deadline) {
        std::optional<kafkac::Message> m = c.poll(200ms);
        if (!m) continue;
        if (!m->ok()) {
            std::printf("  event %s: %s\n", std::string(kafkac::err_name(m->error())).c_str(),
                        std::string(m->error_string()).c_str());
            continue;
        }
        CHECK(m->topic() == topic);
        CHECK(m->timestamp() > 0 && m->timestamp_type() == kafkac::TimestampType::create_time);
        std::vector<kafkac::Header> hs = m->headers();
        bool headers_ok = hs.size() == 3 && hs[0].key == "i" && hs[1].key == "null" &&
                          hs[1].value.is_null() && hs[2].key == "empty" &&
                          !hs[2].value.is_null() && hs[2].value.empty();
        CHECK(headers_ok);
        if (!headers_ok) continue;
        int i = std::atoi(hs[0].value.to_string().c_str());
        auto it = sent.find(i);
        CHECK(it != sent.end());
        if (it == sent.end()) continue;
        const Sent& s = it->second;
        bool same = opt(m->key()) == s.key && opt(m->value()) == s.value &&
                    m->partition() == s.partition && m->offset() == s.offset;
        if (!same && mismatches++ < 5) {
            std::printf("  record %d differs: at %d/%lld, sent to %d/%lld\n", i,
                        m->partition(), static_cast<long long>(m->offset()), s.partition,
                        static_cast<long long>(s.offset));
        }
        CHECK(same);
        CHECK(m->header(0).value == kafkac::Bytes(std::to_string(i)));
        seen[i]++;
        next[m->partition()] = m->offset() + 1;
        if (static_cast<int>(seen.size()) == n) {
            c.commit(*m);  // the last one explicitly, then everything
        }
    }
    CHECK(static_cast<int>(seen.size()) == n);
    for (const auto& [i, times] : seen) {
        CHECK(times == 1);
    }
    CHECK(assigns >= 1);
    std::vector<kafkac::TopicPartition> mine = c.assignment();
    CHECK(mine.size() == assigned.size());
    CHECK(!mine.empty());

    c.commit();
    std::vector<kafkac::TopicPartition> ask;
    for (const auto& tp : mine) {
        ask.emplace_back(tp.topic, tp.partition);
    }
    std::vector<kafkac::TopicPartition> got = c.committed(ask, 10s);
    CHECK(got.size() == ask.size());
    for (const auto& tp : got) {
        int64_t want = next.count(tp.partition) ? next[tp.partition] : kafkac::offset_invalid;
        CHECK(tp.err == KC_OK);
        CHECK(tp.offset == want);
        std::printf("committed %d %lld\n", tp.partition, static_cast<long long>(tp.offset));
    }
    std::vector<kafkac::TopicPartition> pos = c.position(ask);
    for (const auto& tp : pos) {
        CHECK(tp.err == KC_OK);
        CHECK(!next.count(tp.partition) || tp.offset == next[tp.partition]);
    }
    // An asynchronous commit reports to the commit lambda in a later poll.
    c.commit_async(got);
    auto until = Clock::now() + 20s;
    while (async_commits.empty() && Clock::now() < until) {
        std::optional<kafkac::Message> m = c.poll(100ms);
        CHECK(!m || !m->ok());  // nothing more to consume
    }
    CHECK(async_commits.size() == 1);
    CHECK(!async_commits.empty() && async_commits[0].first == KC_OK &&
          async_commits[0].second == got.size());
    c.close(10s);
    CHECK_THROWS(c.poll(0ms), KC_ERR__DESTROY, e, {});
    std::printf("consumed %d records once each, exact contents\n", static_cast<int>(seen.size()));
}

// A delivery lambda that throws: flush() rethrows the exception itself; the record was
// delivered all the same.
void throwing_delivery(const std::string& bootstrap, const std::string& topic) {
    kafkac::Producer p(kafkac::Conf{{"bootstrap.servers", bootstrap}});
    int64_t offset = -1;
    kafkac::Record rec;
    rec.value = "thrower";
    rec.partition = 0;
    p.produce(topic, rec, [&](const kafkac::DeliveryReport& r) {
        offset = r.offset();
        throw Boom("delivery callback threw at offset " + std::to_string(r.offset()));
    });
    bool caught = false;
    try {
        p.flush(20s);
    } catch (const Boom& b) {
        caught = true;
        CHECK(std::string(b.what()) == "delivery callback threw at offset " + std::to_string(offset));
    }
    CHECK(caught);
    CHECK(offset >= 0);
    CHECK(p.outq_len() == 0);
    p.flush(1s);  // not rethrown twice
    std::printf("delivery lambda threw, flush rethrew it\n");
}

// A rebalance lambda that throws on its first assignment: a poll rethrows it, and the
// consumer still hands out every record once (n + the thrower at partition 0).
void throwing_rebalance(const std::string& bootstrap, const std::string& topic,
                        const std::string& group, int n) {
    int calls = 0;
    kafkac::Consumer c(consumer_conf(bootstrap, group),
                       [&](kafkac::Rebalance kind, const std::vector<kafkac::TopicPartition>&) {
                           if (kind == kafkac::Rebalance::assign && calls++ == 0) {
                               throw Boom("rebalance callback threw");
                           }
                           if (kind == kafkac::Rebalance::revoke) {
                               throw Boom("revoke threw");
                           }
                       });
    c.subscribe({topic});
    int caught = 0;
    std::set<std::pair<int32_t, int64_t>> seen;
    int dups = 0;
    auto deadline = Clock::now() + 60s;
    while (static_cast<int>(seen.size()) < n + 1 && Clock::now() < deadline) {
        try {
            std::optional<kafkac::Message> m = c.poll(200ms);
            if (m && m->ok() && !seen.insert({m->partition(), m->offset()}).second) {
                dups++;
            }
        } catch (const Boom& b) {
            caught++;
            CHECK(std::string(b.what()) == "rebalance callback threw");
        }
    }
    CHECK(caught == 1);
    CHECK(dups == 0);
    CHECK(static_cast<int>(seen.size()) == n + 1);
    // close() runs the revoke lambda and rethrows what it threw.
    bool revoke_caught = false;
    try {
        c.close(10s);
    } catch (const Boom& b) {
        revoke_caught = std::string(b.what()) == "revoke threw";
    }
    CHECK(revoke_caught);

    // A consumer destroyed without close() runs the revoke lambda in its destructor,
    // where what it throws is dropped. On the way, an event: the end of a partition
    // (enable.partition.eof) comes as a Message whose error() says so.
    int revokes = 0;
    {
        kafkac::Conf conf = consumer_conf(bootstrap, group + "-dtor");
        conf.set("enable.partition.eof", "true");
        kafkac::Consumer d(conf,
                           [&](kafkac::Rebalance kind, const std::vector<kafkac::TopicPartition>&) {
                               if (kind == kafkac::Rebalance::revoke) {
                                   revokes++;
                                   throw Boom("revoke in a destructor");
                               }
                           });
        d.subscribe({topic});
        std::optional<kafkac::Message> eof;
        auto until = Clock::now() + 30s;
        while (!eof && Clock::now() < until) {
            std::optional<kafkac::Message> m = d.poll(100ms);
            if (m && !m->ok()) {
                eof = std::move(m);
            }
        }
        CHECK(eof.has_value());
        if (eof) {
            CHECK(eof->error() == KC_ERR__PARTITION_EOF);
            CHECK(eof->as_error().code() == KC_ERR__PARTITION_EOF);
            CHECK(eof->as_error().name() == "_PARTITION_EOF");
            CHECK(!eof->error_string().empty());
            CHECK(!eof->is_fatal());
            CHECK(eof->topic() == topic);
            CHECK(eof->partition() >= 0);
            CHECK(eof->key().is_null() && eof->value().is_null() && eof->header_count() == 0);
            CHECK_THROWS(eof->header(0), KC_ERR__INVALID_ARG, e, {});
        }
        CHECK(!d.assignment().empty());
    }
    CHECK(revokes == 1);
    std::printf("rebalance lambda threw, poll rethrew it, %d records once each\n",
                static_cast<int>(seen.size()));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s <bootstrap> <topic> <group> <n>\n", argv[0]);
        return 2;
    }
    std::string bootstrap = argv[1], topic = argv[2], group = argv[3];
    int n = std::atoi(argv[4]);
    try {
        std::map<int, Sent> sent = produce_all(bootstrap, topic, n);
        consume_all(bootstrap, topic, group, sent, n);
        throwing_delivery(bootstrap, topic);
        throwing_rebalance(bootstrap, topic, group + "-thrower", n);
    } catch (const kafkac::Error& e) {
        std::printf("FAILED: uncaught %s: %s\n", std::string(e.name()).c_str(), e.what());
        return 1;
    } catch (const std::exception& e) {
        std::printf("FAILED: uncaught %s\n", e.what());
        return 1;
    }
    return check::finish();
}
