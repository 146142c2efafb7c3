#include "secret_filter.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace pyheapdump {
namespace {

// The shortest text a default pattern matches: "://a:b@", a URL's user and password.
constexpr size_t kShortestDefaultMatch = 7;
// The high-entropy token pattern: 32+ characters of [A-Za-z0-9_\-+/] mixing upper case, lower case and digits.
constexpr size_t kShortestEntropyToken = 32;

enum CharClass : uint8_t {
  kToken = 1,  // [A-Za-z0-9_\-+/]: the alphabet of the high-entropy token pattern
  kUpper = 2,
  kLower = 4,
  kDigit = 8,
  kStarts = 16,  // a character some default pattern's fixed text starts with, or needs: = : - A g x e
};

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> classes{};
  for (int c = 'A'; c <= 'Z'; ++c) classes[c] = kToken | kUpper;
  for (int c = 'a'; c <= 'z'; ++c) classes[c] = kToken | kLower;
  for (int c = '0'; c <= '9'; ++c) classes[c] = kToken | kDigit;
  for (char c : {'_', '-', '+', '/'}) classes[static_cast<uint8_t>(c)] |= kToken;
  for (char c : {'=', ':', '-', 'A', 'g', 'x', 'e'}) classes[static_cast<uint8_t>(c)] |= kStarts;
  return classes;
}

constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

bool HasAt(std::string_view text, size_t position, std::string_view fixed) {
  return text.size() - position >= fixed.size() && text.compare(position, fixed.size(), fixed) == 0;
}

bool OneOf(char c, std::string_view set) { return set.find(c) != std::string_view::npos; }

bool EndsWithIgnoringAsciiCase(std::string_view text, std::string_view lower_suffix) {
  if (text.size() < lower_suffix.size()) return false;
  std::string_view tail = text.substr(text.size() - lower_suffix.size());
  for (size_t i = 0; i < tail.size(); ++i) {
    char c = tail[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower_suffix[i]) return false;
  }
  return true;
}

// Whether the '=' or ':' at `position` follows a key name of the password/token pattern or the AWS secret key pattern:
// the name, an optional quote, then blanks ((?i)(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth)
// ["']?\s{0,3}[=:] and (?i)aws_?secret_?access_?key\s*[=:]). ASCII text only: under re.IGNORECASE a str's non-ASCII
// letters can match (the Kelvin sign matches k), so the caller does not ask this about non-ASCII str values.
bool KeyNameBefore(std::string_view text, size_t position) {
  std::string_view before = text.substr(0, position);
  auto blank = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); };
  while (!before.empty() && blank(before.back())) before.remove_suffix(1);
  if (!before.empty() && (before.back() == '"' || before.back() == '\'')) before.remove_suffix(1);
  for (std::string_view name : {"password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "api-key",
                                "accesskey", "access_key", "access-key", "auth"}) {
    if (EndsWithIgnoringAsciiCase(before, name)) return true;
  }
  return false;
}

// Whether a default pattern's fixed text starts at `position` with room for the rest of a match after it.
bool DefaultPatternStartsAt(std::string_view text, size_t position, bool case_folds_beyond_ascii) {
  size_t left = text.size() - position;
  switch (text[position]) {
    case ':':
      // user:password@host and https://hooks.slack.com/... both need "://"
      if (HasAt(text, position, "://")) return true;
      [[fallthrough]];
    case '=':
      return case_folds_beyond_ascii || KeyNameBefore(text, position);
    case '-':
      // A private key block; most dashes are single (a name, a date), found without a compare.
      return left >= 5 && text[position + 1] == '-' && HasAt(text, position, "-----");
    case 'A':
      return left >= 20 && (HasAt(text, position, "AKIA") || HasAt(text, position, "ASIA"));
    case 'g':
      if (left >= 40 && HasAt(text, position, "gh") && OneOf(text[position + 2], "pousr") &&
          text[position + 3] == '_') {
        return true;
      }
      return left >= 33 && HasAt(text, position, "github_pat_");
    case 'x':
      return left >= 15 && HasAt(text, position, "xox") && OneOf(text[position + 3], "abposr") &&
             text[position + 4] == '-';
    case 'e':
      return left >= 32 && HasAt(text, position, "eyJ");  // a JSON web token: eyJ….eyJ….…
    default:
      return false;
  }
}

