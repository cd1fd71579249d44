#pragma once
// Where the pipeline gets decoded images: each file decoded at a bounded size (longer side at
// most max_side, aspect kept, never enlarged; JPEGs use DCT-domain scaling so this is cheaper than
// a full decode), and kept in memory when the whole set fits the cache budget. Small datasets —
// the few-shot case — are then decoded once for all epochs and all trials.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "../core/file_io.hpp"
#include "../data/image.hpp"
#include "../data/image_decode.hpp"
#include "../data/image_info.hpp"

namespace tailor::pipeline {

struct image_store_options {
  int max_side = 320;                                // decoded images' longer side (at most)
  std::size_t cache_bytes = std::size_t{1} << 30;   // keep decoded images when they all fit
  int threads = 0;                                   // for preloading; 0: hardware threads
};

class image_store {
 public:
  image_store(std::vector<std::filesystem::path> files, const image_store_options& o) : files_(std::move(files)), o_(o) {}

  std::size_t size() const { return files_.size(); }
  const std::filesystem::path& path(std::size_t i) const { return files_[i]; }

  // The image at the store's resolution (from the cache when preloaded).
  data::image get(std::size_t i) const {
    if (!cache_.empty()) return cache_[i];
    return decode(files_[i], o_.max_side);
  }
  const data::image* cached(std::size_t i) const { return cache_.empty() ? nullptr : &cache_[i]; }
  // The image at i without a copy when it is cached; otherwise decoded into `scratch`.
  const data::image& image_at(std::size_t i, data::image& scratch) const {
    if (const data::image* c = cached(i)) return *c;
    scratch = decode(files_[i], o_.max_side);
    return scratch;
  }

  // Decodes every image in parallel and keeps them if their total size fits the budget (the
  // estimate from the headers decides before anything is decoded). Returns whether it cached.
  bool preload() {
    std::size_t estimate = 0;
    for (const auto& f : files_) {
      const auto info = data::read_image_info(f);
      const auto [w, h] = bounded(info.width(), info.height(), o_.max_side);
      estimate += std::size_t(w) * h * 3 + sizeof(data::image);
    }
    if (estimate > o_.cache_bytes) return false;
    std::vector<data::image> images(files_.size());
    const int threads = o_.threads > 0 ? o_.threads : int(std::max(1u, std::thread::hardware_concurrency()));
    std::atomic<std::size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    {
      std::vector<std::jthread> workers;
      for (int t = 0; t < threads; ++t)
        workers.emplace_back([&] {
          for (std::size_t i; (i = next++) < files_.size();) {
            try {
              images[i] = decode(files_[i], o_.max_side);
            } catch (...) {
              std::lock_guard lock(failure_mutex);
              if (!failure) failure = std::current_exception();
              next = files_.size();
            }
          }
        });
    }
    if (failure) std::rethrow_exception(failure);
    cache_ = std::move(images);
    return true;
  }
  bool is_cached() const { return !cache_.empty(); }

  static std::pair<int, int> bounded(int w, int h, int max_side) {
    const int longer = std::max(w, h);
    if (max_side <= 0 || longer <= max_side) return {w, h};
    const double k = double(max_side) / longer;
    return {std::max(1, int(std::lround(w * k))), std::max(1, int(std::lround(h * k)))};
  }

  static data::image decode(const std::filesystem::path& file, int max_side) {
    const auto bytes = read_file(file);
    const auto info = data::read_image_info(bytes, file.string());
    const auto [w, h] = bounded(info.width(), info.height(), max_side);
    return data::decode_resized(bytes, file.string(), w, h);
  }

 private:
  std::vector<std::filesystem::path> files_;
  image_store_options o_;
  std::vector<data::image> cache_;
};

}  // namespace tailor::pipeline
