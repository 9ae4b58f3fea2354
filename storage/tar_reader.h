// TarReader: a streaming reader of tar archives (V7, POSIX ustar, pax with
// local and global extended headers, GNU long names and links, GNU base-256
// numbers) that pulls bytes through a ByteSource. It never trusts the
// archive: checksums are verified, every numeric field is checked, names,
// extended headers and entry sizes are bounded by TarLimits, and a stream
// that ends inside a header or an entry's data is an error that says so.
// It only decodes; what the names mean on disk is layer_apply's business.
#ifndef BERTH_STORAGE_TAR_READER_H_
#define BERTH_STORAGE_TAR_READER_H_

#include <time.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/byte_source.h"

namespace berth::storage {

struct TarLimits {
  size_t max_name_bytes = 4096;       // a path or link target (PATH_MAX)
  size_t max_pax_bytes = 1 << 20;     // one pax header; also all global ones
  int64_t max_entry_bytes = int64_t{1} << 40;  // one file's data
};

// Entry types after normalisation ('\0' and '7' read as '0').
inline constexpr char kTarRegular = '0';
inline constexpr char kTarHardLink = '1';
inline constexpr char kTarSymlink = '2';
inline constexpr char kTarCharDevice = '3';
inline constexpr char kTarBlockDevice = '4';
inline constexpr char kTarDirectory = '5';
inline constexpr char kTarFifo = '6';

struct TarEntry {
  std::string name;       // as stored (pax path > GNU long name > ustar)
  std::string link_name;  // hard link or symlink target
  char type = kTarRegular;  // one of the kTar* values, or the raw flag
  uint32_t mode = 0;      // permission bits incl. setuid/setgid/sticky
  int64_t uid = 0;
  int64_t gid = 0;
  std::string uname;
  std::string gname;
  int64_t size = 0;       // bytes of data (0 for header-only types)
  timespec mtime{};
  timespec atime{};
  bool has_atime = false;
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  // From pax "SCHILY.xattr.<name>" records, in archive order.
  std::vector<std::pair<std::string, std::string>> xattrs;
  int64_t header_offset = 0;  // where the entry's header starts
};

class TarReader {
 public:
  explicit TarReader(ByteSource source, TarLimits limits = {});

  // Moves to the next entry, skipping what is left of the current one.
  // Returns false at the end of the archive (two zero blocks, or the stream
  // ending exactly between entries).
  absl::StatusOr<bool> Next(TarEntry* entry);

  // Reads up to `n` bytes of the current entry's data; 0 once it is all
  // read. The stream ending early is an error.
  absl::StatusOr<size_t> Read(char* buf, size_t n);

  // Bytes consumed from the source so far.
  int64_t offset() const { return offset_; }

 private:
  // Reads up to `n` bytes, fewer only at the end of the stream.
  absl::StatusOr<size_t> ReadFull(char* dst, size_t n);
  absl::Status Discard(int64_t n, const char* what);
  absl::StatusOr<std::string> ReadMetaData(int64_t size, size_t limit,
                                           const char* what);
  absl::Status ParsePax(const std::string& data, int64_t at,
                        std::map<std::string, std::string>* out);

  ByteSource source_;
  TarLimits limits_;
  std::vector<char> buf_;
  size_t buf_pos_ = 0;
  size_t buf_len_ = 0;
  bool source_eof_ = false;
  int64_t offset_ = 0;
  int64_t remaining_ = 0;  // unread data of the current entry
  int64_t padding_ = 0;    // padding after it
  bool done_ = false;
  std::string current_name_;
  int64_t current_size_ = 0;
  std::map<std::string, std::string> global_pax_;
};

}  // namespace berth::storage

#endif  // BERTH_STORAGE_TAR_READER_H_
