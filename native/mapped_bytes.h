// Bytes in an anonymous mapping of their own: the reader's chunk buffers and the record store's blocks. Plain C++:
// no Python.
#pragma once

#include <cstddef>
#include <utility>

namespace pyheapdump {

// Freeing them returns the pages at once and leaves malloc's thresholds alone: freeing an 8 MiB block from malloc
// raises glibc's mmap threshold, and a load's later large blocks then come from the heap, which gave a higher peak
// than keeping the block; and glibc serves blocks of a store's size from its heap, which a free may not give back.
class MappedBytes {
 public:
  MappedBytes() = default;
  ~MappedBytes() { Reset(); }
  MappedBytes(const MappedBytes&) = delete;
  MappedBytes& operator=(const MappedBytes&) = delete;
  MappedBytes(MappedBytes&& other) noexcept { swap(other); }
  MappedBytes& operator=(MappedBytes&& other) noexcept {
    MappedBytes gone(std::move(*this));  // freed at the end of this call, whatever `other` was
    swap(other);
    return *this;
  }

  // Replaces the bytes with `size` new ones (zero). False, keeping the old ones, when there is no memory for them.
  bool Allocate(size_t size);
  void Reset();
  char* get() const { return data_; }
  void swap(MappedBytes& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pyheapdump
