/*
 * fluximage.hpp: the C++17 interface of libfluximage, header-only, over the C API of
 * fluximage.h (link with -lfluximage, or the CMake target fluximage::fluximage).
 *
 *   #include <fluximage.hpp>
 *   fluximage::Client client = fluximage::Client::from_env();     // FLUXIMAGE_API_KEY
 *   fluximage::Batch batch = client.compress({"cat.jpg", "dog.png"});
 *   for (const fluximage::Result &r : batch)
 *       if (r.ok()) r.save("out/");                                 // never replaces a file
 *       else std::cerr << r.input() << ": " << r.error() << '\n';
 *
 * Conventions:
 * - Failures throw fluximage::Error (a std::runtime_error) carrying the status, the HTTP status
 *   and Retry-After of the C API. A batch in which some images failed is not a failure: each
 *   Result says ok() or why not; when every image failed, the call throws the first failure
 *   and Error::batch() says why for each. Argument mistakes (quality out of range, a string
 *   with a NUL byte) throw Error with Status::InvalidArgument before anything is sent.
 * - Exceptions are required. A project built with -fno-exceptions uses fluximage.h directly
 *   (this header stops with #error there): every C function returns a status, so nothing is
 *   lost, and a second error channel here would double the surface without adding a rule.
 * - Ownership: Client is move-only and owns its connections. Batch and Result are cheap
 *   copies of one shared, read-only result; a Batch keeps its Client's connections open, so
 *   Result::save() and fetch() work after the Client object is gone. Cancel is a shared flag:
 *   copies trigger the same flag. Nothing needs a manual free.
 * - Thread safety: as in fluximage.h. One Client may be used by many threads at once; Batch,
 *   Result and Usage are read-only and shareable; Cancel::trigger() may be called from any
 *   thread. A progress function runs on the thread that made the call.
 * - Progress functions and sync callbacks may throw: the call then stops (as if they returned
 *   false) and the exception is rethrown from the call, unchanged. No exception ever crosses
 *   the C library.
 * - Saving never replaces a file nobody named (ExistsPolicy); Client::sync() mirrors a folder
 *   and sends only new or changed images.
 * - Strings in are std::string_view (UTF-8), paths std::filesystem::path; strings out are
 *   std::string, empty when the server did not say.
 */

#ifndef FLUXIMAGE_HPP
#define FLUXIMAGE_HPP

#if defined(_MSVC_LANG) ? _MSVC_LANG < 201703L : __cplusplus < 201703L
#error "fluximage.hpp needs C++17 or later (-std=c++17)"
#endif
#if !defined(__cpp_exceptions) && !defined(__EXCEPTIONS) && !defined(_CPPUNWIND)
#error "fluximage.hpp reports failures with exceptions; with -fno-exceptions use the C API of fluximage.h"
#endif

#include <fluximage.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fluximage {

/// The status of a call, as flx_status. The numbers are stable; new values are only added.
enum class Status : int {
    Ok = FLX_OK,                            ///< success
    InvalidArgument = FLX_INVALID_ARGUMENT, ///< a bad argument; nothing was sent
    Unauthorized = FLX_UNAUTHORIZED,        ///< HTTP 401: key missing, unknown or rolled
    Forbidden = FLX_FORBIDDEN,              ///< HTTP 403: the plan does not include the feature
    QuotaExceeded = FLX_QUOTA_EXCEEDED,     ///< HTTP 402: credits used up for this period
    TooLarge = FLX_TOO_LARGE,               ///< a file over 20 MB, or HTTP 413
    RateLimited = FLX_RATE_LIMITED,         ///< HTTP 429; see Error::retry_after()
    BadRequest = FLX_BAD_REQUEST,           ///< HTTP 400: the server rejected a field
    Server = FLX_SERVER,                    ///< HTTP 5xx, or one image the server could not process
    Network = FLX_NETWORK,                  ///< the connection could not be made or broke
    Timeout = FLX_TIMEOUT,                  ///< a time limit was reached
    Tls = FLX_TLS,                          ///< TLS handshake or certificate verification failed
    Protocol = FLX_PROTOCOL,                ///< the answer did not follow the protocol
    Expired = FLX_EXPIRED,                  ///< a result's signed URL expired: compress again
    Io = FLX_IO,                            ///< a local file could not be read or written
    Cancelled = FLX_CANCELLED,              ///< stopped by a progress function or a Cancel
    Partial = FLX_PARTIAL,                  ///< a batch finished but some images failed
    Internal = FLX_INTERNAL,                ///< a bug in the library; please report it
    Exists = FLX_EXISTS,                    ///< a file is at the output path and the policy keeps it
};

/// A static English description of a status ("rate limited", ...), from flx_status_str().
inline std::string_view to_string(Status status) noexcept {
    return flx_status_str(static_cast<std::int32_t>(status));
}

/// The library's version, "MAJOR.MINOR.PATCH" (flx_version()); FLX_VERSION_STRING is the
/// header's.
inline std::string_view version() noexcept { return flx_version(); }

class Batch;
class Client;
namespace detail {
struct BatchState;
}

/// The one exception type of this header: what failed, in English (what(); never the API key),
/// with the status and, when a server answered, its HTTP status and Retry-After.
class Error : public std::runtime_error {
  public:
    /// An error with a status and message; `http_status` 0 when no server answered.
    Error(Status status, const std::string &message, int http_status = 0,
          std::optional<std::chrono::milliseconds> retry_after = std::nullopt)
        : std::runtime_error(message), status_(status), http_status_(http_status),
          retry_after_(retry_after) {}

    /// Why the call failed; compare with Status values.
    Status status() const noexcept { return status_; }
    /// The server's HTTP status, or 0 when no server answered (or the error is local).
    int http_status() const noexcept { return http_status_; }
    /// How long the server asked to wait (Retry-After), when it said.
    std::optional<std::chrono::milliseconds> retry_after() const noexcept { return retry_after_; }
    /// For a compress call in which every image failed: the batch, whose Results say why each
    /// one did (this error is the first failure). Empty for any other error.
    std::optional<Batch> batch() const;

  private:
    friend class Client;
    Status status_;
    int http_status_;
    std::optional<std::chrono::milliseconds> retry_after_;
    std::shared_ptr<const detail::BatchState> batch_;
};

