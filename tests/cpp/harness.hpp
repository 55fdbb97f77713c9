// A tiny test runner for the C++ tests: no dependencies, one process, tests run in order.
//
// A test is a `void()` in the table given to harness::main(), which prints one line per test
// ("ok   name (0.12 s)" or "FAIL name") with every failed check under it, then a last line
// exactly "N passed, M failed", and returns 0 only when nothing failed. `./test_hpp NAME...`
// runs only the named tests. An exception escaping a test fails it, with its what().
//
//   CHECK(cond)                   records a failure and goes on
//   CHECK_MSG(cond, message)      same, with an explanation (anything streamable, joined by <<)
//   REQUIRE(cond)                 records a failure and ends the test
//   CHECK_THROWS(Status, expr)    expr must throw fluximage::Error with that status; yields it
#ifndef FLX_CPP_TEST_HARNESS_HPP
#define FLX_CPP_TEST_HARNESS_HPP

#include <fluximage.hpp>

#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace harness {

struct Test {
    const char *name;
    void (*fn)();
};

// Thrown by REQUIRE to end the running test; never escapes main().
struct Stop {};

inline int &failures() {
    static int n = 0;
    return n;
}

inline void fail(const char *file, int line, const std::string &what) {
    failures()++;
    std::cout << "    " << file << ":" << line << ": " << what << "\n";
}

inline std::string describe(const fluximage::Error &e) {
    std::ostringstream s;
    s << "fluximage::Error status " << static_cast<int>(e.status()) << " ("
      << fluximage::to_string(e.status()) << "), HTTP " << e.http_status() << ": " << e.what();
    return s.str();
}

inline int main(const std::vector<Test> &tests, int argc, char **argv) {
    int passed = 0, failed = 0;
    for (const Test &t : tests) {
        if (argc > 1) {
            bool wanted = false;
            for (int i = 1; i < argc; i++) wanted = wanted || std::strcmp(argv[i], t.name) == 0;
            if (!wanted) continue;
        }
        const int before = failures();
        const auto start = std::chrono::steady_clock::now();
        std::ostringstream log;
        std::streambuf *out = std::cout.rdbuf(log.rdbuf());
        try {
            t.fn();
        } catch (const Stop &) {
        } catch (const fluximage::Error &e) {
            fail(t.name, 0, "unexpected " + describe(e));
        } catch (const std::exception &e) {
            fail(t.name, 0, std::string("unexpected exception: ") + e.what());
        } catch (...) {
            fail(t.name, 0, "unexpected exception of unknown type");
        }
        std::cout.rdbuf(out);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (failures() == before) {
            passed++;
            std::cout << "ok   " << t.name << " (" << secs << " s)\n";
        } else {
            failed++;
            std::cout << "FAIL " << t.name << "\n" << log.str();
        }
        std::cout.flush();
    }
    std::cout << passed << " passed, " << failed << " failed\n";
    return failed == 0 && passed > 0 ? 0 : 1;
}

} // namespace harness

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) harness::fail(__FILE__, __LINE__, "check failed: " #cond);      \
    } while (0)

#define CHECK_MSG(cond, msg)                                                         \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::ostringstream m_;                                                   \
            m_ << #cond << ": " << msg;                                              \
            harness::fail(__FILE__, __LINE__, m_.str());                             \
        }                                                                            \
    } while (0)

#define REQUIRE(cond)                                                                \
    do {                                                                             \
        if (!(cond)) {                                                               \
            harness::fail(__FILE__, __LINE__, "requirement failed: " #cond);         \
            throw harness::Stop{};                                                   \
        }                                                                            \
    } while (0)

// Evaluates to std::optional<fluximage::Error>: the error when expr threw one with `want`.
#define CHECK_THROWS(want, expr)                                                             \
    ([&]() -> std::optional<fluximage::Error> {                                              \
        try {                                                                                \
            (void)(expr);                                                                    \
        } catch (const fluximage::Error &e_) {                                               \
            if (e_.status() == (want)) return e_;                                            \
            harness::fail(__FILE__, __LINE__,                                                \
                          std::string(#expr " threw ") + harness::describe(e_) + ", want " + \
                              std::string(fluximage::to_string(want)));                     \
            return std::nullopt;                                                             \
        }                                                                                    \
        harness::fail(__FILE__, __LINE__,                                                    \
                      std::string(#expr " did not throw, want ") +                           \
                          std::string(fluximage::to_string(want)));                          \
        return std::nullopt;                                                                 \
    }())

#endif
