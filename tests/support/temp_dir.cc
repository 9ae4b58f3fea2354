#include "tests/support/temp_dir.h"

#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace berth::testing {

TempDir::TempDir() {
  // Not $TMPDIR: code under test (berthd's root step) sets it to its own dirs.
  std::string tmpl = "/tmp/berth-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrDie(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) {
    std::perror(path.c_str());
    std::abort();
  }
}

void WriteRandomFile(const std::string& path, int mebibytes, uint64_t seed) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::mt19937_64 rng(seed);
  std::string block(1 << 20, '\0');
  for (int mb = 0; mb < mebibytes; ++mb) {
    for (size_t i = 0; i < block.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(&block[i], &v, 8);
    }
    out.write(block.data(), static_cast<std::streamsize>(block.size()));
  }
  if (!out) {
    std::perror(path.c_str());
    std::abort();
  }
}

}  // namespace berth::testing
