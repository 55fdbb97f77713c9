// Tests of include/fluximage.hpp against the emulator: every class of the wrapper, the
// exception for each failure a user meets, and ownership (run under ASan+UBSan and valgrind).
// Run through tests/cpp/run-tests.sh (make cpp-test), which starts the emulator and exports
// the FLX_TEST_* variables that tests/c/support.c reads.
#include "harness.hpp"

#include <fluximage.hpp>

extern "C" {
#include "../c/support.h"
}

#include <algorithm>
#include <atomic>
#include <iterator>
#if __cplusplus >= 202002L
#include <ranges>
#endif
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace fs = std::filesystem;
using fluximage::Status;

namespace {

// Move-only client, shareable results: checked at compile time.
static_assert(!std::is_copy_constructible_v<fluximage::Client>);
static_assert(std::is_nothrow_move_constructible_v<fluximage::Client>);
static_assert(std::is_copy_constructible_v<fluximage::Batch>);
static_assert(std::is_base_of_v<std::runtime_error, fluximage::Error>);
static_assert(std::is_same_v<std::iterator_traits<fluximage::Batch::iterator>::iterator_category,
                             std::input_iterator_tag>);
#if __cplusplus >= 202002L
static_assert(std::random_access_iterator<fluximage::Batch::iterator>);
static_assert(std::ranges::random_access_range<const fluximage::Batch>);
static_assert(std::ranges::sized_range<const fluximage::Batch>);
#endif

fluximage::Config config() {
    fluximage::Config c;
    c.base_url = test_base_url();
    return c;
}

fluximage::Client client_for(const char *key) { return fluximage::Client(key, config()); }
fluximage::Client agency() { return client_for(test_key()); }

fs::path scratch(const std::string &name) { return fs::path(test_dir()) / name; }

// A fresh, empty folder in the scratch area.
fs::path fresh(const std::string &name) {
    fs::path p = scratch(name);
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

fs::path png(const std::string &name, uint32_t w = 48, uint32_t h = 32, uint32_t seed = 1) {
    fs::path p = scratch(name);
    if (png_write_file(p.c_str(), w, h, 0, seed) < 0) throw std::runtime_error("cannot write " + p.string());
    return p;
}

std::vector<std::byte> png_bytes(uint32_t w, uint32_t h, uint32_t seed) {
    size_t len = 0;
    uint8_t *data = png_make(w, h, 0, seed, &len);
    if (!data) throw std::runtime_error("png_make failed");
    const auto *b = reinterpret_cast<const std::byte *>(data);
    std::vector<std::byte> v(b, b + len);
    std::free(data);
    return v;
}

std::string slurp(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string sniff(const std::vector<std::byte> &v) {
    const char *f = sniff_format(reinterpret_cast<const uint8_t *>(v.data()), v.size());
    return f ? f : "";
}

bool ends_with(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ---- tests ------------------------------------------------------------------------------

void version_and_statuses() {
    CHECK(fluximage::version() == FLX_VERSION_STRING);
    CHECK(fluximage::to_string(Status::RateLimited).find("rate") != std::string_view::npos);
    CHECK(fluximage::to_string(Status::Exists) == "file exists");
    CHECK(static_cast<int>(Status::Exists) == 18);
    fluximage::Error e(Status::Timeout, "slow", 0, std::chrono::milliseconds(5));
    CHECK(e.status() == Status::Timeout && std::string(e.what()) == "slow");
    CHECK(e.retry_after() == std::chrono::milliseconds(5));
}

void client_keys_and_config() {
    // A malformed key is refused at construction, naming the problem, and never echoed.
    auto e = CHECK_THROWS(Status::InvalidArgument, fluximage::Client("flx_live_not-a-key"));
    CHECK(e && std::string(e->what()).find("not-a-key") == std::string::npos);
    CHECK(e && e->http_status() == 0);
    CHECK_THROWS(Status::InvalidArgument, fluximage::Client(std::string("flx_live_\0x", 11)));
    const char *no_key = nullptr;
    auto null_key = CHECK_THROWS(Status::InvalidArgument, fluximage::Client(no_key));
    CHECK(null_key && std::string(null_key->what()).find("from_env") != std::string::npos);
    CHECK(fluximage::Client(std::string(test_key()), config()).usage().plan == "agency");

    // from_env: the key and base URL come from the environment.
    ::unsetenv("FLUXIMAGE_API_KEY");
    CHECK_THROWS(Status::InvalidArgument, fluximage::Client::from_env());
    ::setenv("FLUXIMAGE_API_KEY", test_key(), 1);
    ::setenv("FLUXIMAGE_BASE_URL", test_base_url(), 1);
    {
        fluximage::Client c = fluximage::Client::from_env();
        CHECK(c.usage().plan == "agency");
    }
    ::unsetenv("FLUXIMAGE_API_KEY");
    ::unsetenv("FLUXIMAGE_BASE_URL");

    // Every Config field reaches the library; a bad one throws before any request.
    fluximage::Config cfg = config();
    cfg.connect_timeout = std::chrono::seconds(2);
    cfg.read_timeout = std::chrono::seconds(30);
    cfg.total_timeout = std::chrono::seconds(60);
    cfg.retries = 1;
    cfg.retry_after_upload = true;
    cfg.concurrency = 3;
    cfg.user_agent_suffix = "cpp-test/1.0";
    cfg.proxy = "http://127.0.0.1:9"; // accepted; the client below goes direct
    {
        fluximage::Client c(test_key(), cfg);
        CHECK(c.native_handle() != nullptr);
    }
    cfg.proxy.clear();
    fluximage::Config bad_proxy = config();
    bad_proxy.proxy = "not a url";
    CHECK_THROWS(Status::InvalidArgument, fluximage::Client(test_key(), bad_proxy));
    fluximage::Client ok(test_key(), cfg);
    CHECK(ok.usage().can_compress == true);

    fluximage::Config remote = config();
    remote.base_url = "http://example.com";
    auto r = CHECK_THROWS(Status::InvalidArgument, fluximage::Client(test_key(), remote));
    CHECK(r && std::string(r->what()).find("http") != std::string::npos);
    fluximage::Config busy = config();
    busy.concurrency = 17;
    CHECK_THROWS(Status::InvalidArgument, fluximage::Client(test_key(), busy));
    fluximage::Config neg = config();
    neg.read_timeout = std::chrono::milliseconds(-1);
    CHECK_THROWS(Status::InvalidArgument, fluximage::Client(test_key(), neg));
    fluximage::Config ca = config();
    ca.ca_file = scratch("no-such-ca.pem");
    CHECK_THROWS(Status::Io, fluximage::Client(test_key(), ca));

    // A moved-from client refuses calls instead of crashing.
    fluximage::Client a = agency();
    fluximage::Client b = std::move(a);
    CHECK(b.usage().plan == "agency");
    CHECK_THROWS(Status::InvalidArgument, a.usage()); // NOLINT(bugprone-use-after-move)
}

void compress_files_and_read_results() {
    fluximage::Client c = agency();
    const fs::path a = png("read-a.png", 64, 40, 1);
    const fs::path b = png("read-b.png", 30, 20, 2);
    const fs::path text = scratch("read-not-an-image.png");
    std::ofstream(text) << "this is text, not a picture";
    const fs::path missing = scratch("read-missing.png");

    fluximage::Batch batch = c.compress({a, missing, b, text});
    REQUIRE(batch.size() == 4);
    CHECK(!batch.empty());
    CHECK(batch.failed() == 2);
    CHECK(!batch.json().empty());

    fluximage::Result r = batch[0];
    CHECK(r.ok() && r.status() == Status::Ok && r.error().empty());
    CHECK(r.index() == 0);
    CHECK(r.input() == a.string());
    CHECK(r.name() == "read-a.webp");
    CHECK(r.original_name() == "read-a.png");
    CHECK(r.format() == "webp");
    CHECK(r.url().rfind("http://127.0.0.1:", 0) == 0);
    CHECK(ends_with(r.expires_at(), "Z"));
    CHECK(r.width() == 64u && r.height() == 40u);
    CHECK(r.size() && *r.size() > 0);
    CHECK(r.original_size() == static_cast<std::uint64_t>(fs::file_size(a)));
    CHECK(r.expires_unix() && *r.expires_unix() > 1700000000u);
    CHECK(r.alt_text().empty() && r.seo_name().empty());

    fluximage::Result gone = batch.at(1);
    CHECK(!gone.ok() && gone.status() == Status::Io);
    CHECK_MSG(gone.error().find("read-missing.png") != std::string::npos, gone.error());
    CHECK(gone.http_status() == 0);
    CHECK(!gone.size() && gone.url().empty());
    CHECK(gone.input() == missing.string());

    CHECK(batch[2].ok() && batch[2].width() == 30u);
    CHECK_MSG(batch[3].status() == Status::Server, fluximage::to_string(batch[3].status()));
    CHECK(!batch[3].error().empty());

    // Iteration: range-for, algorithms, random access.
    std::size_t seen = 0;
    for (const fluximage::Result &item : batch) CHECK(item.index() == seen++);
    CHECK(seen == 4);
    CHECK(std::count_if(batch.begin(), batch.end(), [](const fluximage::Result &x) { return x.ok(); }) == 2);
    CHECK(batch.end() - batch.begin() == 4);

    // Every image failed its local check: the first failure is thrown, the batch says the rest,
    // and nothing was uploaded.
    const long before = stats_compress_requests();
    auto none = CHECK_THROWS(Status::Io, c.compress({missing, scratch("read-missing-2.png")}));
    REQUIRE(none && none->batch());
    CHECK(none->batch()->size() == 2 && none->batch()->failed() == 2);
    CHECK_MSG(none->batch()->at(1).error().find("read-missing-2.png") != std::string::npos,
              none->batch()->at(1).error());
    CHECK(stats_compress_requests() == before);
    // An error that is not about images carries no batch.
    CHECK(!fluximage::Error(Status::Timeout, "slow").batch());
    CHECK(batch.begin()[2].name() == "read-b.webp");
}

void at_past_the_end_is_out_of_range() {
    fluximage::Client c = agency();
    fluximage::Batch batch = c.compress({png("range.png")});
    bool thrown = false;
    try {
        (void)batch.at(1);
    } catch (const std::out_of_range &) {
        thrown = true;
    }
    CHECK(thrown);
}

void compress_options_reach_the_server() {
    fluximage::Client c = agency();
    const fs::path wm = png("opt-wm.png", 16, 16, 9);
    fluximage::CompressOptions o;
    o.format = fluximage::Format::Avif;
    o.quality = 60;
    o.max_width = 40;
    o.max_height = 40;
    o.alt_text = true;
    o.seo_rename = true;
    o.session_id = "cpp-session-1";
    o.watermark = fluximage::Watermark{wm, 25, 50, fluximage::Position::TopLeft};
    fluximage::Batch batch = c.compress({png("opt-in.png", 80, 60, 3)}, o);
    REQUIRE(batch.size() == 1);
    fluximage::Result r = batch[0];
    REQUIRE(r.ok());
    CHECK(r.format() == "avif");
    CHECK(r.width() == 40u && r.height() == 30u);
    CHECK(!r.alt_text().empty());
    CHECK(!r.seo_name().empty());
    CHECK(batch.session_id() == "cpp-session-1");
    CHECK(sniff(r.fetch()) == "avif");

    for (auto [f, want] : {std::pair{fluximage::Format::Jpg, "jpg"}, std::pair{fluximage::Format::Png, "png"},
                           std::pair{fluximage::Format::Webp, "webp"}}) {
        fluximage::CompressOptions fo;
        fo.format = f;
        fluximage::Batch fb = c.compress({png("opt-fmt.png", 20, 20, 4)}, fo);
        CHECK_MSG(fb[0].ok() && fb[0].format() == want && sniff(fb[0].fetch()) == want, want);
    }
}

void buffers_and_mixed_inputs() {
    fluximage::Client c = agency();
    const std::vector<std::byte> img = png_bytes(24, 24, 5);
    fluximage::Batch one = c.compress_buffer(img, "memory.png");
    REQUIRE(one.size() == 1);
    CHECK(one[0].ok() && one[0].name() == "memory.webp" && one[0].input() == "memory.png");
    CHECK(one[0].original_size() == img.size());

    fluximage::Batch raw = c.compress_buffer(img.data(), img.size(), "raw.png");
    CHECK(raw[0].ok() && raw[0].name() == "raw.webp");

    const fs::path file = png("mixed-file.png", 20, 10, 6);
    fluximage::Batch mixed =
        c.compress_inputs({fluximage::Input::file(file), fluximage::Input::buffer(img, "mixed-buf.png")});
    REQUIRE(mixed.size() == 2);
    CHECK(mixed[0].ok() && mixed[0].name() == "mixed-file.webp");
    CHECK(mixed[1].ok() && mixed[1].name() == "mixed-buf.webp");

    // Bytes that are no image: the only image failed, so the call throws, with its batch.
    const std::string junk = "not an image at all";
    auto bad = CHECK_THROWS(Status::Server, c.compress_buffer(junk.data(), junk.size(), "junk.png"));
    REQUIRE(bad && bad->batch());
    CHECK(bad->batch()->size() == 1 && (*bad->batch())[0].status() == Status::Server);
    CHECK(!bad->batch()->at(0).error().empty());
    CHECK(bad->batch()->at(0).input() == "junk.png");
    // With one good image beside it, the batch is returned and says which failed.
    fluximage::Batch half = c.compress_inputs(
        {fluximage::Input::buffer(img, "good.png"),
         fluximage::Input::buffer(std::vector<std::byte>(junk.size(), std::byte{'x'}), "junk.png")});
    CHECK(half.size() == 2 && half[0].ok() && !half[1].ok() && half.failed() == 1);
    // An empty buffer is refused before anything is sent.
    const long before = stats_compress_requests();
    CHECK_THROWS(Status::InvalidArgument, c.compress_buffer(junk.data(), 0, "empty.png"));
    CHECK_THROWS(Status::InvalidArgument, c.compress_buffer(img, std::string_view("nul\0.png", 8)));
    CHECK(stats_compress_requests() == before);
}

void fetch_returns_the_result_bytes() {
    fluximage::Client c = agency();
    fluximage::Batch batch = c.compress({png("fetch.png", 32, 32, 7)});
    REQUIRE(batch[0].ok());
    const std::vector<std::byte> bytes = batch[0].fetch();
    CHECK(bytes.size() == batch[0].size());
    CHECK(sniff(bytes) == "webp");
}

void save_never_replaces_a_file_unless_asked() {
    fluximage::Client c = agency();
    const fs::path out = fresh("save-out");
    fluximage::Batch batch = c.compress({png("keep.png", 20, 20, 8)});
    REQUIRE(batch[0].ok());
    const fluximage::Result r = batch[0];

    const fs::path first = r.save(out);
    CHECK_MSG(first == out / "keep.webp", first);
    CHECK(fs::file_size(first) == *r.size());

    // Policy error (the default): the file there stays as it was.
    std::ofstream(first, std::ios::trunc) << "mine";
    auto e = CHECK_THROWS(Status::Exists, r.save(out));
    CHECK(e && std::string(e->what()).find("keep.webp") != std::string::npos);
    CHECK(slurp(first) == "mine");

    const fs::path second = r.save(out, fluximage::ExistsPolicy::Rename);
    CHECK_MSG(second == out / "keep-2.webp", second);
    CHECK(slurp(first) == "mine");
    const fs::path third = r.save(out / "keep.webp", fluximage::ExistsPolicy::Rename);
    CHECK_MSG(third == out / "keep-3.webp", third);

    const fs::path over = r.save(first, fluximage::ExistsPolicy::Overwrite);
    CHECK(over == first && fs::file_size(first) == *r.size());

    // Missing folders are made; a trailing slash means "this folder".
    const fs::path deep = r.save(out.string() + "/a/b/");
    CHECK_MSG(deep == out / "a" / "b" / "keep.webp", deep);
    CHECK(fs::exists(deep));

    // The item's own input is never replaced, whatever the policy.
    const fs::path input = r.input();
    const auto size = fs::file_size(input);
    CHECK_THROWS(Status::InvalidArgument, r.save(input, fluximage::ExistsPolicy::Overwrite));
    CHECK(fs::file_size(input) == size);

    // A failed item throws its own error.
    fluximage::Batch failed = c.compress({scratch("save-missing.png"), png("save-ok.png")});
    CHECK_THROWS(Status::Io, failed[0].save(out));
}

// CompressOptions::output_dir: results saved during the call; a taken name costs nothing.
void compress_into_a_folder_saves_during_the_call() {
    fluximage::Client c = agency();
    const fs::path out = fresh("into-out");
    std::ofstream(out / "taken.webp") << "mine";
    fluximage::CompressOptions o;
    o.output_dir = out;
    fluximage::Batch batch = c.compress({png("fresh.png", 24, 24, 11), png("taken.png", 24, 24, 12)}, o);
    REQUIRE(batch.size() == 2);
    CHECK(batch[0].ok());
    CHECK_MSG(batch[0].path() == out / "fresh.webp", batch[0].path());
    CHECK(fs::file_size(out / "fresh.webp") == *batch[0].size());
    CHECK(batch[1].status() == Status::Exists);
    CHECK(batch[1].path().empty());
    CHECK(batch[1].error().find("not sent") != std::string::npos);
    CHECK(slurp(out / "taken.webp") == "mine");

    // The result that was saved can be saved again elsewhere; the refused one has none.
    CHECK(fs::exists(batch[0].save(out / "copies/")));
    CHECK_THROWS(Status::Exists, batch[1].save(out / "copies/"));
}

void compress_file_writes_one_output() {
    fluximage::Client c = agency();
    const fs::path in = png("single.png", 40, 40, 10);
    const fs::path out = scratch("single-out/single.jpg");
    fs::create_directories(out.parent_path());
    fluximage::CompressOptions o;
    o.format = fluximage::Format::Jpg;
    c.compress_file(in, out, o);
    CHECK(fs::file_size(out) > 0);
    const auto size = fs::file_size(in);
    CHECK_THROWS(Status::InvalidArgument, c.compress_file(in, in));
    CHECK(fs::file_size(in) == size);
}

void usage_reports_the_plan() {
    fluximage::Client c = agency();
    fluximage::Usage u = c.usage();
    CHECK(u.plan == "agency");
    CHECK(u.compressions_used && *u.compressions_used >= 0);
    CHECK(u.compressions_limit == 99999);
    CHECK(u.ai_credits_monthly == 10000);
    CHECK(u.ai_credits_remaining && u.ai_topup_credits && u.ai_credits_used);
    CHECK(u.can_compress == true && u.can_use_ai == true);
    CHECK(u.json.find("\"plan\"") != std::string::npos);

    fluximage::Client free = client_for(env_required("FLX_TEST_FREE_KEY"));
    fluximage::Usage fu = free.usage();
    CHECK(fu.plan == "free" && fu.can_use_ai == false);
}

// The statuses a user meets, each as fluximage::Error with the server's HTTP status.
void errors_carry_status_http_and_retry_after() {
    const fs::path p = png("err.png", 16, 16, 11);

    fluximage::Client unknown = client_for("flx_live_0000000000000000000000000000000000000000");
    auto e401 = CHECK_THROWS(Status::Unauthorized, unknown.compress({p}));
    CHECK(e401 && e401->http_status() == 401 && !e401->retry_after());
    CHECK(e401 && std::string(e401->what()).find("0000000000000000000000") == std::string::npos);
    fluximage::Client rolled = client_for(env_required("FLX_TEST_ROLLED_KEY"));
    auto r401 = CHECK_THROWS(Status::Unauthorized, rolled.usage());
    CHECK(r401 && r401->http_status() == 401);

    fluximage::Client spent = client_for(env_required("FLX_TEST_SPENT_KEY"));
    auto e402 = CHECK_THROWS(Status::QuotaExceeded, spent.compress({p}));
    CHECK(e402 && e402->http_status() == 402);

    fluximage::Client free = client_for(env_required("FLX_TEST_FREE_KEY"));
    fluximage::CompressOptions ai;
    ai.alt_text = true;
    auto e403 = CHECK_THROWS(Status::Forbidden, free.compress({p}, ai));
    CHECK(e403 && e403->http_status() == 403);

    fluximage::Config no_retry = config();
    no_retry.retries = 0;
    fluximage::Client c(test_key(), no_retry);
    REQUIRE(control_request("POST", "/__control/fault",
                            "{\"mode\":\"429\",\"path\":\"compress\",\"count\":1,\"retry_after\":3}", nullptr) == 200);
    auto e429 = CHECK_THROWS(Status::RateLimited, c.compress({p}));
    CHECK(e429 && e429->http_status() == 429);
    CHECK(e429 && e429->retry_after() == std::chrono::milliseconds(3000));

    // Bad arguments: nothing is sent.
    const long before = stats_compress_requests();
    fluximage::CompressOptions q;
    q.quality = 500;
    auto bad = CHECK_THROWS(Status::InvalidArgument, c.compress({p}, q));
    CHECK(bad && bad->http_status() == 0 && std::string(bad->what()).find("500") != std::string::npos);
    fluximage::CompressOptions nul;
    nul.session_id = std::string("a\0b", 3);
    CHECK_THROWS(Status::InvalidArgument, c.compress({p}, nul));
    CHECK_THROWS(Status::InvalidArgument, c.compress(std::vector<fs::path>{}));
    CHECK(stats_compress_requests() == before);

    // After all that, the same client works: no state is left behind.
    CHECK(c.compress({p})[0].ok());
}

void progress_reports_and_stops() {
    fluximage::Client c = agency();
    const fs::path p = png("progress.png", 64, 64, 12);
    const std::thread::id caller = std::this_thread::get_id();

    int calls = 0;
    bool on_caller = true;
    std::uint64_t last_done = 0, last_total = 0;
    fluximage::CompressOptions o;
    o.progress = [&](std::uint64_t done, std::uint64_t total) {
        calls++;
        on_caller = on_caller && std::this_thread::get_id() == caller;
        last_done = done;
        last_total = total;
        return true;
    };
    fluximage::Batch batch = c.compress({p}, o);
    CHECK(batch[0].ok());
    CHECK(calls >= 1 && on_caller);
    CHECK(last_total > 0 && last_done == last_total);

    // Downloads report too.
    int fetch_calls = 0;
    fluximage::CallOptions co;
    co.progress = [&](std::uint64_t, std::uint64_t) { return ++fetch_calls > 0; };
    CHECK(batch[0].fetch(co).size() == batch[0].size());
    CHECK(fetch_calls >= 1);

    // Returning false stops the call with Cancelled, even while the server stalls.
    REQUIRE(control_fault("stall", "compress", 1, 3000) == 0);
    fluximage::CompressOptions stop;
    stop.progress = [](std::uint64_t done, std::uint64_t total) { return !(total > 0 && done == total); };
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS(Status::Cancelled, c.compress({p}, stop));
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK_MSG(took < 2.0, "cancel took " << took << " s");

    // An exception from the progress function stops the call and comes out unchanged.
    struct Mine : std::runtime_error {
        Mine() : std::runtime_error("from the callback") {}
    };
    fluximage::CompressOptions thrower;
    thrower.progress = [](std::uint64_t, std::uint64_t) -> bool { throw Mine(); };
    bool caught = false;
    try {
        (void)c.compress({p}, thrower);
    } catch (const Mine &) {
        caught = true;
    }
    CHECK(caught);
    fluximage::CallOptions tu;
    tu.progress = thrower.progress;
    caught = false;
    try {
        (void)batch[0].save(fresh("progress-throw"), fluximage::ExistsPolicy::Error, tu);
    } catch (const Mine &) {
        caught = true;
    }
    CHECK(caught);
    CHECK(fs::is_empty(scratch("progress-throw")));
}

void cancel_from_another_thread() {
    fluximage::Client c = agency();
    const fs::path p = png("cancel.png", 32, 32, 13);
    fluximage::Cancel cancel;
    fluximage::CompressOptions o;
    o.cancel = cancel; // a copy: the same flag
    REQUIRE(control_fault("stall", "compress", 1, 5000) == 0);
    std::thread other([cancel] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        cancel.trigger();
    });
    const auto start = std::chrono::steady_clock::now();
    auto e = CHECK_THROWS(Status::Cancelled, c.compress({p}, o));
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    other.join();
    CHECK(e && e->http_status() == 0);
    CHECK_MSG(took < 2.0, "cancel took " << took << " s");

    // A triggered flag stays triggered; usage and save watch it too.
    fluximage::CallOptions co;
    co.cancel = cancel;
    CHECK_THROWS(Status::Cancelled, c.usage(co));
    fluximage::Batch batch = c.compress({p});
    CHECK_THROWS(Status::Cancelled, batch[0].save(fresh("cancel-out"), fluximage::ExistsPolicy::Error, co));
    CHECK(fs::is_empty(scratch("cancel-out")));
    // A new flag for the next call.
    co.cancel = fluximage::Cancel();
    CHECK(c.usage(co).plan == "agency");
}

void results_outlive_their_client() {
    std::optional<fluximage::Batch> kept;
    std::optional<fluximage::Result> item;
    {
        fluximage::Client c = agency();
        kept = c.compress({png("outlive.png", 20, 20, 14)});
        item = (*kept)[0];
    }
    kept.reset();
    REQUIRE(item && item->ok());
    const fs::path saved = item->save(fresh("outlive-out"));
    CHECK(fs::file_size(saved) == *item->size());

    // A moved-from batch is empty, not dangling.
    fluximage::Client c = agency();
    fluximage::Batch a = c.compress({png("moved.png")});
    fluximage::Batch b = std::move(a);
    CHECK(b.size() == 1);
    CHECK(a.size() == 0 && a.begin() == a.end()); // NOLINT(bugprone-use-after-move)
}

void one_client_many_threads() {
    fluximage::Client c = agency();
    std::vector<fs::path> inputs;
    for (uint32_t i = 0; i < 4; i++) inputs.push_back(png("thread-" + std::to_string(i) + ".png", 24, 24, 20 + i));
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; i++)
        threads.emplace_back([&, i] {
            try {
                fluximage::Batch b = c.compress({inputs[static_cast<std::size_t>(i)]});
                if (b[0].ok() && !b[0].fetch().empty()) ok++;
            } catch (...) {
            }
        });
    for (auto &t : threads) t.join();
    CHECK_MSG(ok == 4, ok << " of 4 threads succeeded");
}

// A source tree: two images (one in a subfolder) and a text file.
fs::path sync_source(const std::string &name) {
    const fs::path src = fresh(name);
    fs::create_directories(src / "sub");
    if (png_write_file((src / "a.png").c_str(), 40, 30, 0, 31) < 0 ||
        png_write_file((src / "sub" / "b.png").c_str(), 30, 20, 0, 32) < 0)
        throw std::runtime_error("cannot write the sync source");
    std::ofstream(src / "notes.txt") << "not an image";
    return src;
}

void sync_mirrors_a_folder_and_a_rerun_sends_nothing() {
    fluximage::Client c = agency();
    const fs::path src = sync_source("sync-src");
    const fs::path out = scratch("sync-out");
    fs::remove_all(out);

    int plans = 0;
    std::vector<fluximage::SyncFile> seen;
    fluximage::SyncCallbacks cb;
    cb.on_plan = [&](const fluximage::SyncPlan &p) {
        plans++;
        CHECK(p.to_compress == 2 && p.compressions_needed == 2 && p.bytes_to_upload > 0);
        return true;
    };
    cb.on_file = [&](const fluximage::SyncFile &f) {
        seen.push_back(f);
        return true;
    };
    fluximage::SyncReport r = c.sync(src, out, {}, {}, cb);
    CHECK(plans == 1);
    CHECK_MSG(r.compressed == 2, r.compressed);
    CHECK(r.failed == 0 && r.not_done == 0 && r.credits_spent == 2 && r.requests >= 1);
    CHECK(r.plan.to_compress == 2 && r.bytes_out > 0);
    CHECK(fs::exists(out / "a.webp") && fs::exists(out / "sub" / "b.webp"));
    CHECK(!fs::exists(src / "a.webp"));
    const auto compressed = std::count_if(r.files.begin(), r.files.end(), [](const fluximage::SyncFile &f) {
        return f.outcome == fluximage::SyncOutcome::Compressed;
    });
    CHECK(compressed == 2);
    const auto b = std::find_if(r.files.begin(), r.files.end(), [](const fluximage::SyncFile &f) { return f.input == "sub/b.png"; });
    REQUIRE(b != r.files.end());
    CHECK(b->output == "sub/b.webp" && b->output_size == fs::file_size(out / "sub" / "b.webp"));
    CHECK(b->status == Status::Ok && b->input_size == fs::file_size(src / "sub" / "b.png"));
    CHECK(std::count_if(seen.begin(), seen.end(), [](const fluximage::SyncFile &f) {
              return f.outcome == fluximage::SyncOutcome::Compressed;
          }) == 2);

    // A rerun finds everything up to date and sends nothing.
    const long before = stats_compress_requests();
    fluximage::SyncReport again = c.sync(src, out);
    CHECK_MSG(again.up_to_date == 2 && again.compressed == 0 && again.requests == 0, again.up_to_date);
    CHECK(stats_compress_requests() == before);
}

void sync_options_plans_and_failures() {
    fluximage::Client c = agency();
    const fs::path src = sync_source("sync2-src");
    const fs::path out = scratch("sync2-out");
    fs::remove_all(out);
    const long before = stats_compress_requests();

    // A dry run plans and writes nothing.
    fluximage::SyncOptions dry;
    dry.dry_run = true;
    fluximage::SyncReport plan = c.sync(src, out, {}, dry);
    CHECK(plan.plan.to_compress == 2 && plan.compressed == 0);
    CHECK(!fs::exists(out / "a.webp"));

    // Stopping at the plan sends nothing.
    fluximage::SyncCallbacks stop;
    stop.on_plan = [](const fluximage::SyncPlan &) { return false; };
    CHECK_THROWS(Status::Cancelled, c.sync(src, out, {}, {}, stop));
    CHECK(stats_compress_requests() == before);

    // An exception from a callback comes out unchanged.
    struct Mine {};
    fluximage::SyncCallbacks thrower;
    thrower.on_plan = [](const fluximage::SyncPlan &) -> bool { throw Mine{}; };
    bool caught = false;
    try {
        (void)c.sync(src, out, {}, {}, thrower);
    } catch (const Mine &) {
        caught = true;
    }
    CHECK(caught);

    // Not enough credits: refused before any upload, naming the numbers.
    fluximage::Client spent = client_for(env_required("FLX_TEST_SPENT_KEY"));
    auto quota = CHECK_THROWS(Status::QuotaExceeded, spent.sync(src, out));
    CHECK(quota && std::string(quota->what()).find('2') != std::string::npos);
    CHECK(stats_compress_requests() == before);

    // A malformed glob is a bad argument.
    fluximage::SyncOptions bad;
    bad.include = {"[a-"};
    CHECK_THROWS(Status::InvalidArgument, c.sync(src, out, {}, bad));

    // Include globs and another format.
    fluximage::SyncOptions only_sub;
    only_sub.include = {"sub/**"};
    fluximage::CompressOptions avif;
    avif.format = fluximage::Format::Avif;
    fluximage::SyncReport r = c.sync(src, out, avif, only_sub);
    CHECK(r.compressed == 1);
    CHECK(fs::exists(out / "sub" / "b.avif") && !fs::exists(out / "a.avif"));
}

} // namespace

int main(int argc, char **argv) {
    return harness::main(
        {
            {"version_and_statuses", version_and_statuses},
            {"client_keys_and_config", client_keys_and_config},
            {"compress_files_and_read_results", compress_files_and_read_results},
            {"at_past_the_end_is_out_of_range", at_past_the_end_is_out_of_range},
            {"compress_options_reach_the_server", compress_options_reach_the_server},
            {"buffers_and_mixed_inputs", buffers_and_mixed_inputs},
            {"fetch_returns_the_result_bytes", fetch_returns_the_result_bytes},
            {"save_never_replaces_a_file_unless_asked", save_never_replaces_a_file_unless_asked},
            {"compress_into_a_folder_saves_during_the_call", compress_into_a_folder_saves_during_the_call},
            {"compress_file_writes_one_output", compress_file_writes_one_output},
            {"usage_reports_the_plan", usage_reports_the_plan},
            {"errors_carry_status_http_and_retry_after", errors_carry_status_http_and_retry_after},
            {"progress_reports_and_stops", progress_reports_and_stops},
            {"cancel_from_another_thread", cancel_from_another_thread},
            {"results_outlive_their_client", results_outlive_their_client},
            {"one_client_many_threads", one_client_many_threads},
            {"sync_mirrors_a_folder_and_a_rerun_sends_nothing", sync_mirrors_a_folder_and_a_rerun_sends_nothing},
            {"sync_options_plans_and_failures", sync_options_plans_and_failures},
        },
        argc, argv);
}