/// Output formats (flx_format).
enum class Format : int {
    Webp = FLX_FORMAT_WEBP, ///< WebP (the default)
    Avif = FLX_FORMAT_AVIF, ///< AVIF
    Jpg = FLX_FORMAT_JPG,   ///< JPEG
    Png = FLX_FORMAT_PNG,   ///< PNG (lossless)
};

/// Watermark positions (flx_position).
enum class Position : int {
    TopLeft = FLX_POS_TL,
    TopCenter = FLX_POS_TC,
    TopRight = FLX_POS_TR,
    MiddleLeft = FLX_POS_ML,
    Center = FLX_POS_MC,
    MiddleRight = FLX_POS_MR,
    BottomLeft = FLX_POS_BL,
    BottomCenter = FLX_POS_BC,
    BottomRight = FLX_POS_BR, ///< the default
};

/// What a save does when a file is already at the output path (flx_exists).
enum class ExistsPolicy : int {
    Error = FLX_EXISTS_ERROR,         ///< throw Error with Status::Exists (the default)
    Rename = FLX_EXISTS_RENAME,       ///< write stem-2.ext, stem-3.ext, ... (the first free name)
    Overwrite = FLX_EXISTS_OVERWRITE, ///< replace it (never the item's own input file)
};

namespace detail {

struct ClientDeleter {
    void operator()(flx_client *c) const noexcept { flx_client_free(c); }
};
struct OptionsDeleter {
    void operator()(flx_options *o) const noexcept { flx_options_free(o); }
};
struct BatchDeleter {
    void operator()(flx_batch *b) const noexcept { flx_batch_free(b); }
};
struct UsageDeleter {
    void operator()(flx_usage *u) const noexcept { flx_usage_free(u); }
};
struct CancelDeleter {
    void operator()(flx_cancel *c) const noexcept { flx_cancel_free(c); }
};
struct CStringDeleter {
    void operator()(char *s) const noexcept { flx_string_free(s); }
};

// Reads the thread's last error at once: the next flx_ call would clear it.
inline Error last_error(flx_status status) {
    const std::int64_t ms = flx_last_retry_after_ms();
    std::optional<std::chrono::milliseconds> retry;
    if (ms >= 0) retry = std::chrono::milliseconds(ms);
    std::string message = flx_last_error();
    if (message.empty()) message = flx_status_str(status);
    return Error(static_cast<Status>(status), message, flx_last_http_status(), retry);
}

[[noreturn]] inline void throw_last(flx_status status) { throw last_error(status); }

inline void check(flx_status status) {
    if (status != FLX_OK) throw_last(status);
}

[[noreturn]] inline void invalid(const std::string &message) {
    throw Error(Status::InvalidArgument, message);
}

// A NUL-terminated copy; an embedded NUL would silently cut the string in C, so refuse it.
inline std::string c_string(std::string_view s, const char *what) {
    if (s.find('\0') != std::string_view::npos)
        invalid(std::string(what) + " contains a NUL byte");
    return std::string(s);
}

inline std::string c_path(const std::filesystem::path &p, const char *what) {
    return c_string(p.string(), what);
}

inline std::uint32_t to_u32(long long v, const char *what) {
    if (v < 0 || static_cast<unsigned long long>(v) > std::numeric_limits<std::uint32_t>::max())
        invalid(std::string(what) + " is out of range: " + std::to_string(v));
    return static_cast<std::uint32_t>(v);
}

inline std::string str_or_empty(const char *s) { return s ? std::string(s) : std::string(); }

} // namespace detail

/// A progress function: `done` bytes moved of `total` (0 when unknown), uploaded for a compress,
/// downloaded for a fetch or save; called on the calling thread about every 50 ms and once at
/// the end. Return true to go on, false to stop the call (it then throws Status::Cancelled).
/// It must not use the same Client.
using Progress = std::function<bool(std::uint64_t done, std::uint64_t total)>;

/// A cancel flag (flx_cancel) that stops the calls whose options carry it, within about 100 ms,
/// with Status::Cancelled. Copies share one flag. trigger() may be called from any thread
/// (not from a signal handler); it is irreversible: use a new Cancel for the next call.
class Cancel {
  public:
    /// A new, untriggered flag. Throws Error if memory runs out.
    Cancel() : flag_(flx_cancel_new(), detail::CancelDeleter()) {
        if (!flag_) detail::throw_last(FLX_INTERNAL);
    }
    /// Triggers the flag: every call watching it ends with Status::Cancelled.
    void trigger() const noexcept { flx_cancel_trigger(flag_.get()); }
    /// The C handle, owned by this object and its copies.
    const flx_cancel *native_handle() const noexcept { return flag_.get(); }

  private:
    std::shared_ptr<flx_cancel> flag_;
};

/// Options of the calls that only download or ask (Result::save, Result::fetch, Client::usage):
/// a progress function and a cancel flag, both optional.
struct CallOptions {
    Progress progress;            ///< none by default
    std::optional<Cancel> cancel; ///< none by default
};

/// A watermark drawn on every image (paid plans; Status::Forbidden on free).
struct Watermark {
    std::filesystem::path png;               ///< a PNG file, checked when a compress starts
    unsigned scale = 20;                     ///< its width in percent of the image's, 5..50
    unsigned opacity = 100;                  ///< 0 (transparent) .. 100 (opaque)
    Position position = Position::BottomRight;
};

/// Options of a compress call, a plain value; the defaults are the library's.
struct CompressOptions {
    Format format = Format::Webp;        ///< output format
    unsigned quality = 82;               ///< 40..100; ignored for PNG (lossless)
    unsigned max_width = 0;              ///< fit into this width (0: no limit); never enlarges
    unsigned max_height = 0;             ///< fit into this height (0: no limit); max 65535
    std::optional<Watermark> watermark;  ///< none by default
    bool alt_text = false;               ///< AI alt text per image (1 AI credit per image)
    bool seo_rename = false;             ///< AI SEO file name per image (same credit)
    std::string session_id;              ///< group results under this id; empty: the server picks
    Progress progress;                   ///< upload progress; none by default
    std::optional<Cancel> cancel;        ///< cancel flag; none by default
    /// Client::compress saves each result into this folder as its request answers, while the
    /// next requests upload (flx_options_set_output): on a slow link about the time of the
    /// upload alone. Names are checked under `output_exists` before anything is sent; an input
    /// whose result could not be saved fails alone and costs nothing. Result::path() is the
    /// file written. Empty (the default): nothing is saved during the call.
    std::filesystem::path output_dir;
    ExistsPolicy output_exists = ExistsPolicy::Error; ///< with output_dir
};

