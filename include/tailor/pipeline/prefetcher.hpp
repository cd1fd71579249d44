#pragma once
// What the classification and the detection loaders share: the epoch's sample order (a seeded
// permutation, the same on every platform), each sample's augmentation seed, a prefetcher that
// builds the batches of an epoch ahead on worker threads and hands them out in order, and
// epoch_batches, which ties them to a subset of a store. A batch is built from its samples and the
// epoch alone, so its contents never depend on which worker built it or when.
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../backend/cpu/parallel.hpp"  // splitmix64
#include "../core/error.hpp"

namespace tailor::pipeline {

// The samples of an epoch in the order they are served: shuffled (Fisher-Yates with our own
// generator) when training, as given otherwise.
inline std::vector<std::uint32_t> epoch_order(std::vector<std::uint32_t> subset, bool shuffle, std::uint64_t seed, std::int64_t epoch) {
  if (shuffle) {
    std::mt19937_64 r(backend::cpu_detail::splitmix64(seed ^ (std::uint64_t(epoch) * 0x9E3779B97F4A7C15ull)));
    for (std::size_t i = subset.size(); i > 1; --i) std::swap(subset[i - 1], subset[r() % i]);
  }
  return subset;
}

// The seed of sample i's augmentation in an epoch.
inline std::uint64_t sample_seed(std::uint64_t seed, std::int64_t epoch, std::uint32_t i) {
  return backend::cpu_detail::splitmix64(seed + 0x51ED27ull * std::uint64_t(epoch) + 0x2545F491ull * i);
}

template <class Batch>
class prefetcher {
 public:
  // workers: threads building batches; ahead: batches built before they are asked for.
  prefetcher(int workers, int ahead) : workers_count_(std::max(1, workers)), ahead_(std::max(1, ahead)) {}
  ~prefetcher() { stop(); }
  prefetcher(const prefetcher&) = delete;
  prefetcher& operator=(const prefetcher&) = delete;

  // Starts building batches 0 .. total - 1 (stopping the previous run first).
  void start(std::size_t total, std::function<Batch(std::size_t)> build) {
    stop();
    build_ = std::move(build);
    total_ = total;
    next_to_build_ = next_to_return_ = 0;
    stopping_ = false;
    failure_ = nullptr;
    ready_.clear();
    for (int t = 0; t < workers_count_; ++t) workers_.emplace_back([this] { work(); });
  }

  // The next batch, or nullopt after the last. Rethrows the failure of a worker's build.
  std::optional<Batch> next() {
    std::unique_lock lock(mutex_);
    if (next_to_return_ >= total_) return std::nullopt;
    const std::size_t want = next_to_return_;
    auto is_wanted = [&](const auto& e) { return e.first == want; };
    ready_cv_.wait(lock, [&] { return failure_ || std::any_of(ready_.begin(), ready_.end(), is_wanted); });
    if (failure_) std::rethrow_exception(failure_);
    auto it = std::find_if(ready_.begin(), ready_.end(), is_wanted);
    Batch b = std::move(it->second);
    ready_.erase(it);
    ++next_to_return_;
    space_cv_.notify_all();
    return b;
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    space_cv_.notify_all();
    workers_.clear();  // joins
  }

 private:
  void work() {
    for (;;) {
      std::size_t index;
      {
        std::unique_lock lock(mutex_);
        space_cv_.wait(lock, [&] { return stopping_ || next_to_build_ >= total_ || next_to_build_ < next_to_return_ + std::size_t(ahead_); });
        if (stopping_ || next_to_build_ >= total_) return;
        index = next_to_build_++;
      }
      try {
        Batch b = build_(index);
        std::lock_guard lock(mutex_);
        ready_.emplace_back(index, std::move(b));
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!failure_) failure_ = std::current_exception();
      }
      ready_cv_.notify_all();
    }
  }

  int workers_count_ = 1, ahead_ = 1;
  std::function<Batch(std::size_t)> build_;
  std::size_t total_ = 0, next_to_build_ = 0, next_to_return_ = 0;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::deque<std::pair<std::size_t, Batch>> ready_;
  std::mutex mutex_;
  std::condition_variable ready_cv_, space_cv_;
  std::vector<std::jthread> workers_;
};

// How a loader cuts an epoch into batches.
struct epoch_options {
  int batch_size = 32;
  bool shuffle = true;     // a seeded new order every epoch (training); else the subset's order
  bool drop_last = false;  // when shuffling: drop a last partial batch
  int workers = 2, prefetch = 2;
  std::uint64_t seed = 0;
};

// The batches of a subset of a store's samples, epoch after epoch: build(samples, epoch) makes the
// batch of those samples (in order); the batches come out in order, built ahead by the workers.
template <class Batch>
class epoch_batches {
 public:
  using builder = std::function<Batch(std::span<const std::uint32_t>, std::int64_t)>;

  // subset: the samples served (empty: all of the store's `store_size`); `who` names the loader
  // in errors.
  epoch_batches(std::string_view who, std::size_t store_size, std::vector<std::uint32_t> subset, const epoch_options& o,
                builder build)
      : o_(o), subset_(std::move(subset)), build_(std::move(build)), prefetcher_(o.workers, o.prefetch) {
    if (subset_.empty()) {
      subset_.resize(store_size);
      for (std::uint32_t i = 0; i < subset_.size(); ++i) subset_[i] = i;
    }
    for (auto i : subset_)
      if (i >= store_size)
        throw error(failure_code::invalid_argument,
                    fmt::format("{}: sample {} of the subset is not in the store ({} images)", who, i, store_size));
    if (o_.batch_size <= 0) o_.batch_size = 1;
  }

  std::size_t batches_per_epoch() const {
    const std::size_t n = subset_.size(), b = std::size_t(o_.batch_size);
    return (o_.shuffle && o_.drop_last && n >= b) ? n / b : (n + b - 1) / b;
  }

  void start_epoch(std::int64_t epoch) {
    prefetcher_.stop();  // no worker may read the order while it changes
    order_ = epoch_order(subset_, o_.shuffle, o_.seed, epoch);
    prefetcher_.start(batches_per_epoch(), [this, epoch](std::size_t index) {
      const std::size_t begin = index * std::size_t(o_.batch_size);
      const std::size_t end = std::min(order_.size(), begin + std::size_t(o_.batch_size));
      return build_(std::span<const std::uint32_t>(order_).subspan(begin, end - begin), epoch);
    });
  }

  // The next batch of the epoch, or nullopt at its end. Rethrows a build's failure (a file that
  // cannot be decoded, naming the file).
  std::optional<Batch> next() { return prefetcher_.next(); }

 private:
  epoch_options o_;
  std::vector<std::uint32_t> subset_, order_;
  builder build_;
  prefetcher<Batch> prefetcher_;  // last: its workers stop before the rest goes
};

}  // namespace tailor::pipeline
