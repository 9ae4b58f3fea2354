// Streaming tar decoder; see tar_reader.h.
#include "storage/tar_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace berth::storage {
namespace {

constexpr size_t kBlock = 512;
constexpr size_t kBufferSize = 64 * 1024;

// A NUL-terminated (or full-width) header field.
absl::string_view Field(const char* hdr, size_t at, size_t len) {
  const char* p = hdr + at;
  size_t n = 0;
  while (n < len && p[n] != '\0') ++n;
  return absl::string_view(p, n);
}

// Octal (with leading/trailing spaces and NULs) or GNU base-256.
absl::StatusOr<int64_t> ParseNumber(const char* hdr, size_t at, size_t len,
                                    const char* what, int64_t offset) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(hdr + at);
  auto bad = [&]() {
    return absl::InvalidArgumentError(absl::StrCat(
        "tar header at offset ", offset, ": invalid number in field ", what));
  };
  if (p[0] & 0x80) {
    // Base-256, two's complement; 0xff-led values are negative.
    unsigned char inv = (p[0] & 0x40) ? 0xff : 0;
    uint64_t x = 0;
    for (size_t i = 0; i < len; ++i) {
      unsigned char c = p[i] ^ inv;
      if (i == 0) c &= 0x7f;
      if ((x >> 56) != 0) return bad();
      x = (x << 8) | c;
    }
    if ((x >> 63) != 0) return bad();
    int64_t v = static_cast<int64_t>(x);
    return inv == 0xff ? ~v : v;
  }
  size_t begin = 0;
  size_t end = len;
  while (begin < end && (p[begin] == ' ' || p[begin] == '\0')) ++begin;
  while (end > begin && (p[end - 1] == ' ' || p[end - 1] == '\0')) --end;
  uint64_t x = 0;
  for (size_t i = begin; i < end; ++i) {
    if (p[i] < '0' || p[i] > '7') return bad();
    if ((x >> 60) != 0) return bad();
    x = (x << 3) | static_cast<uint64_t>(p[i] - '0');
  }
  if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return bad();
  }
  return static_cast<int64_t>(x);
}

bool AllZero(const char* block) {
  for (size_t i = 0; i < kBlock; ++i) {
    if (block[i] != 0) return false;
  }
  return true;
}

bool ChecksumMatches(const char* hdr, int64_t stored) {
  int64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    char c = (i >= 148 && i < 156) ? ' ' : hdr[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return stored == unsigned_sum || stored == signed_sum;
}

// A pax time: "<seconds>[.<fraction>]", seconds possibly negative.
bool ParsePaxTime(absl::string_view v, timespec* out) {
  bool negative = !v.empty() && v[0] == '-';
  if (negative) v.remove_prefix(1);
  size_t dot = v.find('.');
  absl::string_view secs = v.substr(0, dot);
  absl::string_view frac = dot == absl::string_view::npos ? "" : v.substr(dot + 1);
  if (secs.empty()) return false;
  int64_t s = 0;
  for (char c : secs) {
    if (c < '0' || c > '9' || s > std::numeric_limits<int64_t>::max() / 10 - 1) {
      return false;
    }
    s = s * 10 + (c - '0');
  }
  int64_t ns = 0;
  for (size_t i = 0; i < frac.size(); ++i) {
    if (frac[i] < '0' || frac[i] > '9') return false;
    if (i < 9) ns = ns * 10 + (frac[i] - '0');
  }
  for (size_t i = frac.size(); i < 9; ++i) ns *= 10;
  if (negative) {
    s = -s;
    if (ns > 0) {
      s -= 1;
      ns = 1000000000 - ns;
    }
  }
  out->tv_sec = static_cast<time_t>(s);
  out->tv_nsec = static_cast<long>(ns);
  return true;
}

}  // namespace

TarReader::TarReader(ByteSource source, TarLimits limits)
    : source_(std::move(source)), limits_(limits), buf_(kBufferSize) {}

absl::StatusOr<size_t> TarReader::ReadFull(char* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    if (buf_pos_ == buf_len_) {
      if (source_eof_) break;
      // Large reads bypass the buffer.
      if (n - done >= buf_.size()) {
        absl::StatusOr<size_t> got = source_(dst + done, n - done);
        if (!got.ok()) return got.status();
        if (*got > n - done) {
          return absl::InternalError("tar source returned more than asked");
        }
        if (*got == 0) {
          source_eof_ = true;
          break;
        }
        done += *got;
        offset_ += static_cast<int64_t>(*got);
        continue;
      }
      absl::StatusOr<size_t> got = source_(buf_.data(), buf_.size());
      if (!got.ok()) return got.status();
      if (*got > buf_.size()) {
        return absl::InternalError("tar source returned more than asked");
      }
      if (*got == 0) {
        source_eof_ = true;
        break;
      }
      buf_pos_ = 0;
      buf_len_ = *got;
    }
    size_t take = std::min(n - done, buf_len_ - buf_pos_);
    memcpy(dst + done, buf_.data() + buf_pos_, take);
    buf_pos_ += take;
    done += take;
    offset_ += static_cast<int64_t>(take);
  }
  return done;
}