namespace detail {

// The flx_options of one call, with the progress bridge: a C callback can not throw, so an
// exception from the user's function is kept here and rethrown after the C call returns.
class NativeOptions {
  public:
    explicit NativeOptions(const CompressOptions &o) : NativeOptions(o.progress, o.cancel) {
        check(flx_options_set_format(get(), static_cast<int>(o.format)));
        check(flx_options_set_quality(get(), o.quality));
        check(flx_options_set_max_size(get(), o.max_width, o.max_height));
        if (!o.session_id.empty())
            check(flx_options_set_session_id(get(), c_string(o.session_id, "session_id").c_str()));
        if (o.watermark)
            check(flx_options_set_watermark(get(), c_path(o.watermark->png, "watermark path").c_str(),
                                            o.watermark->scale, o.watermark->opacity,
                                            static_cast<int>(o.watermark->position)));
        if (o.alt_text || o.seo_rename) check(flx_options_set_ai(get(), o.alt_text, o.seo_rename));
        if (!o.output_dir.empty())
            check(flx_options_set_output(get(), c_path(o.output_dir, "output_dir").c_str(),
                                         static_cast<int>(o.output_exists)));
    }
    explicit NativeOptions(const CallOptions &o) : NativeOptions(o.progress, o.cancel) {}
    NativeOptions(const NativeOptions &) = delete;
    NativeOptions &operator=(const NativeOptions &) = delete;

    flx_options *get() const noexcept { return options_.get(); }

    // After a C call: the user's own exception first, then the status.
    void finish(flx_status status) const {
        rethrow_callback_error();
        check(status);
    }
    void rethrow_callback_error() const {
        if (error_) std::rethrow_exception(error_);
    }

  private:
    NativeOptions(const Progress &progress, const std::optional<Cancel> &cancel)
        : options_(flx_options_new()), progress_(&progress) {
        if (!options_) throw_last(FLX_INTERNAL);
        if (progress) check(flx_options_set_progress(get(), &NativeOptions::on_progress, this));
        if (cancel) check(flx_options_set_cancel(get(), cancel->native_handle()));
    }

    static int on_progress(void *user, std::uint64_t done, std::uint64_t total) noexcept {
        auto *self = static_cast<NativeOptions *>(user);
        try {
            return (*self->progress_)(done, total) ? 0 : 1;
        } catch (...) {
            self->error_ = std::current_exception();
            return 1;
        }
    }

    std::unique_ptr<flx_options, OptionsDeleter> options_;
    const Progress *progress_; // the caller's, alive for the whole call
    std::exception_ptr error_;
};

struct BatchState {
    std::shared_ptr<flx_client> client;
    std::unique_ptr<flx_batch, BatchDeleter> batch;
};

} // namespace detail

/// One input of a compress call: a file (streamed from disk) or bytes in memory with a name.
class Input {
  public:
    /// A file, read when the call runs.
    static Input file(std::filesystem::path path) {
        Input in;
        in.path_ = std::move(path);
        return in;
    }
    /// Image bytes, uploaded as `name` (e.g. "photo.jpg"; the result is named after it).
    static Input buffer(std::vector<std::byte> data, std::string name) {
        Input in;
        in.data_ = std::move(data);
        in.name_ = std::move(name);
        in.is_buffer_ = true;
        return in;
    }
    /// Whether this input is bytes in memory.
    bool is_buffer() const noexcept { return is_buffer_; }
    /// The file (empty for a buffer).
    const std::filesystem::path &path() const noexcept { return path_; }
    /// The bytes (empty for a file).
    const std::vector<std::byte> &data() const noexcept { return data_; }
    /// The upload name of a buffer (empty for a file).
    const std::string &name() const noexcept { return name_; }

  private:
    Input() = default;
    std::filesystem::path path_;
    std::vector<std::byte> data_;
    std::string name_;
    bool is_buffer_ = false;
};

/// One item of a Batch: the outcome for one input, ok() or failed with error(). A cheap copy
/// that keeps its batch alive.
class Result {
  public:
    /// The position of this item in the batch (= of its input).
    std::size_t index() const noexcept { return index_; }
    /// Whether the image was optimized.
    bool ok() const noexcept { return status() == Status::Ok; }
    /// Status::Ok, or why this image failed (Server: cannot decode, TooLarge, Io, ...).
    Status status() const noexcept {
        return static_cast<Status>(flx_batch_status(batch(), index_));
    }
    /// Why this image failed, in English; empty when ok().
    std::string error() const { return detail::str_or_empty(flx_batch_error(batch(), index_)); }
    /// For a failed item, the HTTP status of its failed request (0 when no server answered).
    int http_status() const noexcept {
        const std::int64_t v = flx_batch_num(batch(), index_, FLX_FIELD_HTTP_STATUS);
        return v > 0 ? static_cast<int>(v) : 0;
    }

    /// The input as given: its path, or the name of a buffer.
    std::string input() const { return str(FLX_FIELD_INPUT); }
    /// The output file name, e.g. "cat.webp".
    std::string name() const { return str(FLX_FIELD_NAME); }
    /// The name the image was uploaded under.
    std::string original_name() const { return str(FLX_FIELD_ORIGINAL_NAME); }
    /// The output format: "webp", "avif", "jpg" or "png".
    std::string format() const { return str(FLX_FIELD_FORMAT); }
    /// The signed download URL: anyone holding it can download the result until it expires,
    /// so log it no more than a password.
    std::string url() const { return str(FLX_FIELD_URL); }
    /// When the URL expires, RFC 3339 UTC.
    std::string expires_at() const { return str(FLX_FIELD_EXPIRES_AT); }
    /// AI alt text (when asked for).
    std::string alt_text() const { return str(FLX_FIELD_ALT_TEXT); }
    /// AI SEO file name (when asked for).
    std::string seo_name() const { return str(FLX_FIELD_SEO_NAME); }
    /// The file the compress saved the result to (CompressOptions::output_dir); empty when it
    /// saved none (status() says why).
    std::filesystem::path path() const { return str(FLX_FIELD_PATH); }

