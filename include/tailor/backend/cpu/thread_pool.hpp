#pragma once
// The CPU backend's one pool of threads: fork-join over an index range with a static partition
// (thread t always gets the same slice for the same range and thread count, so results do not
// depend on scheduling). Waiting threads spin briefly, then sleep on C++20 atomic waits (a futex).
// OpenMP was measured against it on this 2-core machine: its threads keep spinning between
// regions, and when the machine is busy (another process, the data loader) they take the cores
// from the thread that has work — a training step of the test suite took 7-9 s instead of 1 s.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define TAILOR_CPU_RELAX() _mm_pause()
#else
#define TAILOR_CPU_RELAX() ((void)0)
#endif

namespace tailor::backend::cpu_detail {

class thread_pool {
 public:
  static thread_pool& instance() {
    static thread_pool pool;
    return pool;
  }

  int threads() const { return threads_; }

  // Total threads including the caller; 1 runs everything on the caller.
  void set_threads(int n) {
    std::lock_guard lock(run_mutex_);
    n = std::max(1, n);
    if (n == threads_) return;
    stop_workers();
    threads_ = n;
    start_workers();
  }

  // body(begin, end) on each thread's slice of [0, n). Nested or concurrent calls run serially.
  void run(std::int64_t n, const std::function<void(std::int64_t, std::int64_t)>& body) {
    if (n <= 0) return;
    std::unique_lock lock(run_mutex_, std::try_to_lock);
    if (!lock.owns_lock() || inside_pool() || threads_ == 1 || n == 1) {
      body(0, n);
      return;
    }
    const int t = int(std::min<std::int64_t>(threads_, n));
    job_ = &body;
    n_ = n;
    active_ = t;
    pending_.store(t - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    inside_pool() = true;
    body(0, n / t);
    inside_pool() = false;
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < 1000) {
        TAILOR_CPU_RELAX();
      } else {
        const int left = pending_.load(std::memory_order_acquire);
        if (left != 0) pending_.wait(left, std::memory_order_acquire);
      }
    }
    job_ = nullptr;
  }

  ~thread_pool() {
    std::lock_guard lock(run_mutex_);
    stop_workers();
  }

 private:
  thread_pool() {
    threads_ = int(std::max(1u, std::thread::hardware_concurrency()));
    start_workers();
  }

  static bool& inside_pool() {
    static thread_local bool inside = false;
    return inside;
  }

  void start_workers() {
    stop_ = false;
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  void stop_workers() {
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    workers_.clear();  // joins
  }

  void work(int index) {
    inside_pool() = true;
    std::uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      // stop_ is checked too: a worker that starts after stop_workers() bumped the generation
      // would otherwise wait for a change that never comes.
      for (int spin = 0; generation_.load(std::memory_order_acquire) == seen && !stop_; ++spin) {
        if (spin < 1000) TAILOR_CPU_RELAX();
        else generation_.wait(seen, std::memory_order_acquire);
      }
      seen = generation_.load(std::memory_order_acquire);
      if (stop_) return;
      if (index < active_) {
        const std::int64_t begin = n_ * index / active_, end = n_ * (index + 1) / active_;
        (*job_)(begin, end);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
      }
    }
  }

  std::mutex run_mutex_;
  std::vector<std::jthread> workers_;
  int threads_ = 1;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  const std::function<void(std::int64_t, std::int64_t)>* job_ = nullptr;
  std::int64_t n_ = 0;
  int active_ = 0;
  std::atomic<bool> stop_{false};
};

}  // namespace tailor::backend::cpu_detail
