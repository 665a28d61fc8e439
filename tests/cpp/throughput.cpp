// What the C++ interface costs over the C API: sends n 100-byte records to partition 0
// of a topic three ways, twice over (the first round includes warming up), in one
// process: through kc_producer_send_blocking with a C delivery callback, through
// kafkac::Producer with the producer's lambda, and with a lambda per message. Each run
// ends with a flush and checks that every report came back delivered.
//
// Usage: throughput <bootstrap> <topic> <n>
// Prints "<mode> <n> records <seconds> s <records per second>/s" per mode and round,
// then the harness summary.

#include "check.hpp"

#include <kafkac.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

const std::string payload(100, 'x');

void report(const char* mode, int n, Clock::time_point start) {
    double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("%s %d records %.3f s %.0f/s\n", mode, n, s, n / s);
}

struct Counts {
    int ok = 0;
    int failed = 0;
};

extern "C" void c_report(kc_producer_t*, const kc_delivery_report_t* r, void* opaque) {
    auto* c = static_cast<Counts*>(opaque);
    (r->err == KC_OK ? c->ok : c->failed)++;
}

// The C API with a blocking send (waits for room instead of failing when full).
void c_api(const std::string& bootstrap, const std::string& topic, int n) {
    Counts counts;
    kc_conf_t* conf = kc_conf_new();
    CHECK(kc_conf_set(conf, "bootstrap.servers", bootstrap.c_str()) == KC_OK);
    CHECK(kc_conf_set(conf, "linger.ms", "5") == KC_OK);
    CHECK(kc_conf_set_dr_msg_cb(conf, c_report) == KC_OK);
    CHECK(kc_conf_set_opaque(conf, &counts) == KC_OK);
    kc_producer_t* p = nullptr;
    CHECK(kc_producer_new(conf, &p) == KC_OK);
    kc_conf_free(conf);
    auto start = Clock::now();
    for (int i = 0; i < n; i++) {
        kc_record_t rec{nullptr, 0, reinterpret_cast<const uint8_t*>(payload.data()),
                        payload.size(), nullptr, 0, 0};
        if (kc_producer_send_blocking(p, topic.c_str(), 0, &rec, nullptr, 10000) != KC_OK) {
            counts.failed++;
        }
        if (i % 1000 == 0) {
            kc_producer_poll(p, 0);
        }
    }
    CHECK(kc_producer_flush(p, 60000) == KC_OK);
    report("c-api", n, start);
    kc_producer_free(p);
    CHECK(counts.ok == n && counts.failed == 0);
}

void cpp(const std::string& bootstrap, const std::string& topic, int n, bool per_message) {
    Counts counts;
    kafkac::Producer p(kafkac::Conf{{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}},
                       [&](const kafkac::DeliveryReport& r) { (r.ok() ? counts.ok : counts.failed)++; });
    kafkac::Record rec;
    rec.value = payload;
    rec.partition = 0;
    auto start = Clock::now();
    for (int i = 0; i < n; i++) {
        if (per_message) {
            p.produce(topic, rec, [&counts](const kafkac::DeliveryReport& r) {
                (r.ok() ? counts.ok : counts.failed)++;
            }, 10s);
        } else {
            p.produce(topic, rec, 10s);
        }
        if (i % 1000 == 0) {
            p.poll();
        }
    }
    p.flush(60s);
    report(per_message ? "cpp-lambda-per-message" : "cpp", n, start);
    CHECK(counts.ok == n && counts.failed == 0);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s <bootstrap> <topic> <n>\n", argv[0]);
        return 2;
    }
    int n = std::atoi(argv[3]);
    try {
        for (int round = 0; round < 2; round++) {
            c_api(argv[1], argv[2], n);
            cpp(argv[1], argv[2], n, false);
            cpp(argv[1], argv[2], n, true);
        }
    } catch (const std::exception& e) {
        std::printf("FAILED: uncaught %s\n", e.what());
        return 1;
    }
    return check::finish();
}