    /// Bytes uploaded.
    std::optional<std::uint64_t> original_size() const { return num(FLX_FIELD_ORIGINAL_SIZE); }
    /// Bytes of the result.
    std::optional<std::uint64_t> size() const { return num(FLX_FIELD_SIZE); }
    /// Width of the result in pixels (from the server, or from the image once saved or
    /// fetched).
    std::optional<std::uint64_t> width() const { return num(FLX_FIELD_WIDTH); }
    /// Height of the result in pixels (as width()).
    std::optional<std::uint64_t> height() const { return num(FLX_FIELD_HEIGHT); }
    /// When the URL expires, in seconds since the Unix epoch.
    std::optional<std::uint64_t> expires_unix() const { return num(FLX_FIELD_EXPIRES_UNIX); }

    /// Downloads the result to `path_or_dir` and returns the path written. A path ending in
    /// '/' or an existing folder means "this folder, named after the result"; missing folders
    /// are created. The file appears whole or not at all, and the item's own input is never
    /// replaced. `policy` decides about a file already there (default: throw Status::Exists).
    /// Throws the item's own error for a failed item, Status::Expired when the URL expired.
    std::filesystem::path save(const std::filesystem::path &path_or_dir,
                               ExistsPolicy policy = ExistsPolicy::Error,
                               const CallOptions &options = {}) const {
        const std::string target = detail::c_path(path_or_dir, "save path");
        detail::NativeOptions native(options);
        char *written = nullptr;
        const flx_status st = flx_batch_save(client(), batch(), index_, target.c_str(),
                                             static_cast<int>(policy), native.get(), &written);
        std::unique_ptr<char, detail::CStringDeleter> owned(written);
        native.finish(st);
        return owned ? std::filesystem::path(owned.get()) : std::filesystem::path(target);
    }

    /// Downloads the result into memory.
    std::vector<std::byte> fetch(const CallOptions &options = {}) const {
        detail::NativeOptions native(options);
        // Written only on success; freed however this function is left.
        struct Buffer {
            std::uint8_t *data = nullptr;
            std::size_t len = 0;
            ~Buffer() { flx_bytes_free(data, len); }
        } buf;
        native.finish(flx_batch_fetch(client(), batch(), index_, native.get(), &buf.data, &buf.len));
        const auto *begin = reinterpret_cast<const std::byte *>(buf.data);
        return std::vector<std::byte>(begin, begin + buf.len);
    }

  private:
    friend class Batch;
    Result(std::shared_ptr<const detail::BatchState> state, std::size_t index)
        : state_(std::move(state)), index_(index) {}

    // A moved-from Result holds no state: the C functions then see NULL and refuse it.
    const flx_batch *batch() const noexcept { return state_ ? state_->batch.get() : nullptr; }
    flx_client *client() const noexcept { return state_ ? state_->client.get() : nullptr; }
    std::string str(flx_field f) const {
        return detail::str_or_empty(flx_batch_str(batch(), index_, static_cast<int>(f)));
    }
    std::optional<std::uint64_t> num(flx_field f) const {
        const std::int64_t v = flx_batch_num(batch(), index_, static_cast<int>(f));
        if (v < 0) return std::nullopt;
        return static_cast<std::uint64_t>(v);
    }

    std::shared_ptr<const detail::BatchState> state_;
    std::size_t index_;
};

/// The outcome of a compress call: one Result per input, in input order. Copies share one
/// read-only batch (safe to read from several threads); it keeps the client's connections
/// alive for saves and fetches.
class Batch {
  public:
    /// An iterator over the Results, yielded by value: an input iterator to C++17 (whose
    /// forward iterators must yield references), random access to C++20 ranges.
    class iterator {
      public:
        using iterator_category = std::input_iterator_tag;
#if __cplusplus >= 202002L
        using iterator_concept = std::random_access_iterator_tag;
#endif
        using value_type = Result;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = Result;

        iterator() = default;
        Result operator*() const { return batch_->operator[](i_); }
        Result operator[](difference_type n) const { return batch_->operator[](i_ + static_cast<std::size_t>(n)); }
        iterator &operator++() { ++i_; return *this; }
        iterator operator++(int) { iterator t = *this; ++i_; return t; }
        iterator &operator--() { --i_; return *this; }
        iterator operator--(int) { iterator t = *this; --i_; return t; }
        iterator &operator+=(difference_type n) { i_ += static_cast<std::size_t>(n); return *this; }
        iterator &operator-=(difference_type n) { i_ -= static_cast<std::size_t>(n); return *this; }
        friend iterator operator+(iterator a, difference_type n) { return a += n; }
        friend iterator operator+(difference_type n, iterator a) { return a += n; }
        friend iterator operator-(iterator a, difference_type n) { return a -= n; }
        friend difference_type operator-(const iterator &a, const iterator &b) {
            return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
        }
        friend bool operator==(const iterator &a, const iterator &b) { return a.i_ == b.i_; }
        friend bool operator!=(const iterator &a, const iterator &b) { return a.i_ != b.i_; }
        friend bool operator<(const iterator &a, const iterator &b) { return a.i_ < b.i_; }
        friend bool operator>(const iterator &a, const iterator &b) { return a.i_ > b.i_; }
        friend bool operator<=(const iterator &a, const iterator &b) { return a.i_ <= b.i_; }
        friend bool operator>=(const iterator &a, const iterator &b) { return a.i_ >= b.i_; }

      private:
        friend class Batch;
        iterator(const Batch *b, std::size_t i) : batch_(b), i_(i) {}
        const Batch *batch_ = nullptr;
        std::size_t i_ = 0;
    };
    using const_iterator = iterator;

    /// The number of items (= inputs).
    std::size_t size() const noexcept { return flx_batch_len(handle()); }
    /// Whether there are no items (never, for a batch a compress returned).
    bool empty() const noexcept { return size() == 0; }
    /// Item `i`, unchecked (i < size()).
    Result operator[](std::size_t i) const { return Result(state_, i); }
    /// Item `i`; throws std::out_of_range past the end.
    Result at(std::size_t i) const {
        if (i >= size()) throw std::out_of_range("fluximage::Batch::at: no item " + std::to_string(i));
        return Result(state_, i);
    }
    iterator begin() const noexcept { return iterator(this, 0); }
    iterator end() const noexcept { return iterator(this, size()); }