absl::Status TarReader::Discard(int64_t n, const char* what) {
  char scratch[8192];
  int64_t left = n;
  while (left > 0) {
    size_t want = static_cast<size_t>(
        std::min<int64_t>(left, static_cast<int64_t>(sizeof(scratch))));
    absl::StatusOr<size_t> got = ReadFull(scratch, want);
    if (!got.ok()) return got.status();
    if (*got < want) {
      return absl::DataLossError(absl::StrCat(
          "truncated tar archive: stream ended inside the ", what, " of \"",
          current_name_, "\""));
    }
    left -= static_cast<int64_t>(want);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TarReader::ReadMetaData(int64_t size, size_t limit,
                                                    const char* what) {
  if (size < 0 || static_cast<uint64_t>(size) > limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("tar ", what, " at offset ", offset_ - 512, " is ", size,
                     " bytes; the limit is ", limit));
  }
  std::string data(static_cast<size_t>(size), '\0');
  absl::StatusOr<size_t> got = ReadFull(data.data(), data.size());
  if (!got.ok()) return got.status();
  if (*got < data.size()) {
    return absl::DataLossError(absl::StrCat(
        "truncated tar archive: stream ended inside a ", what));
  }
  int64_t pad = (512 - size % 512) % 512;
  current_name_ = what;
  absl::Status s = Discard(pad, "padding");
  if (!s.ok()) return s;
  return data;
}

absl::Status TarReader::ParsePax(const std::string& data, int64_t at,
                                 std::map<std::string, std::string>* out) {
  absl::string_view rest = data;
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tar pax header at offset ", at, ": malformed record (", why, ")"));
  };
  while (!rest.empty()) {
    // GNU tar pads some pax data with NULs.
    if (rest.front() == '\0') break;
    size_t space = rest.find(' ');
    if (space == absl::string_view::npos || space == 0 || space > 20) {
      return bad("no length");
    }
    uint64_t len = 0;
    if (!absl::SimpleAtoi(rest.substr(0, space), &len) || len <= space + 1 ||
        len > rest.size()) {
      return bad("bad length");
    }
    absl::string_view record = rest.substr(space + 1, len - space - 1);
    rest.remove_prefix(len);
    if (record.empty() || record.back() != '\n') return bad("no newline");
    record.remove_suffix(1);
    size_t eq = record.find('=');
    if (eq == absl::string_view::npos || eq == 0) return bad("no key");
    absl::string_view key = record.substr(0, eq);
    absl::string_view value = record.substr(eq + 1);
    if (absl::StartsWith(key, "GNU.sparse.")) {
      return absl::UnimplementedError(absl::StrCat(
          "tar pax header at offset ", at,
          ": sparse files are not supported (GNU.sparse records)"));
    }
    (*out)[std::string(key)] = std::string(value);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> TarReader::Next(TarEntry* entry) {
  if (done_) return false;
  absl::Status s = Discard(remaining_, "data");
  if (!s.ok()) return s;
  s = Discard(padding_, "padding");
  if (!s.ok()) return s;
  remaining_ = 0;
  padding_ = 0;

  std::map<std::string, std::string> pax;
  bool have_meta = false;
  std::string long_name;
  std::string long_link;
  bool have_long_name = false;
  bool have_long_link = false;
  char hdr[kBlock];
  while (true) {
    int64_t at = offset_;
    absl::StatusOr<size_t> got = ReadFull(hdr, kBlock);
    if (!got.ok()) return got.status();
    if (*got == 0 || AllZero(hdr)) {
      if (*got != 0 && *got < kBlock) {
        return absl::DataLossError(absl::StrCat(
            "truncated tar archive: header at offset ", at, " has only ",
            *got, " of 512 bytes"));
      }
      if (have_meta) {
        return absl::DataLossError(absl::StrCat(
            "truncated tar archive: extended header at offset ", at,
            " is not followed by an entry"));
      }
      if (*got == kBlock) {
        // The end is two zero blocks; the stream may also stop after one.
        char second[kBlock];
        absl::StatusOr<size_t> got2 = ReadFull(second, kBlock);
        if (!got2.ok()) return got2.status();
        if (*got2 == kBlock && !AllZero(second)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "tar archive: a lone zero block at offset ", at,
              " is followed by more data"));
        }
      }
      done_ = true;
      return false;
    }
    if (*got < kBlock) {
      return absl::DataLossError(absl::StrCat(
          "truncated tar archive: header at offset ", at, " has only ", *got,
          " of 512 bytes"));
    }
    absl::StatusOr<int64_t> checksum = ParseNumber(hdr, 148, 8, "chksum", at);
    if (!checksum.ok() || !ChecksumMatches(hdr, *checksum)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tar header at offset ", at,
          ": checksum mismatch (not a tar archive, or a corrupt one)"));
    }
    absl::StatusOr<int64_t> size = ParseNumber(hdr, 124, 12, "size", at);
    if (!size.ok()) return size.status();
    if (*size < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tar header at offset ", at, ": negative size"));
    }
    char flag = hdr[156];
    if (flag == 'x' || flag == 'g') {
      absl::StatusOr<std::string> data =
          ReadMetaData(*size, limits_.max_pax_bytes, "pax header");
      if (!data.ok()) return data.status();
      if (flag == 'x') {
        s = ParsePax(*data, at, &pax);
        if (!s.ok()) return s;
        have_meta = true;
      } else {
        std::map<std::string, std::string> global;
        s = ParsePax(*data, at, &global);
        if (!s.ok()) return s;
        for (auto& [k, v] : global) {
          if (v.empty()) {
            global_pax_.erase(k);
          } else {
            global_pax_[k] = v;
          }
        }
        size_t total = 0;
        for (auto& [k, v] : global_pax_) total += k.size() + v.size();
        if (total > limits_.max_pax_bytes) {
          return absl::ResourceExhaustedError(absl::StrCat(
              "tar global pax headers exceed ", limits_.max_pax_bytes,
              " bytes"));
        }
      }
      continue;
    }
    if (flag == 'L' || flag == 'K') {
      absl::StatusOr<std::string> data =
          ReadMetaData(*size, limits_.max_name_bytes + 1,
                       flag == 'L' ? "GNU long name" : "GNU long link name");
      if (!data.ok()) return data.status();
      std::string value = data->substr(0, data->find('\0'));
      if (flag == 'L') {
        long_name = std::move(value);
        have_long_name = true;
      } else {
        long_link = std::move(value);
        have_long_link = true;
      }
      have_meta = true;
      continue;
    }

    TarEntry e;
    e.header_offset = at;
    absl::string_view magic(hdr + 257, 6);
    absl::string_view version(hdr + 263, 2);
    bool ustar = magic == absl::string_view("ustar\0", 6) && version == "00";
    bool gnu = magic == "ustar " && version == absl::string_view(" \0", 2);
    e.name = std::string(Field(hdr, 0, 100));
    if (ustar) {
      absl::string_view prefix = Field(hdr, 345, 155);
      if (!prefix.empty()) e.name = absl::StrCat(prefix, "/", e.name);
    }
    e.link_name = std::string(Field(hdr, 157, 100));
    absl::StatusOr<int64_t> mode = ParseNumber(hdr, 100, 8, "mode", at);
    absl::StatusOr<int64_t> uid = ParseNumber(hdr, 108, 8, "uid", at);
    absl::StatusOr<int64_t> gid = ParseNumber(hdr, 116, 8, "gid", at);
    absl::StatusOr<int64_t> mtime = ParseNumber(hdr, 136, 12, "mtime", at);
    for (const auto* v : {&mode, &uid, &gid, &mtime}) {
      if (!v->ok()) return v->status();
    }
    e.mode = static_cast<uint32_t>(*mode & 07777);
    e.uid = *uid;
    e.gid = *gid;
    e.mtime.tv_sec = static_cast<time_t>(*mtime);
    e.size = *size;
    if (ustar || gnu) {
      e.uname = std::string(Field(hdr, 265, 32));
      e.gname = std::string(Field(hdr, 297, 32));
      if (flag == kTarCharDevice || flag == kTarBlockDevice) {
        absl::StatusOr<int64_t> major = ParseNumber(hdr, 329, 8, "devmajor", at);
        absl::StatusOr<int64_t> minor = ParseNumber(hdr, 337, 8, "devminor", at);
        if (!major.ok()) return major.status();
        if (!minor.ok()) return minor.status();
        if (*major > 0xfff || *minor > 0xfffff) {
          return absl::InvalidArgumentError(absl::StrCat(
              "tar header at offset ", at, ": device number out of range"));
        }
        e.dev_major = static_cast<uint32_t>(*major);
        e.dev_minor = static_cast<uint32_t>(*minor);
      }
    }
    if (have_long_name) e.name = long_name;
    if (have_long_link) e.link_name = long_link;

    // Global records first, then the entry's own override them.
    std::map<std::string, std::string> records = global_pax_;
    for (auto& [k, v] : pax) records[k] = v;
    for (const auto& record : records) {
      const std::string& key = record.first;
      const std::string& value = record.second;
      auto number = [&](int64_t* out) -> absl::Status {
        if (!absl::SimpleAtoi(value, out) || *out < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "tar pax header for entry at offset ", at, ": bad ", key, " \"",
              value, "\""));
        }
        return absl::OkStatus();
      };
      if (key == "path") {
        if (!value.empty()) e.name = value;
      } else if (key == "linkpath") {
        if (!value.empty()) e.link_name = value;
      } else if (key == "size") {
        s = number(&e.size);
      } else if (key == "uid") {
        s = number(&e.uid);
      } else if (key == "gid") {
        s = number(&e.gid);
      } else if (key == "uname") {
        e.uname = value;
      } else if (key == "gname") {
        e.gname = value;
      } else if (key == "mtime" || key == "atime") {
        timespec t;
        if (!ParsePaxTime(value, &t)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "tar pax header for entry at offset ", at, ": bad ", key, " \"",
              value, "\""));
        }
        if (key == "mtime") {
          e.mtime = t;
        } else {
          e.atime = t;
          e.has_atime = true;
        }
      } else if (absl::StartsWith(key, "SCHILY.xattr.")) {
        std::string name = key.substr(strlen("SCHILY.xattr."));
        if (name.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "tar pax header for entry at offset ", at, ": empty xattr name"));
        }
        e.xattrs.emplace_back(std::move(name), value);
      }
      if (!s.ok()) return s;
    }

    if (e.name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tar header at offset ", at, ": empty entry name"));
    }
    for (const std::string* n : {&e.name, &e.link_name}) {
      if (n->find('\0') != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tar header at offset ", at, ": name contains a NUL byte"));
      }
      if (n->size() > limits_.max_name_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "tar header at offset ", at, ": name is ", n->size(),
            " bytes; the limit is ", limits_.max_name_bytes));
      }
    }

    switch (flag) {
      case '\0':
        // Pre-POSIX archives mark directories with a trailing slash.
        flag = absl::EndsWith(e.name, "/") ? kTarDirectory : kTarRegular;
        break;
      case '7':
        flag = kTarRegular;
        break;
      case 'D':
        // A GNU dumpdir: a directory whose data lists its contents.
        flag = kTarDirectory;
        break;
      case 'S':
        return absl::UnimplementedError(absl::StrCat(
            "tar entry \"", e.name, "\": sparse files are not supported"));
      default:
        break;
    }
    e.type = flag;
    int64_t data = e.size;
    if (flag == kTarHardLink || flag == kTarSymlink ||
        flag == kTarCharDevice || flag == kTarBlockDevice ||
        flag == kTarFifo || (flag == kTarDirectory && hdr[156] != 'D')) {
      // Header-only types carry no data, whatever the size field says.
      data = 0;
      e.size = 0;
    }
    if (data > limits_.max_entry_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "tar entry \"", e.name, "\" is ", data, " bytes; the limit is ",
          limits_.max_entry_bytes));
    }
    remaining_ = data;
    padding_ = (512 - data % 512) % 512;
    current_name_ = e.name;
    current_size_ = data;
    if (flag == 'V') {
      // A volume label names the archive, not a file.
      s = Discard(remaining_ + padding_, "volume label");
      if (!s.ok()) return s;
      remaining_ = 0;
      padding_ = 0;
      continue;
    }
    *entry = std::move(e);
    return true;
  }
}

absl::StatusOr<size_t> TarReader::Read(char* buf, size_t n) {
  if (remaining_ == 0 || n == 0) return 0;
  size_t want = static_cast<size_t>(
      std::min<int64_t>(remaining_, static_cast<int64_t>(n)));
  absl::StatusOr<size_t> got = ReadFull(buf, want);
  if (!got.ok()) return got.status();
  if (*got < want) {
    return absl::DataLossError(absl::StrCat(
        "truncated tar archive: entry \"", current_name_, "\" has ",
        current_size_ - remaining_ + static_cast<int64_t>(*got), " of ",
        current_size_, " data bytes"));
  }
  remaining_ -= static_cast<int64_t>(want);
  return want;
}

}  // namespace berth::storage
