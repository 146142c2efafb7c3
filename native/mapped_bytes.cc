#include "mapped_bytes.h"

#include <sys/mman.h>

namespace pyheapdump {

bool MappedBytes::Allocate(size_t size) {
  void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return false;
  Reset();
  data_ = static_cast<char*>(mapped);
  size_ = size;
  return true;
}

void MappedBytes::Reset() {
  if (data_) munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace pyheapdump