    /// The number of items that failed.
    std::size_t failed() const noexcept {
        std::size_t n = 0;
        for (std::size_t i = 0; i < size(); i++)
            if (flx_batch_status(handle(), i) != FLX_OK) n++;
        return n;
    }
    /// The server's answer as received (JSON; a JSON array for several requests).
    std::string json() const { return detail::str_or_empty(flx_batch_json(handle())); }
    /// The session id the server grouped the results under; empty when it gave none.
    std::string session_id() const {
        return detail::str_or_empty(flx_batch_session_id(handle()));
    }
    /// The C handle, owned by this batch and its copies (valid while one of them lives).
    const flx_batch *native_handle() const noexcept { return handle(); }

  private:
    friend class Client;
    friend class Error;
    const flx_batch *handle() const noexcept { return state_ ? state_->batch.get() : nullptr; }
    explicit Batch(std::shared_ptr<const detail::BatchState> state) : state_(std::move(state)) {}
    std::shared_ptr<const detail::BatchState> state_;
};

/// The key's plan and credits, as the server reported them (read once; a plain value).
struct Usage {
    std::string plan;                                  ///< "free", "starter", "pro", "agency", ...
    std::optional<std::int64_t> compressions_used;     ///< this billing period
    std::optional<std::int64_t> compressions_limit;    ///< per period (99999: "unlimited")
    std::optional<std::int64_t> ai_credits_used;       ///< this month
    std::optional<std::int64_t> ai_credits_monthly;    ///< included per month
    std::optional<std::int64_t> ai_topup_credits;      ///< purchased, never expire
    std::optional<std::int64_t> ai_credits_remaining;  ///< monthly - used + top-up
    std::optional<bool> can_compress;                  ///< whether a compression is accepted now
    std::optional<bool> can_use_ai;                    ///< whether AI features may be used now
    std::string json;                                  ///< the answer exactly as received
};

/// What a sync does when a result in its input's own format is not smaller (flx_if_larger).
enum class IfLarger : int {
    Original = FLX_IF_LARGER_ORIGINAL, ///< write the input's bytes as the output (the default)
    Write = FLX_IF_LARGER_WRITE,       ///< write the result anyway
    Skip = FLX_IF_LARGER_SKIP,         ///< write nothing for that file; later runs leave it alone
};

/// Options of Client::sync(), a plain value; the defaults are the library's.
struct SyncOptions {
    /// Globs on the path relative to the source folder ('/'-separated; "*.png" matches at any
    /// depth, "**" spans folders): when any is given, only matching files are synced.
    std::vector<std::string> include;
    std::vector<std::string> exclude; ///< files and folders left out (same syntax)
    bool include_hidden = false;      ///< take names starting with "." too
    bool follow_symlinks = false;     ///< descend into symlinked folders (each real folder once)
    bool dry_run = false;             ///< plan only: nothing is uploaded or written
    /// When the credits do not cover the plan, send what they cover instead of throwing
    /// Status::QuotaExceeded before any upload.
    bool allow_partial = false;
    bool in_place = false;            ///< replace the originals (out must be src; needs backup_dir)
    bool preserve_mtime = false;      ///< give each output its input's modification time
    bool overwrite = false;           ///< replace outputs edited by hand instead of reporting conflicts
    IfLarger if_larger = IfLarger::Original;
    std::filesystem::path backup_dir; ///< where originals go before an in-place sync replaces them
};

/// What a sync found before sending anything.
struct SyncPlan {
    std::uint64_t files = 0;               ///< files considered (non-images count as skipped)
    std::uint64_t up_to_date = 0;          ///< already done by an earlier run
    std::uint64_t to_compress = 0;         ///< to send (or whose paid result is still to fetch)
    std::uint64_t conflicts = 0;           ///< outputs changed by hand, or two inputs for one output
    std::uint64_t skipped = 0;             ///< left out
    std::uint64_t bytes_to_upload = 0;
    std::uint64_t requests = 0;            ///< compress requests needed
    std::uint64_t compressions_needed = 0; ///< compression credits needed
    std::uint64_t ai_credits_needed = 0;   ///< AI credits needed
};

/// What happened to one file of a sync (flx_sync_event_kind).
enum class SyncOutcome : int {
    UpToDate = FLX_SYNC_UP_TO_DATE,         ///< the output matches: nothing sent
    Compressed = FLX_SYNC_COMPRESSED,       ///< compressed and written
    KeptOriginal = FLX_SYNC_KEPT_ORIGINAL,  ///< the result was not smaller: the input was written
    Skipped = FLX_SYNC_SKIPPED,             ///< left out; message() says why
    Conflict = FLX_SYNC_CONFLICT,           ///< not sent: the output is not the sync's to replace
    Failed = FLX_SYNC_FAILED,               ///< failed: status and message say why
};

/// One file of a sync, as reported to SyncCallbacks::on_file and kept in SyncReport::files.
struct SyncFile {
    SyncOutcome outcome = SyncOutcome::UpToDate;
    std::string input;                         ///< relative to the source folder ('/'-separated)
    std::string output;                        ///< relative to the output folder; empty when none
    std::uint64_t input_size = 0;              ///< bytes
    std::optional<std::uint64_t> output_size;  ///< bytes written, when an output was
    bool larger_than_input = false;            ///< the output is larger than its input
    Status status = Status::Ok;                ///< Ok, or why a Failed file failed
    std::string message;                       ///< why skipped, in conflict, kept or failed
};

/// The outcome of Client::sync(): the plan, the totals, and every file that was not up to date.
struct SyncReport {
    SyncPlan plan;
    std::uint64_t up_to_date = 0;
    std::uint64_t compressed = 0;
    std::uint64_t kept_original = 0;
    std::uint64_t skipped = 0;
    std::uint64_t conflicts = 0;
    std::uint64_t failed = 0;
    std::uint64_t not_done = 0;      ///< not reached (credits, or a fatal error such as a bad key)
    std::uint64_t bytes_in = 0;      ///< bytes of the inputs compressed
    std::uint64_t bytes_out = 0;     ///< bytes of the outputs written
    std::uint64_t credits_spent = 0; ///< compression credits
    std::uint64_t requests = 0;      ///< compress requests sent
    std::chrono::milliseconds elapsed{0};
    std::vector<SyncFile> files;     ///< one per file that was not up to date
};

