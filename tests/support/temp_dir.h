// TempDir: a fresh directory for one test, removed (with everything in it) when
// the test ends.
#ifndef BERTH_TESTS_SUPPORT_TEMP_DIR_H_
#define BERTH_TESTS_SUPPORT_TEMP_DIR_H_

#include <cstdint>
#include <string>

namespace berth::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Reads a whole file ("" if it cannot be read).
std::string ReadFileOrEmpty(const std::string& path);
void WriteFileOrDie(const std::string& path, const std::string& content);
// Writes `mebibytes` MiB of pseudo-random bytes (the same for the same seed),
// a megabyte at a time, for stream tests that must not hold it all in memory.
void WriteRandomFile(const std::string& path, int mebibytes, uint64_t seed);

}  // namespace berth::testing

#endif  // BERTH_TESTS_SUPPORT_TEMP_DIR_H_