bool HasNonAscii(std::string_view text) {
  for (char c : text) {
    if (static_cast<uint8_t>(c) >= 0x80) return true;
  }
  return false;
}

}  // namespace

SecretFilter::SecretFilter(std::vector<std::string> literals) {
  literals.erase(std::remove_if(literals.begin(), literals.end(), [](const std::string& s) { return s.empty(); }),
                 literals.end());
  std::sort(literals.begin(), literals.end());
  literals.erase(std::unique(literals.begin(), literals.end()), literals.end());
  literals_ = std::move(literals);
  if (literals_.empty()) return;
  shortest_literal_ = SIZE_MAX;
  for (const std::string& literal : literals_) shortest_literal_ = std::min(shortest_literal_, literal.size());
  key_length_ = std::min<size_t>(8, shortest_literal_);
  key_mask_ = key_length_ == 8 ? ~0ull : (1ull << (8 * key_length_)) - 1;
  for (uint32_t i = 0; i < literals_.size(); ++i) {
    uint64_t key = KeyAt(literals_[i], 0);
    key_buckets_.set(Bucket(key));
    by_key_[key].push_back(i);
  }
}

bool SecretFilter::MayHoldSecret(std::string_view text, bool is_str) const {
  return MatchesDefaultPatterns(text, is_str) || ContainsLiteral(text);
}

bool SecretFilter::MatchesDefaultPatterns(std::string_view text, bool is_str) const {
  if (text.size() < kShortestDefaultMatch) return false;
  // A bytes pattern folds ASCII case only; a str pattern folds some non-ASCII letters to ASCII ones too.
  int case_folds_beyond_ascii = is_str ? -1 : 0;             // -1: not known yet
  bool may_be_token = text.size() >= kShortestEntropyToken;  // shorter text holds no high-entropy token
  size_t run = 0;  // length of the current run of token characters, and which classes it holds
  uint8_t run_classes = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    uint8_t classes = kClasses[static_cast<uint8_t>(text[i])];
    if (classes & kStarts) {
      if (case_folds_beyond_ascii < 0 && (text[i] == '=' || text[i] == ':'))
        case_folds_beyond_ascii = HasNonAscii(text);
      if (DefaultPatternStartsAt(text, i, case_folds_beyond_ascii > 0)) return true;
    }
    if (!may_be_token) continue;
    if (classes & kToken) {
      ++run;
      run_classes |= classes;
      if (run >= kShortestEntropyToken && (run_classes & (kUpper | kLower | kDigit)) == (kUpper | kLower | kDigit)) {
        return true;
      }
    } else {
      run = 0;
      run_classes = 0;
    }
  }
  return false;
}

uint64_t SecretFilter::KeyAt(std::string_view text, size_t position) const {
  uint64_t key = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (text.size() - position >= 8) {
    std::memcpy(&key, text.data() + position, 8);
    return key & key_mask_;
  }
#endif
  for (size_t i = 0; i < key_length_; ++i)
    key |= static_cast<uint64_t>(static_cast<uint8_t>(text[position + i])) << (8 * i);
  return key;
}

bool SecretFilter::ContainsLiteral(std::string_view text) const {
  if (literals_.empty() || text.size() < shortest_literal_) return false;
  for (size_t i = 0; i + shortest_literal_ <= text.size(); ++i) {
    uint64_t key = KeyAt(text, i);
    if (!key_buckets_.test(Bucket(key))) continue;
    auto found = by_key_.find(key);
    if (found == by_key_.end()) continue;
    for (uint32_t index : found->second) {
      if (HasAt(text, i, literals_[index])) return true;
    }
  }
  return false;
}

}  // namespace pyheapdump