/// Functions a sync calls on the calling thread: the plan once before anything is sent, then
/// each file as it is done. Return false to stop: the sync then throws Status::Cancelled (what
/// was saved stays recorded; a rerun goes on from there). An exception stops it the same way
/// and comes out of Client::sync() unchanged. They must not use the same Client.
struct SyncCallbacks {
    std::function<bool(const SyncPlan &)> on_plan;
    std::function<bool(const SyncFile &)> on_file;
};

namespace detail {

struct SyncOptionsDeleter {
    void operator()(flx_sync_options *o) const noexcept { flx_sync_options_free(o); }
};
struct SyncReportDeleter {
    void operator()(flx_sync_report *r) const noexcept { flx_sync_report_free(r); }
};

inline std::uint64_t sync_num(const flx_sync_report *r, flx_sync_field f) {
    const std::int64_t v = flx_sync_report_num(r, static_cast<int>(f));
    return v < 0 ? 0 : static_cast<std::uint64_t>(v);
}

inline SyncPlan sync_plan(const flx_sync_report *r) {
    SyncPlan p;
    p.files = sync_num(r, FLX_SYNC_PLAN_FILES);
    p.up_to_date = sync_num(r, FLX_SYNC_PLAN_UP_TO_DATE);
    p.to_compress = sync_num(r, FLX_SYNC_PLAN_TO_COMPRESS);
    p.conflicts = sync_num(r, FLX_SYNC_PLAN_CONFLICTS);
    p.skipped = sync_num(r, FLX_SYNC_PLAN_SKIPPED);
    p.bytes_to_upload = sync_num(r, FLX_SYNC_PLAN_BYTES_TO_UPLOAD);
    p.requests = sync_num(r, FLX_SYNC_PLAN_REQUESTS);
    p.compressions_needed = sync_num(r, FLX_SYNC_PLAN_COMPRESSIONS_NEEDED);
    p.ai_credits_needed = sync_num(r, FLX_SYNC_PLAN_AI_CREDITS_NEEDED);
    return p;
}

inline SyncFile sync_file(const flx_sync_event &e) {
    SyncFile f;
    f.outcome = static_cast<SyncOutcome>(e.kind);
    f.input = str_or_empty(e.input);
    f.output = str_or_empty(e.output);
    f.input_size = e.input_size;
    if (e.output_size >= 0) f.output_size = static_cast<std::uint64_t>(e.output_size);
    f.larger_than_input = e.larger_than_input;
    f.status = static_cast<Status>(e.status);
    f.message = str_or_empty(e.message);
    return f;
}

// The sync callbacks of one call; as with progress, an exception is kept and rethrown.
struct SyncBridge {
    const SyncCallbacks *callbacks;
    std::exception_ptr error;

    static int on_event(void *user, const flx_sync_event *event) noexcept {
        auto *self = static_cast<SyncBridge *>(user);
        try {
            if (event->kind == FLX_SYNC_PLANNED) {
                if (self->callbacks->on_plan) return self->callbacks->on_plan(sync_plan(event->report)) ? 0 : 1;
            } else if (self->callbacks->on_file) {
                return self->callbacks->on_file(sync_file(*event)) ? 0 : 1;
            }
            return 0;
        } catch (...) {
            self->error = std::current_exception();
            return 1;
        }
    }
};

} // namespace detail

/// Client settings; each left at its default keeps the library's (see fluximage.h).
struct Config {
    /// The API origin; empty: FLUXIMAGE_BASE_URL, else https://fluximage.app. Plain http only
    /// for loopback hosts.
    std::string base_url;
    std::chrono::milliseconds connect_timeout{0}; ///< 0: the default, 10 s
    std::chrono::milliseconds read_timeout{0};    ///< 0: the default, 120 s
    std::chrono::milliseconds total_timeout{0};   ///< one whole request; 0: the default, 600 s
    /// A proxy ("http://host:3128", "socks5://host:1080"); empty: HTTPS_PROXY/ALL_PROXY/NO_PROXY.
    std::string proxy;
    /// A PEM file of CA certificates to trust besides the system's; empty: the system's only.
    std::filesystem::path ca_file;
    /// How often a failed request is tried again (429, 502-504, failed connects); unset: 2.
    std::optional<unsigned> retries;
    /// Whether a compress whose upload went out may be retried (credits may be charged twice).
    bool retry_after_upload = false;
    /// Requests of one batch in flight at once, 1..16; 0: the default, 2.
    unsigned concurrency = 0;
    /// An application identifier appended to the user agent ("myapp/1.2"); empty: none.
    std::string user_agent_suffix;
};

/// A client: the key, the settings and a pool of keep-alive connections. Move-only; once
/// constructed, one Client may be used by any number of threads at once.
class Client {
  public:
    /// A client for `api_key` ("flx_live_" + 40 hex). The key's shape is checked here (no
    /// request is made); throws Status::InvalidArgument for a malformed key or setting.
    explicit Client(std::string_view api_key, const Config &config = {})
        : Client(KeyTag{}, detail::c_string(api_key, "API key").c_str(), config) {}

    /// As Client(std::string_view); a null pointer (say, from a getenv() that found nothing)
    /// throws Status::InvalidArgument instead of being undefined.
    explicit Client(const char *api_key, const Config &config = {})
        : Client(KeyTag{}, non_null(api_key), config) {}

    /// A client for the key in FLUXIMAGE_API_KEY; throws Status::InvalidArgument when it is
    /// missing or malformed.
    static Client from_env(const Config &config = {}) { return Client(KeyTag{}, nullptr, config); }

    Client(Client &&) noexcept = default;
    Client &operator=(Client &&) noexcept = default;
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;
    ~Client() = default;

    /// Compresses files. Each is checked first (readable, not empty, at most 20 MB); one that
    /// fails its check fails only its own item and is not uploaded. Returns one Result per
    /// path, in order, when at least one image succeeded (the others say why with
    /// Result::error()). When every image failed, throws the first failure (Unauthorized,
    /// Forbidden, QuotaExceeded, RateLimited, Io for a missing file, ...) with Error::batch()
    /// saying why for each; bad arguments and cancels throw without a batch.
    Batch compress(const std::vector<std::filesystem::path> &paths,
                   const CompressOptions &options = {}) const {
        std::vector<std::string> owned;
        owned.reserve(paths.size());
        for (const auto &p : paths) owned.push_back(detail::c_path(p, "input path"));
        std::vector<const char *> ptrs;
        ptrs.reserve(owned.size());
        for (const auto &s : owned) ptrs.push_back(s.c_str());
        detail::NativeOptions native(options);
        flx_batch *out = nullptr;
        const flx_status st = flx_compress(client_.get(), ptrs.data(), ptrs.size(), native.get(), &out);
        return finish_batch(native, st, out);
    }

