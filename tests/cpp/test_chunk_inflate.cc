// Inflating chunks (native/chunk_inflate.h) and the reader's read-ahead: the next chunk inflates on a background
// thread while the caller decodes the current one, and the records arrive exactly as without it.
#include <fstream>

#include "chunk_inflate.h"
#include "chunk_test_support.h"

namespace pyheapdump::chunk_test {
namespace {

std::string Text(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string text(size, ' ');
  for (char& c : text) c = static_cast<char>('a' + rng() % 7);  // compressible, unlike random bytes
  return text;
}

TEST(InflatedChunk, GivesBackTheBytesThatWereDeflated) {
  InflatedChunk chunk;
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{70000}, size_t{3} << 20}) {
    std::string raw = Text(size, size);
    absl::Status status = chunk.Inflate(Deflate(raw), raw.size());
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(chunk.bytes(), raw) << size;
  }
}

TEST(InflatedChunk, AfterItsRoomIsReleasedItInflatesAgainAsNew) {
  // The reader releases both buffers' room once it has read its records (the loader's peak comes after).
  InflatedChunk chunk;
  std::string big = Text(size_t{2} << 20, 1);
  ASSERT_TRUE(chunk.Inflate(Deflate(big), big.size()).ok());
  chunk.ReleaseRoom();
  EXPECT_TRUE(chunk.bytes().empty());
  for (size_t size : {size_t{100}, size_t{3} << 20}) {
    std::string raw = Text(size, size + 7);
    absl::Status status = chunk.Inflate(Deflate(raw), raw.size());
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(chunk.bytes(), raw) << size;
  }
}

TEST(InflatedChunk, AWrongDeclaredSizeIsDamageNotLackOfMemory) {
  std::string raw = Text(5000, 3);
  std::string stored = Deflate(raw);
  InflatedChunk chunk;
  absl::Status longer = chunk.Inflate(stored, raw.size() + 1);
  EXPECT_EQ(longer.code(), absl::StatusCode::kDataLoss) << longer;
  EXPECT_EQ(longer.message(), "it decompresses to 5000 bytes, not its declared raw size 5001");
  absl::Status shorter = chunk.Inflate(stored, raw.size() - 1);
  EXPECT_EQ(shorter.code(), absl::StatusCode::kDataLoss) << shorter;
  EXPECT_TRUE(absl::StrContains(shorter.message(), "more than its declared raw size")) << shorter;
  absl::Status garbage = chunk.Inflate(stored + "xyz", raw.size());
  EXPECT_EQ(garbage.message(), "3 bytes of garbage follow its zlib stream");
  absl::Status not_zlib = chunk.Inflate(std::string(64, 'q'), raw.size());
  EXPECT_EQ(not_zlib.code(), absl::StatusCode::kDataLoss) << not_zlib;
  EXPECT_EQ(not_zlib.message(), "zlib error: incorrect header check");
  // The deflate data is inflated raw: the zlib header and the 4-byte trailer are checked here.
  absl::Status no_trailer = chunk.Inflate(stored.substr(0, stored.size() - 4), raw.size());
  EXPECT_EQ(no_trailer.message(), "its zlib stream ends early");
  absl::Status two_bytes = chunk.Inflate(stored.substr(0, 2), raw.size());
  EXPECT_EQ(two_bytes.code(), absl::StatusCode::kDataLoss) << two_bytes;
  std::string with_dictionary = stored;  // FDICT set, FCHECK made right again (RFC 1950)
  const auto method = static_cast<uint8_t>(stored[0]);
  uint8_t flags = static_cast<uint8_t>((static_cast<uint8_t>(stored[1]) & 0xc0) | 0x20);
  flags = static_cast<uint8_t>(flags + (31 - (method * 256 + flags) % 31) % 31);
  with_dictionary[1] = static_cast<char>(flags);
  absl::Status dictionary = chunk.Inflate(with_dictionary, raw.size());
  EXPECT_EQ(dictionary.message(), "zlib error: it needs a preset dictionary");
  // The same buffer still works after each failure.
  ASSERT_TRUE(chunk.Inflate(stored, raw.size()).ok());
  EXPECT_EQ(chunk.bytes(), raw);
}

