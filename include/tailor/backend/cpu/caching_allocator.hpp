#pragma once
// An allocator for activation tensors that keeps freed blocks for reuse. A training step allocates
// the same tensor sizes every time; going to the system for them each step costs page faults and
// zeroing (measured: ~27% of a small CNN's step on this machine, docs/performance.md). Blocks of at
// least 64 KiB are cached by exact size, up to a cap (1 GiB by default); smaller ones go to malloc.
// Like PyTorch's CUDA caching allocator, cached memory stays with the process until
// release_cached_memory() is called.
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace tailor::backend::cpu_detail {

class block_cache {
 public:
  static block_cache& instance() {
    static block_cache cache;
    return cache;
  }
  static constexpr std::size_t min_cached_bytes = 64 * 1024;

  void* get(std::size_t bytes) {
    if (bytes >= min_cached_bytes) {
      std::lock_guard lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= bytes;
        return p;
      }
    }
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
  }

  void put(void* p, std::size_t bytes) {
    if (bytes >= min_cached_bytes) {
      std::lock_guard lock(mutex_);
      if (cached_bytes_ + bytes <= limit_bytes_) {
        free_[bytes].push_back(p);
        cached_bytes_ += bytes;
        return;
      }
    }
    std::free(p);
  }

  // Returns every cached block to the system (e.g. between trials of different input sizes).
  void release() {
    std::lock_guard lock(mutex_);
    for (auto& [bytes, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_bytes_ = 0;
  }
  void set_limit(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    limit_bytes_ = bytes;
  }
  std::size_t cached_bytes() {
    std::lock_guard lock(mutex_);
    return cached_bytes_;
  }
  ~block_cache() { release(); }

 private:
  block_cache() = default;
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_bytes_ = 0, limit_bytes_ = std::size_t{1} << 30;
};

template <class T>
struct caching_allocator {
  using value_type = T;
  caching_allocator() noexcept = default;
  template <class U>
  caching_allocator(const caching_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(block_cache::instance().get(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { block_cache::instance().put(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const caching_allocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace tailor::backend::cpu_detail