    /// Compresses inputs that may be files or bytes in memory; otherwise like compress(). Buffers are copied during the call.
    Batch compress_inputs(const std::vector<Input> &inputs, const CompressOptions &options = {}) const {
        std::vector<std::string> paths(inputs.size()), names(inputs.size());
        std::vector<flx_input> c(inputs.size());
        for (std::size_t i = 0; i < inputs.size(); i++) {
            const Input &in = inputs[i];
            if (in.is_buffer()) {
                names[i] = detail::c_string(in.name(), "input name");
                c[i].data = reinterpret_cast<const std::uint8_t *>(in.data().data());
                c[i].len = in.data().size();
                c[i].name = names[i].c_str();
            } else {
                paths[i] = detail::c_path(in.path(), "input path");
                c[i].path = paths[i].c_str();
            }
        }
        detail::NativeOptions native(options);
        flx_batch *out = nullptr;
        const flx_status st = flx_compress_inputs(client_.get(), c.data(), c.size(), native.get(), &out);
        return finish_batch(native, st, out);
    }

    /// Compresses one image in memory, uploaded as `name` (e.g. "photo.jpg"): a batch of one
    /// Result, or an Error (Status::Server when the server could not decode it).
    Batch compress_buffer(const void *data, std::size_t size, std::string_view name,
                   const CompressOptions &options = {}) const {
        const std::string n = detail::c_string(name, "input name");
        detail::NativeOptions native(options);
        flx_batch *out = nullptr;
        const flx_status st = flx_compress_buffer(client_.get(), static_cast<const std::uint8_t *>(data),
                                                  size, n.c_str(), native.get(), &out);
        return finish_batch(native, st, out);
    }

    /// Compresses one image in memory; see compress_buffer(data, size, name).
    Batch compress_buffer(const std::vector<std::byte> &data, std::string_view name,
                          const CompressOptions &options = {}) const {
        return compress_buffer(data.data(), data.size(), name, options);
    }

    /// Compresses the file `input` into `output` (the output folder is checked before the
    /// upload; the file appears whole or not at all; `output` must not be the input). Throws the
    /// image's own error (e.g. Status::Server: cannot decode image).
    void compress_file(const std::filesystem::path &input, const std::filesystem::path &output,
                       const CompressOptions &options = {}) const {
        const std::string in = detail::c_path(input, "input path");
        const std::string out = detail::c_path(output, "output path");
        detail::NativeOptions native(options);
        native.finish(flx_compress_file(client_.get(), in.c_str(), out.c_str(), native.get()));
    }

    /// Asks the server for the key's plan and credits (GET /api/usage).
    Usage usage(const CallOptions &options = {}) const {
        detail::NativeOptions native(options);
        flx_usage *raw = nullptr;
        const flx_status st = flx_usage_get(client_.get(), native.get(), &raw);
        std::unique_ptr<flx_usage, detail::UsageDeleter> u(raw);
        native.finish(st);
        auto num = [&](flx_usage_field f) -> std::optional<std::int64_t> {
            const std::int64_t v = flx_usage_num(u.get(), static_cast<int>(f));
            if (v < 0) return std::nullopt;
            return v;
        };
        auto flag = [&](flx_usage_field f) -> std::optional<bool> {
            const auto v = num(f);
            if (!v) return std::nullopt;
            return *v != 0;
        };
        Usage r;
        r.plan = detail::str_or_empty(flx_usage_plan(u.get()));
        r.compressions_used = num(FLX_USAGE_COMPRESSIONS_USED);
        r.compressions_limit = num(FLX_USAGE_COMPRESSIONS_LIMIT);
        r.ai_credits_used = num(FLX_USAGE_AI_CREDITS_USED);
        r.ai_credits_monthly = num(FLX_USAGE_AI_CREDITS_MONTHLY);
        r.ai_topup_credits = num(FLX_USAGE_AI_TOPUP_CREDITS);
        r.ai_credits_remaining = num(FLX_USAGE_AI_CREDITS_REMAINING);
        r.can_compress = flag(FLX_USAGE_CAN_COMPRESS);
        r.can_use_ai = flag(FLX_USAGE_CAN_USE_AI);
        r.json = detail::str_or_empty(flx_usage_json(u.get()));
        return r;
    }