TEST(ChunkReadAhead, InflatesOnAnotherThreadTheBytesAnInlineInflateGives) {
  std::vector<std::string> raws, stored;
  for (uint64_t i = 0; i < 12; ++i) {
    raws.push_back(Text(200000 + 1000 * i, i));
    stored.push_back(Deflate(raws.back()));
  }
  InflatedChunk buffers[2];
  ChunkReadAhead ahead;
  for (size_t i = 0; i < raws.size(); ++i) {
    InflatedChunk& into = buffers[i % 2];
    ahead.Start(stored[i], raws[i].size(), &into);
    absl::Status status = ahead.Wait();
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(into.bytes(), raws[i]) << "chunk " << i;
  }
  // A damaged chunk is reported by Wait, and the next one inflates as before.
  ahead.Start(stored[0], raws[0].size() + 5, &buffers[0]);
  EXPECT_EQ(ahead.Wait().code(), absl::StatusCode::kDataLoss);
  ahead.Start(stored[1], raws[1].size(), &buffers[0]);
  ASSERT_TRUE(ahead.Wait().ok());
  EXPECT_EQ(buffers[0].bytes(), raws[1]);
}

TEST(ChunkReadAhead, TheThreadAllocatesNothingEvenWhenAChunkNeedsMoreRoomThanItWasGiven) {
  // A thread's first allocation gives it a malloc arena: 64 MiB of address space a process under an address-space
  // limit may not have. So the caller allocates: zlib's state and window with the buffer, and any growth in Wait.
  std::string compressible(6 << 20, 'z');  // deflates about 1000 to 1: far more than the first room Begin gives
  std::string text = Text(300000, 4);
  std::string compressible_stored = Deflate(compressible), text_stored = Deflate(text);
  InflatedChunk buffers[2];  // fresh: zlib has not allocated its window yet
  ChunkReadAhead ahead;
  WatchAllocations watch;
  for (const std::string* raw : {&compressible, &text, &compressible}) {
    InflatedChunk& into = buffers[raw == &text];
    ahead.Start(raw == &text ? text_stored : compressible_stored, raw->size(), &into);
    absl::Status status = ahead.Wait();
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(into.bytes(), *raw);
  }
  EXPECT_EQ(watch.off_the_watching_thread(), 0u);
}

size_t AddressSpaceInUse() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0;
  statm >> pages;
  return pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST(ChunkReadAhead, WithNoRoomForAThreadInflatesOnTheCallersThread) {
  std::string small = Text(50000, 5), large(3 << 20, 'y');  // large needs more room than its first Fill has
  std::string small_stored = Deflate(small), large_stored = Deflate(large);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    InflatedChunk into;
    into.Inflate(small_stored, small.size());  // zlib's state and a first buffer, before the limit
    // A thread's stack alone is 8 MiB of address space: with 4 MiB to spare, none can start.
    rlimit limit{AddressSpaceInUse() + (4 << 20), RLIM_INFINITY};
    setrlimit(RLIMIT_AS, &limit);
    ChunkReadAhead ahead;
    int failures = 0;
    for (int round = 0; round < 2; ++round) {
      ahead.Start(small_stored, small.size(), &into);
      failures += !ahead.Wait().ok() || into.bytes() != small;
    }
    limit.rlim_cur = RLIM_INFINITY;  // room for the large chunk's buffer, still on this thread (no new thread)
    setrlimit(RLIMIT_AS, &limit);
    ahead.Start(large_stored, large.size(), &into);
    failures += !ahead.Wait().ok() || into.bytes() != large;
    _exit(failures);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died, signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "inflates on the caller's thread gave wrong bytes or an error";
}

TEST(ChunkReadAhead, DestroyedWithAJobInFlightLetsTheJobFinish) {
  std::string raw = Text(4 << 20, 9);
  std::string stored = Deflate(raw);
  InflatedChunk into;
  {
    ChunkReadAhead ahead;
    ahead.Start(stored, raw.size(), &into);
  }  // no Wait: the destructor must not leave the thread writing into `into`
  EXPECT_EQ(into.bytes(), raw);
}

TEST_F(ChunkFiles, ReadingStoppedByTheCallerMidFileCanBeginAgainAndReadsEveryRecordInOrder) {
  std::vector<Record> written = MakeRecords(20000, 5);  // several chunks: each read overlaps the next inflate
  WriteDump(path_, written);
  auto reader = OpenOrDie(path_);
  ASSERT_TRUE(reader);
  ASSERT_GE(RecordsPerChunk(ReadFile(path_)).size(), 3u);
  size_t seen = 0;
  absl::Status stopped = reader->ForEachRecord(
      [&](Record&&) { return ++seen == written.size() / 2 ? absl::CancelledError("enough") : absl::OkStatus(); });
  EXPECT_EQ(stopped.code(), absl::StatusCode::kCancelled);
  std::vector<Record> read = ReadRecords(*reader);
  ASSERT_EQ(read.size(), written.size()) << Warnings(*reader);
  for (size_t i = 0; i < read.size(); ++i) ExpectSameRecord(read[i], written[i]);
  EXPECT_TRUE(reader->warnings().empty()) << Warnings(*reader);
}

}  // namespace
}  // namespace pyheapdump::chunk_test
