// A minimal test harness for the C++ tests: CHECK records a failure and goes on,
// CHECK_THROWS expects a kafkac::Error with a code, and finish() prints the summary the
// Rust driver (tests/cpp_binding.rs) reads: "<n> checks, <m> failed".
#ifndef KAFKAC_TESTS_CHECK_HPP
#define KAFKAC_TESTS_CHECK_HPP

#include <kafkac.hpp>

#include <cstdio>
#include <string>
#include <string_view>

namespace check {

inline int checks = 0;
inline int failures = 0;

inline void record(bool ok, const char* what, const char* file, int line) {
    checks++;
    if (!ok) {
        failures++;
        std::printf("FAILED %s:%d: %s\n", file, line, what);
        std::fflush(stdout);
    }
}

inline bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

inline int finish() {
    std::printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}

}  // namespace check

#define CHECK(cond) ::check::record(static_cast<bool>(cond), #cond, __FILE__, __LINE__)

// Runs `stmt`, expecting a kafkac::Error with `code`; binds it to `err` for further checks
// in `then` (a block).
#define CHECK_THROWS(stmt, want, err, then)                                                   \
    do {                                                                                      \
        bool thrown_ = false;                                                                 \
        try {                                                                                 \
            stmt;                                                                             \
        } catch (const kafkac::Error& err) {                                                  \
            thrown_ = true;                                                                   \
            ::check::record(err.code() == (want), #stmt " throws " #want, __FILE__, __LINE__); \
            if (err.code() != (want)) {                                                       \
                std::printf("  got %d %s: %s\n", err.code(), std::string(err.name()).c_str(), \
                            err.what());                                                      \
            }                                                                                 \
            then                                                                              \
        }                                                                                     \
        if (!thrown_) {                                                                       \
            ::check::record(false, #stmt " throws " #want " (nothing thrown)", __FILE__,      \
                            __LINE__);                                                        \
        }                                                                                     \
    } while (0)

#endif  // KAFKAC_TESTS_CHECK_HPP
