// compress_folder: compresses the images of a folder with libfluximage into another folder,
// saving each result as soon as its request answers, without replacing any file (unless
// asked), and prints a table. An image whose result could not be saved is not sent, so a
// second run into the same folder costs nothing.
//
//   compress_folder [--format webp|avif|jpg|png] [--rename|--overwrite] INPUT_DIR OUTPUT_DIR
//
// The key comes from FLUXIMAGE_API_KEY (and the API origin from FLUXIMAGE_BASE_URL, if set).
// Exit status: 0 all saved, 1 some image failed or was not saved, 2 bad usage or no batch.
#include <fluximage.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fs = std::filesystem;

namespace {

int usage() {
    std::cerr << "usage: compress_folder [--format webp|avif|jpg|png] [--rename|--overwrite] INPUT_DIR OUTPUT_DIR\n";
    return 2;
}

bool is_image(const fs::path &p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".webp" || ext == ".gif";
}

std::string kib(std::optional<std::uint64_t> bytes) {
    if (!bytes) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(*bytes) / 1024.0);
    return buf;
}

} // namespace

int main(int argc, char **argv) {
    fluximage::CompressOptions options;
    fluximage::ExistsPolicy policy = fluximage::ExistsPolicy::Error;
    std::vector<std::string_view> dirs;
    for (int i = 1; i < argc; i++) {
        const std::string_view a = argv[i];
        if (a == "--format" && i + 1 < argc) {
            const std::string_view f = argv[++i];
            if (f == "webp") options.format = fluximage::Format::Webp;
            else if (f == "avif") options.format = fluximage::Format::Avif;
            else if (f == "jpg") options.format = fluximage::Format::Jpg;
            else if (f == "png") options.format = fluximage::Format::Png;
            else return usage();
        } else if (a == "--rename") {
            policy = fluximage::ExistsPolicy::Rename;
        } else if (a == "--overwrite") {
            policy = fluximage::ExistsPolicy::Overwrite;
        } else if (!a.empty() && a[0] == '-') {
            return usage();
        } else {
            dirs.push_back(a);
        }
    }
    if (dirs.size() != 2) return usage();
    const fs::path in_dir(dirs[0]), out_dir(dirs[1]);

    std::vector<fs::path> inputs;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(in_dir, ec))
        if (entry.is_regular_file() && is_image(entry.path())) inputs.push_back(entry.path());
    if (ec) {
        std::cerr << "compress_folder: cannot read " << in_dir << ": " << ec.message() << "\n";
        return 2;
    }
    if (inputs.empty()) {
        std::cerr << "compress_folder: no images in " << in_dir << "\n";
        return 2;
    }
    std::sort(inputs.begin(), inputs.end());

    try {
        const fluximage::Client client = fluximage::Client::from_env();
        // Results land in out_dir (made if missing) while the next request uploads; names are
        // checked under `policy` before anything is sent.
        options.output_dir = out_dir;
        options.output_exists = policy;
        const fluximage::Batch batch = [&] {
            try {
                return client.compress(inputs, options);
            } catch (const fluximage::Error &e) {
                // Every name was taken: nothing was sent, and each image says so below.
                if (e.status() == fluximage::Status::Exists)
                    if (auto b = e.batch()) return *b;
                throw;
            }
        }();

        int problems = 0;
        std::printf("%-28s %-28s %12s %12s  %s\n", "input", "output", "before", "after", "saved as");
        for (const fluximage::Result &r : batch) {
            const std::string input = fs::path(r.input()).filename().string();
            if (!r.ok()) {
                // Status::Exists: a file is there and the policy keeps it (nothing was sent).
                const char *what = r.status() == fluximage::Status::Exists ? "not saved" : "failed";
                std::printf("%-28s %s: %s\n", input.c_str(), what, r.error().c_str());
                problems++;
                continue;
            }
            std::printf("%-28s %-28s %12s %12s  %s\n", input.c_str(), r.name().c_str(),
                        kib(r.original_size()).c_str(), kib(r.size()).c_str(), r.path().string().c_str());
        }
        return problems == 0 ? 0 : 1;
    } catch (const fluximage::Error &e) {
        std::cerr << "compress_folder: " << e.what() << " (" << fluximage::to_string(e.status());
        if (e.http_status() != 0) std::cerr << ", HTTP " << e.http_status();
        if (e.retry_after()) std::cerr << ", retry after " << e.retry_after()->count() << " ms";
        std::cerr << ")\n";
        return 2;
    }
}
