// kafkac.hpp's OAUTHBEARER token refresh callback against a broker's SASL_PLAINTEXT
// listener that takes unsecured JWTs (alg none): a producer whose callback runs inside
// its polls and a consumer whose callback runs on its background thread get their
// tokens from the callback and make a round trip; a callback that throws makes the poll
// it ran in rethrow (the process goes on, and a token set by hand then lets the
// producer deliver); a token the library refuses is thrown as KC_ERR__INVALID_ARG; and
// the configuration and state errors of the calls.
//
// Usage: oauth <bootstrap of the SASL_PLAINTEXT listener> <topic> (one partition,
// empty)
// Prints one line per part done, then the summary.

#include "check.hpp"

#include <kafkac.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::string bootstrap, topic;

struct Boom : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string b64url(const std::string& in) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    for (size_t i = 0; i < in.size(); i += 3) {
        uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16;
        if (i + 1 < in.size()) v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
        if (i + 2 < in.size()) v |= static_cast<unsigned char>(in[i + 2]);
        out += tab[(v >> 18) & 63];
        out += tab[(v >> 12) & 63];
        if (i + 1 < in.size()) out += tab[(v >> 6) & 63];
        if (i + 2 < in.size()) out += tab[v & 63];
    }
    return out;
}

// An unsecured JWT for `principal`, living `life`.
kafkac::OAuthBearerToken token_for(const std::string& principal, std::chrono::seconds life) {
    auto now = std::chrono::system_clock::now();
    long long iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    long long exp = iat + life.count();
    std::string claims = "{\"sub\":\"" + principal + "\",\"iat\":" + std::to_string(iat) +
                         ",\"exp\":" + std::to_string(exp) + "}";
    kafkac::OAuthBearerToken t;
    t.value = b64url("{\"alg\":\"none\"}") + "." + b64url(claims) + ".";
    t.expiry = std::chrono::system_clock::time_point(std::chrono::seconds(exp));
    t.principal = principal;
    t.extensions = {{"traceId", "cpp-refresh"}};
    return t;
}

// What a refresh callback saw.
struct Calls {
    std::mutex mu;
    int n = 0;
    int on_main = 0;
    std::vector<std::string> configs;
    std::thread::id main = std::this_thread::get_id();

    void note(const std::string& config) {
        std::lock_guard<std::mutex> g(mu);
        n++;
        if (std::this_thread::get_id() == main) on_main++;
        configs.push_back(config);
    }
    int count() {
        std::lock_guard<std::mutex> g(mu);
        return n;
    }
};

// The principal named in "principal=<name> ..." (sasl.oauthbearer.config).
std::string principal_of(const std::string& config) {
    auto at = config.find("principal=");
    if (at == std::string::npos) throw std::runtime_error("no principal in '" + config + "'");
    auto from = at + 10;
    return config.substr(from, config.find(' ', from) - from);
}

kafkac::Conf sasl_conf() {
    return kafkac::Conf{{"bootstrap.servers", bootstrap},
                        {"security.protocol", "sasl_plaintext"},
                        {"sasl.mechanism", "OAUTHBEARER"},
                        {"sasl.oauthbearer.config", "principal=alice lifeSeconds=60"},
                        {"reconnect.backoff.max.ms", "500"}};
}