    /// Compresses every image under the folder `src` into the mirrored tree under `out`
    /// (<same relative path>/<stem>.<format extension>), sending only what the manifest in `out`
    /// (".fluximage-sync") does not already have: a rerun sends only new or changed files, and
    /// a rerun after a crash does not pay again. Plans first; when the credits do not cover the
    /// plan it throws Status::QuotaExceeded before uploading (unless allow_partial). Never
    /// replaces a file it did not write, never deletes one. `options` gives the format and the
    /// rest, its progress (bytes of inputs done) and its cancel flag.
    ///
    /// Returns the report when every file is done or deliberately left alone, and also when
    /// some failed or were not done (SyncReport::failed, not_done); throws for bad arguments or
    /// folders, credits, a cancel, or a failed usage call.
    SyncReport sync(const std::filesystem::path &src, const std::filesystem::path &out,
                    const CompressOptions &options = {}, const SyncOptions &sync_options = {},
                    const SyncCallbacks &callbacks = {}) const {
        const std::string s = detail::c_path(src, "source folder");
        const std::string o = detail::c_path(out, "output folder");
        std::unique_ptr<flx_sync_options, detail::SyncOptionsDeleter> so(flx_sync_options_new());
        if (!so) detail::throw_last(FLX_INTERNAL);
        for (const auto &g : sync_options.include)
            detail::check(flx_sync_options_add_include(so.get(), detail::c_string(g, "include glob").c_str()));
        for (const auto &g : sync_options.exclude)
            detail::check(flx_sync_options_add_exclude(so.get(), detail::c_string(g, "exclude glob").c_str()));
        const std::pair<flx_sync_flag, bool> flags[] = {
            {FLX_SYNC_INCLUDE_HIDDEN, sync_options.include_hidden},
            {FLX_SYNC_FOLLOW_SYMLINKS, sync_options.follow_symlinks},
            {FLX_SYNC_DRY_RUN, sync_options.dry_run},
            {FLX_SYNC_ALLOW_PARTIAL, sync_options.allow_partial},
            {FLX_SYNC_IN_PLACE, sync_options.in_place},
            {FLX_SYNC_PRESERVE_MTIME, sync_options.preserve_mtime},
            {FLX_SYNC_OVERWRITE, sync_options.overwrite},
        };
        for (const auto &f : flags)
            if (f.second) detail::check(flx_sync_options_set_flag(so.get(), static_cast<int>(f.first), true));
        detail::check(flx_sync_options_set_if_larger(so.get(), static_cast<int>(sync_options.if_larger)));
        if (!sync_options.backup_dir.empty())
            detail::check(flx_sync_options_set_backup_dir(
                so.get(), detail::c_path(sync_options.backup_dir, "backup folder").c_str()));

        detail::NativeOptions native(options);
        detail::SyncBridge bridge{&callbacks, nullptr};
        const bool watch = callbacks.on_plan || callbacks.on_file;
        flx_sync_report *raw = nullptr;
        const flx_status st = flx_sync(client_.get(), s.c_str(), o.c_str(), native.get(), so.get(),
                                       watch ? &detail::SyncBridge::on_event : nullptr,
                                       watch ? &bridge : nullptr, nullptr, &raw);
        std::unique_ptr<flx_sync_report, detail::SyncReportDeleter> report(raw);
        if (st != FLX_OK && st != FLX_PARTIAL) {
            Error e = detail::last_error(st);
            if (bridge.error) std::rethrow_exception(bridge.error);
            native.rethrow_callback_error();
            throw e;
        }
        if (bridge.error) std::rethrow_exception(bridge.error);
        native.rethrow_callback_error();
        if (!report) throw Error(Status::Internal, "the library returned no sync report");

        const flx_sync_report *r = report.get();
        SyncReport out_report;
        out_report.plan = detail::sync_plan(r);
        out_report.up_to_date = detail::sync_num(r, FLX_SYNC_UP_TO_DATE_FILES);
        out_report.compressed = detail::sync_num(r, FLX_SYNC_COMPRESSED_FILES);
        out_report.kept_original = detail::sync_num(r, FLX_SYNC_KEPT_ORIGINAL_FILES);
        out_report.skipped = detail::sync_num(r, FLX_SYNC_SKIPPED_FILES);
        out_report.conflicts = detail::sync_num(r, FLX_SYNC_CONFLICT_FILES);
        out_report.failed = detail::sync_num(r, FLX_SYNC_FAILED_FILES);
        out_report.not_done = detail::sync_num(r, FLX_SYNC_NOT_DONE_FILES);
        out_report.bytes_in = detail::sync_num(r, FLX_SYNC_BYTES_IN);
        out_report.bytes_out = detail::sync_num(r, FLX_SYNC_BYTES_OUT);
        out_report.credits_spent = detail::sync_num(r, FLX_SYNC_CREDITS_SPENT);
        out_report.requests = detail::sync_num(r, FLX_SYNC_REQUESTS);
        out_report.elapsed = std::chrono::milliseconds(detail::sync_num(r, FLX_SYNC_ELAPSED_MS));
        const std::size_t n = flx_sync_report_event_count(r);
        out_report.files.reserve(n);
        for (std::size_t i = 0; i < n; i++) {
            flx_sync_event e{};
            detail::check(flx_sync_report_event(r, i, &e));
            out_report.files.push_back(detail::sync_file(e));
        }
        return out_report;
    }

    /// The C handle, owned by this client (and by the batches it made); use it for C functions
    /// this header does not wrap, never free it.
    flx_client *native_handle() const noexcept { return client_.get(); }

  private:
    struct KeyTag {};
    static const char *non_null(const char *key) {
        if (!key) detail::invalid("the API key is a null pointer; Client::from_env() reads FLUXIMAGE_API_KEY");
        return key;
    }
    Client(KeyTag, const char *key, const Config &config) : client_(flx_client_new(key), detail::ClientDeleter()) {
        if (!client_) detail::throw_last(FLX_INVALID_ARGUMENT);
        flx_client *c = client_.get();
        if (!config.base_url.empty())
            detail::check(flx_client_set_base_url(c, detail::c_string(config.base_url, "base_url").c_str()));
        if (config.connect_timeout.count() || config.read_timeout.count() || config.total_timeout.count())
            detail::check(flx_client_set_timeouts(
                c, detail::to_u32(config.connect_timeout.count(), "connect_timeout"),
                detail::to_u32(config.read_timeout.count(), "read_timeout"),
                detail::to_u32(config.total_timeout.count(), "total_timeout")));
        if (!config.proxy.empty())
            detail::check(flx_client_set_proxy(c, detail::c_string(config.proxy, "proxy").c_str()));
        if (!config.ca_file.empty())
            detail::check(flx_client_set_ca_file(c, detail::c_path(config.ca_file, "ca_file").c_str()));
        if (config.retries) detail::check(flx_client_set_retries(c, *config.retries));
        if (config.retry_after_upload) detail::check(flx_client_set_retry_after_upload(c, true));
        if (config.concurrency)
            detail::check(flx_client_set_concurrency(c, config.concurrency));
        if (!config.user_agent_suffix.empty())
            detail::check(flx_client_set_user_agent(
                c, detail::c_string(config.user_agent_suffix, "user_agent_suffix").c_str()));
    }

    // A batch is returned for FLX_OK and FLX_PARTIAL (some images failed: each Result says
    // why); any other status throws (after a progress function's own exception), with the
    // batch attached when the library made one.
    Batch finish_batch(const detail::NativeOptions &native, flx_status st, flx_batch *out) const {
        auto state = std::make_shared<detail::BatchState>();
        state->client = client_;
        state->batch.reset(out); // owned before anything can throw
        if (st != FLX_OK && st != FLX_PARTIAL) {
            Error e = detail::last_error(st);
            native.rethrow_callback_error();
            if (out) e.batch_ = std::move(state);
            throw e;
        }
        native.rethrow_callback_error();
        if (!out) throw Error(Status::Internal, "the library returned no batch");
        return Batch(std::move(state));
    }

    std::shared_ptr<flx_client> client_;
};

inline std::optional<Batch> Error::batch() const {
    if (!batch_) return std::nullopt;
    return Batch(batch_);
}

} // namespace fluximage

#endif // FLUXIMAGE_HPP
