// hello: the C++ interface in one page. Sends three greetings to a topic, then reads them
// back in a consumer group and commits.
//
// Usage: hello <bootstrap> <topic> <group>
//
// Build (after `cargo build --release --lib`):
//   g++ -std=c++17 -Iinclude -o hello examples-cpp/hello.cpp
//       target/release/libkafkac.a -lpthread -ldl -lm

#include <kafkac.hpp>

#include <chrono>
#include <iostream>
#include <string>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: " << argv[0] << " <bootstrap> <topic> <group>\n";
        return 2;
    }
    const std::string bootstrap = argv[1], topic = argv[2], group = argv[3];
    try {
        kafkac::Producer producer({{"bootstrap.servers", bootstrap}},
                                  [](const kafkac::DeliveryReport& r) {
                                      if (r.ok()) {
                                          std::cout << "delivered to partition " << r.partition()
                                                    << " at offset " << r.offset() << "\n";
                                      } else {
                                          std::cout << "failed: " << r.error_string() << "\n";
                                      }
                                  });
        for (const char* who : {"world", "Kafka", "C++"}) {
            producer.produce(topic, std::string("hello, ") + who, who);  // value, key
        }
        producer.flush(10s);

        kafkac::Consumer consumer({{"bootstrap.servers", bootstrap},
                                   {"group.id", group},
                                   {"auto.offset.reset", "earliest"}});
        consumer.subscribe({topic});
        int got = 0;
        auto deadline = std::chrono::steady_clock::now() + 30s;
        while (got < 3 && std::chrono::steady_clock::now() < deadline) {
            std::optional<kafkac::Message> m = consumer.poll(500ms);
            if (!m) continue;
            if (!m->ok()) {
                std::cerr << "event: " << m->error_string() << "\n";
                continue;
            }
            std::cout << "consumed " << m->key().str() << ": " << m->value().str() << "\n";
            got++;
        }
        consumer.commit();
        consumer.close();
        return got == 3 ? 0 : 1;
    } catch (const kafkac::Error& e) {
        std::cerr << "error: " << e.name() << ": " << e.what() << "\n";
        return 1;
    }
}
