// A caching CPU allocator for torch: large freed blocks are kept and handed to a later request that
// fits them, so the tensors of a training step or a long simulation reuse memory whose pages are
// already mapped instead of having the kernel fault in and zero fresh pages on first touch.
// (spikemask/allocator.py says why and when; torch's CUDA caching allocator does the same on GPU.)
//
// Every block carries a 64-byte header in front of its data that holds the block's size, so the one
// deleter knows how to release any block. Blocks under kLarge bytes go straight to c10's
// alloc_cpu/free_cpu; larger ones are rounded up to a size class (at most 1/8 above the request)
// and, when freed, cached while the cache holds at most `limit` bytes. A request takes the smallest
// cached block of its class up to twice its size: a network's layers have many shapes, and keeping
// each class's blocks apart would hold each shape's peak separately (the demo's peak memory: 3.7 GB
// with this rule, 5.0 GB with exact classes, 2.6 GB with glibc's malloc).
#include <torch/extension.h>

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <pthread.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace {

constexpr size_t kHeader = 64;       // keeps the data 64-byte aligned, as c10's own allocator does
constexpr size_t kLarge = 1 << 20;   // blocks from 1 MiB up are cached
constexpr size_t kReuse = 2;         // a request may take a cached block up to twice its size

// The size class of a large block of `bytes` (header included): a multiple of 1/8 of the highest
// power of two not above it.
size_t size_class(size_t bytes) {
  size_t top = size_t{1} << (63 - __builtin_clzll(bytes));
  size_t step = top / 8;
  return (bytes + step - 1) / step * step;
}

class CachingCPUAllocator final : public c10::Allocator {
 public:
  explicit CachingCPUAllocator(size_t limit) : limit_(limit) {}

  c10::DataPtr allocate(size_t n) override {
    if (n == 0) return {nullptr, nullptr, &release, c10::Device(c10::DeviceType::CPU)};
    const size_t bytes = n + kHeader;
    char* base = nullptr;
    size_t size = bytes;
    if (bytes < kLarge) {
      base = static_cast<char*>(c10::alloc_cpu(bytes));
    } else {
      size = size_class(bytes);
      base = take(size);
      if (base == nullptr) base = fresh(size);
    }
    *reinterpret_cast<size_t*>(base) = size;
    void* data = base + kHeader;
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  // Bytes held in the cache (freed, not returned).
  size_t cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

  // The child of fork() gets its own unlocked mutex (another thread may have held it in the parent).
  void after_fork_in_child() { new (&mutex_) std::mutex(); }

  static void release(void* data);

 private:
  // The smallest cached block of `size` bytes up to kReuse times that, or nullptr (with `size` set
  // to the block's size).
  char* take(size_t& size) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.lower_bound(size);
    if (it == free_.end() || it->first > kReuse * size) return nullptr;
    char* base = it->second.back();
    size = it->first;
    it->second.pop_back();
    if (it->second.empty()) free_.erase(it);
    cached_ -= size;
    return base;
  }

  // New memory for a large block; when the system has none, the cache is emptied and it is asked again.
  char* fresh(size_t size) {
    void* base = nullptr;
    if (posix_memalign(&base, kHeader, size) != 0) {
      empty_cache();
      TORCH_CHECK_WITH(OutOfMemoryError, posix_memalign(&base, kHeader, size) == 0,
                        "spikemask caching CPU allocator: can't allocate memory: you tried to allocate ",
                        size, " bytes");
    }
    return static_cast<char*>(base);
  }

  void give_back(char* base, size_t size) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + size <= limit_) {
        free_[size].push_back(base);
        cached_ += size;
        return;
      }
    }
    std::free(base);
  }

  void empty_cache() {
    std::map<size_t, std::vector<char*>> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      blocks.swap(free_);
      cached_ = 0;
    }
    for (auto& entry : blocks)
      for (char* base : entry.second) std::free(base);
  }

  const size_t limit_;
  std::mutex mutex_;
  std::map<size_t, std::vector<char*>> free_;  // size class -> cached blocks (never empty)
  size_t cached_ = 0;
};

CachingCPUAllocator* instance = nullptr;  // never destroyed: tensors may be freed during interpreter exit

void CachingCPUAllocator::release(void* data) {
  if (data == nullptr) return;
  char* base = static_cast<char*>(data) - kHeader;
  const size_t size = *reinterpret_cast<size_t*>(base);
  if (size < kLarge) c10::free_cpu(base);
  else instance->give_back(base, size);
}

}  // namespace

// Make the caching allocator torch's CPU allocator (once per process; later calls change nothing).
// Returns whether it is the CPU allocator now.
bool install_caching_allocator(int64_t limit_bytes) {
  if (instance == nullptr) {
    instance = new CachingCPUAllocator(static_cast<size_t>(limit_bytes));
    pthread_atfork(nullptr, nullptr, [] { instance->after_fork_in_child(); });
    c10::SetCPUAllocator(instance, /*priority=*/0);
  }
  return c10::GetCPUAllocator() == instance;
}

// Bytes the caching allocator holds for reuse (0 when it is not installed).
int64_t cached_bytes() { return instance == nullptr ? 0 : static_cast<int64_t>(instance->cached()); }