void errors() {
    // The callback and the unsecured JWT exclude each other.
    kafkac::Conf both = sasl_conf();
    both.set("enable.sasl.oauthbearer.unsecure.jwt", "true");
    both.set_oauthbearer_token_refresh_cb(
        [](const std::string&) -> std::optional<kafkac::OAuthBearerToken> { return {}; });
    CHECK(both.oauthbearer_token_refresh_cb() != nullptr);
    CHECK(both.clone().oauthbearer_token_refresh_cb() != nullptr);
    CHECK_THROWS(kafkac::Producer p(both), KC_ERR__INVALID_CONFIG, e,
                 { CHECK(check::contains(e.what(), "enable.sasl.oauthbearer.unsecure.jwt")); });
    CHECK_THROWS(kafkac::Consumer c(both), KC_ERR__INVALID_CONFIG, e,
                 { CHECK(check::contains(e.what(), "enable.sasl.oauthbearer.unsecure.jwt")); });
    // An empty callback removes it.
    both.set_oauthbearer_token_refresh_cb({});
    CHECK(both.oauthbearer_token_refresh_cb() == nullptr);

    // Not OAUTHBEARER: no token to set, no callback to run in the background.
    kafkac::Producer plain(kafkac::Conf{{"bootstrap.servers", bootstrap}});
    CHECK_THROWS(plain.oauthbearer_set_token(token_for("alice", 60s)), KC_ERR__STATE, e,
                 { CHECK(check::contains(e.what(), "OAUTHBEARER")); });
    CHECK_THROWS(plain.oauthbearer_set_token_failure("no"), KC_ERR__STATE, e, {});
    CHECK_THROWS(plain.sasl_background_callbacks_enable(), KC_ERR__STATE, e,
                 { CHECK(std::string(e.what()).size() > 0); });

    // OAUTHBEARER without a callback: a bad token, an empty failure.
    kafkac::Consumer c(sasl_conf());
    CHECK_THROWS(c.sasl_background_callbacks_enable(), KC_ERR__STATE, e,
                 { CHECK(check::contains(e.what(), "refresh callback")); });
    auto expired = token_for("alice", 60s);
    expired.expiry = std::chrono::system_clock::time_point(std::chrono::seconds(1));
    CHECK_THROWS(c.oauthbearer_set_token(expired), KC_ERR__INVALID_ARG, e,
                 { CHECK(check::contains(e.what(), "not in the future")); });
    auto odd = token_for("alice", 60s);
    odd.principal.clear();
    CHECK_THROWS(c.oauthbearer_set_token(odd), KC_ERR__INVALID_ARG, e,
                 { CHECK(check::contains(e.what(), "principal")); });
    CHECK_THROWS(c.oauthbearer_set_token_failure(""), KC_ERR__INVALID_ARG, e,
                 { CHECK(check::contains(e.what(), "empty")); });
    c.oauthbearer_set_token(token_for("alice", 60s));
    c.close(1s);
    std::printf("errors checked\n");
}

// A producer whose callback runs inside its polls sends `n` records; a consumer whose
// callback runs on its background thread reads them back.
void round_trip(int n) {
    Calls pc;
    kafkac::Conf conf = sasl_conf();
    conf.set_oauthbearer_token_refresh_cb([&](const std::string& config) {
        pc.note(config);
        return std::optional<kafkac::OAuthBearerToken>(token_for(principal_of(config), 60s));
    });
    int delivered = 0;
    kafkac::Producer p(conf, [&](const kafkac::DeliveryReport& r) {
        if (r.ok()) {
            delivered++;
        } else {
            std::printf("delivery failed: %s\n", std::string(r.error_string()).c_str());
        }
    });
    std::this_thread::sleep_for(100ms);
    CHECK(pc.count() == 0);  // not before the first poll
    p.poll(0ms);
    CHECK(pc.count() == 1);
    for (int i = 0; i < n; i++) p.produce(topic, "oauth-" + std::to_string(i));
    p.flush(30s);
    CHECK(delivered == n);
    CHECK(pc.count() >= 1 && pc.on_main == pc.count());
    CHECK(!pc.configs.empty() && pc.configs[0] == "principal=alice lifeSeconds=60");
    std::printf("producer: %d delivered, refresh calls on the polling thread: %d\n", delivered,
                pc.on_main);

    Calls cc;
    kafkac::Conf cconf = sasl_conf();
    cconf.set("group.id", topic + "-readers")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    cconf.set_oauthbearer_token_refresh_cb([&](const std::string& config) {
        cc.note(config);
        return std::optional<kafkac::OAuthBearerToken>(token_for(principal_of(config), 60s));
    });
    kafkac::Consumer c(cconf);
    c.sasl_background_callbacks_enable();
    c.subscribe({topic});
    int read = 0;
    auto deadline = Clock::now() + 60s;
    while (read < n && Clock::now() < deadline) {
        auto m = c.poll(500ms);
        if (!m) continue;
        if (m->ok()) {
            CHECK(m->value().str() == "oauth-" + std::to_string(read));
            read++;
        } else {
            std::printf("event: %s\n", std::string(m->error_string()).c_str());
        }
    }
    c.close();
    CHECK(read == n);
    CHECK(cc.count() >= 1);
    CHECK(cc.on_main == 0);
    std::printf("consumer: %d read, refresh calls on the background thread: %d\n", read,
                cc.count() - cc.on_main);
}

