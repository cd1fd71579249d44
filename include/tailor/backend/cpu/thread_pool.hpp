#pragma once
// The CPU backend's one pool of threads: fork-join over an index range with a static partition
// (thread t always gets the same slice for the same range and thread count, so results do not
// depend on scheduling). Waiting threads spin briefly, then sleep on a condition variable.
// OpenMP was measured against it on this 2-core machine: its threads keep spinning between
// regions, and when the machine is busy (another process, the data loader) they take the cores
// from the thread that has work — a training step of the test suite took 7-9 s instead of 1 s.
#include <algorithm>
#include <atomic>
#include <condition_variable>
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
    {
      std::lock_guard wake(wake_mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_cv_.notify_all();
    inside_pool() = true;
    body(0, n / t);
    inside_pool() = false;
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < spin_limit) {
        TAILOR_CPU_RELAX();
      } else {
        std::unique_lock done(done_mutex_);
        done_cv_.wait(done, [&] { return pending_.load(std::memory_order_acquire) == 0; });
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

  // Each worker starts from the generation current now (no run is in progress: the constructor,
  // or set_threads under run_mutex_). Reading it in the new thread instead loses the first job
  // when run() bumps the generation before the thread gets there: run() then waits forever.
  void start_workers() {
    stop_ = false;
    const std::uint64_t start = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i, start] { work(i, start); });
  }
  void stop_workers() {
    {
      std::lock_guard wake(wake_mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_cv_.notify_all();
    workers_.clear();  // joins
  }

  void work(int index, std::uint64_t seen) {
    inside_pool() = true;
    for (;;) {
      // stop_ is checked too: a worker that starts after stop_workers() bumped the generation
      // would otherwise wait for a change that never comes.
      for (int spin = 0; generation_.load(std::memory_order_acquire) == seen && !stop_; ++spin) {
        if (spin < spin_limit) {
          TAILOR_CPU_RELAX();
        } else {
          std::unique_lock wake(wake_mutex_);
          wake_cv_.wait(wake, [&] { return generation_.load(std::memory_order_acquire) != seen || stop_; });
        }
      }
      seen = generation_.load(std::memory_order_acquire);
      if (stop_) return;
      if (index < active_) {
        const std::int64_t begin = n_ * index / active_, end = n_ * (index + 1) / active_;
        (*job_)(begin, end);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard done(done_mutex_);  // the waiter checks pending_ under this mutex
          done_cv_.notify_one();
        }
      }
    }
  }

  // Spins (about a microsecond each) before sleeping: long enough to catch the next region of a
  // training step, short enough not to take the core from others on a busy machine.
  static constexpr int spin_limit = 1000;
  std::mutex run_mutex_;
  std::mutex wake_mutex_, done_mutex_;
  std::condition_variable wake_cv_, done_cv_;
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
