// Ready-made ByteSources; see byte_source.h.
#include "storage/byte_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/fs_util.h"

namespace berth::storage {

ByteSource FdSource(int fd) {
  return [fd](char* buf, size_t n) -> absl::StatusOr<size_t> {
    while (true) {
      ssize_t got = read(fd, buf, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) {
        return ErrnoStatus(errno, absl::StrCat("read fd ", fd));
      }
    }
  };
}

absl::StatusOr<ByteSource> FileSource(const std::string& path) {
  auto fd = std::make_shared<UniqueFd>(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd->valid()) return ErrnoStatus(errno, absl::StrCat("open ", path));
  return ByteSource([fd, path](char* buf, size_t n) -> absl::StatusOr<size_t> {
    while (true) {
      ssize_t got = read(fd->get(), buf, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return ErrnoStatus(errno, absl::StrCat("read ", path));
    }
  });
}

ByteSource StringSource(std::string data) {
  auto state = std::make_shared<std::pair<std::string, size_t>>(std::move(data), 0);
  return [state](char* buf, size_t n) -> absl::StatusOr<size_t> {
    size_t take = std::min(n, state->first.size() - state->second);
    memcpy(buf, state->first.data() + state->second, take);
    state->second += take;
    return take;
  };
}

ByteSource StringViewSource(absl::string_view data) {
  auto offset = std::make_shared<size_t>(0);
  return [data, offset](char* buf, size_t n) -> absl::StatusOr<size_t> {
    size_t take = std::min(n, data.size() - *offset);
    if (take > 0) memcpy(buf, data.data() + *offset, take);
    *offset += take;
    return take;
  };
}

}  // namespace berth::storage
