// SHA-256 (FIPS 180-4), for the fingerprints a dump writes in place of a redacted secret and for the short hash in a
// dump's file name. Here rather than through hashlib: hashlib loads OpenSSL, 3.6 MB of memory in every process that
// imports pyheapdump, and the dumping side imports nothing once a program is failing. Plain C++: no Python here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace pyheapdump {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
// The digest as 64 lowercase hex digits, as hashlib's hexdigest() writes it.
std::string Sha256Hex(std::string_view data);

}  // namespace pyheapdump