// A callback that throws: the poll rethrows it; a token set by hand then lets the
// producer deliver. A token the library refuses: KC_ERR__INVALID_ARG from the poll.
void failures() {
    Calls calls;
    kafkac::Conf conf = sasl_conf();
    conf.set("message.timeout.ms", "60000");
    conf.set_oauthbearer_token_refresh_cb(
        [&](const std::string& config) -> std::optional<kafkac::OAuthBearerToken> {
            calls.note(config);
            throw Boom("identity provider unavailable (c++ test)");
        });
    int delivered = 0;
    kafkac::Producer p(conf, [&](const kafkac::DeliveryReport& r) { delivered += r.ok(); });
    bool thrown = false;
    try {
        p.poll(0ms);
    } catch (const Boom& b) {
        thrown = std::string(b.what()) == "identity provider unavailable (c++ test)";
    }
    CHECK(thrown);
    CHECK(calls.count() == 1);
    p.produce(topic + "-failures", "after-failure");
    // Without a token nothing can be delivered.
    CHECK_THROWS(p.flush(2s), KC_ERR__TIMED_OUT, e, {});
    CHECK(delivered == 0);
    // Set by hand (another way of serving the refresh), the producer goes on.
    p.oauthbearer_set_token(token_for("alice", 60s));
    p.flush(30s);
    CHECK(delivered == 1);
    std::printf("throwing callback: poll rethrew it, then delivered %d\n", delivered);

    kafkac::Conf bad = sasl_conf();
    bad.set("group.id", topic + "-refused");
    bad.set_oauthbearer_token_refresh_cb([](const std::string&) {
        auto t = token_for("alice", 60s);
        t.expiry = std::chrono::system_clock::now() - 1h;
        return std::optional<kafkac::OAuthBearerToken>(t);
    });
    kafkac::Consumer c(bad);
    c.subscribe({topic});
    CHECK_THROWS(c.poll(0ms), KC_ERR__INVALID_ARG, e, {
        CHECK(check::contains(e.what(), "refused"));
        CHECK(check::contains(e.what(), "not in the future"));
    });
    // The consumer goes on (its next poll just waits for a token).
    bool polled = true;
    try {
        c.poll(100ms);
    } catch (const kafkac::Error&) {
        polled = false;
    }
    CHECK(polled);
    c.close(2s);
    std::printf("refused token: poll threw KC_ERR__INVALID_ARG\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s <SASL_PLAINTEXT bootstrap> <topic>\n", argv[0]);
        return 2;
    }
    bootstrap = argv[1];
    topic = argv[2];
    try {
        errors();
        round_trip(20);
        failures();
    } catch (const kafkac::Error& e) {
        std::printf("FAILED: uncaught %s: %s\n", std::string(e.name()).c_str(), e.what());
        return 1;
    } catch (const std::exception& e) {
        std::printf("FAILED: uncaught %s\n", e.what());
        return 1;
    }
    return check::finish();
}
