// Which str and bytes values the walker asks the Python redactor about (pyheapdump/dump/redaction.py).
//
// Calling into Python for every string would cost more than the rest of the dump, so this filter decides in C++. It is
// exact in one direction: every value that the default patterns or one of the literal secrets would change passes it
// (each check below is a condition that a match of a default pattern cannot do without); most ordinary values do not.
// With patterns of the user's own, the walker asks about every value instead (Walker's redact_every_string).
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace pyheapdump {

class SecretFilter {
 public:
  // literals: secrets matched as they are (token-like environment values, the user's extra secrets), UTF-8.
  explicit SecretFilter(std::vector<std::string> literals = {});

  // Whether `text` (a str's UTF-8 when is_str, else a bytes value) could hold a secret.
  bool MayHoldSecret(std::string_view text, bool is_str) const;

 private:
  bool MatchesDefaultPatterns(std::string_view text, bool is_str) const;
  bool ContainsLiteral(std::string_view text) const;
  uint64_t KeyAt(std::string_view text, size_t position) const;
  static size_t Bucket(uint64_t key) {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - kBucketBits));
  }

  static constexpr int kBucketBits = 16;

  std::vector<std::string> literals_;
  size_t shortest_literal_ = 0;
  size_t key_length_ = 0;  // the first bytes of every literal that key it: min(8, shortest_literal_)
  uint64_t key_mask_ = 0;
  std::bitset<(1u << kBucketBits)> key_buckets_;                 // a quick "no" for most positions
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> by_key_;  // key -> indices into literals_
};

}  // namespace pyheapdump
