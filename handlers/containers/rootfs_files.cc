// Files written into a container's rootfs; see rootfs_files.h.
#include "handlers/containers/rootfs_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth {
namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens directory `rel` of the root `root_fd`, resolving links as if `root_fd`
// were "/".
int OpenInRoot(int root_fd, const std::string& rel) {
  struct open_how how = {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  return static_cast<int>(fd);
}

absl::Status Failed(absl::string_view path, int err) {
  return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(err)));
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(std::strerror(errno));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteInRoot(const std::string& rootfs, absl::string_view path, absl::string_view content,
                         FileOwner owner) {
  Fd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return Failed(path, errno);
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  if (parts.empty()) return absl::InvalidArgumentError(absl::StrCat("cannot write '", path, "': not a file path"));
  std::string leaf = parts.back();
  parts.pop_back();
  // Each directory, created when missing; opened inside the root every time.
  std::string dir = ".";
  Fd dir_fd(OpenInRoot(root.get(), dir));
  for (const std::string& part : parts) {
    std::string next = absl::StrCat(dir, "/", part);
    Fd next_fd(OpenInRoot(root.get(), next));
    if (next_fd.get() < 0 && errno == ENOENT) {
      if (::mkdirat(dir_fd.get(), part.c_str(), 0755) == 0) {
        if ((owner.uid != 0 || owner.gid != 0) &&
            ::fchownat(dir_fd.get(), part.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0) {
          return Failed(path, errno);
        }
      } else if (errno != EEXIST) {
        return Failed(path, errno);
      }
      next_fd = Fd(OpenInRoot(root.get(), next));
    }
    if (next_fd.get() < 0) return Failed(path, errno);
    dir = next;
    dir_fd = std::move(next_fd);
  }
  if (dir_fd.get() < 0) return Failed(path, errno);
  const Fd& real_dir = dir_fd;  // an O_PATH directory serves as the dirfd of *at calls
  struct stat st;
  if (::fstatat(real_dir.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
    return Failed(path, EISDIR);
  }
  std::string tmp = absl::StrCat(".", leaf, ".berth-tmp");
  ::unlinkat(real_dir.get(), tmp.c_str(), 0);
  Fd out(::openat(real_dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (out.get() < 0) return Failed(path, errno);
  absl::Status written = WriteAll(out.get(), content);
  if (written.ok() && (owner.uid != 0 || owner.gid != 0) && ::fchown(out.get(), owner.uid, owner.gid) != 0) {
    written = Failed(path, errno);
  }
  if (written.ok() && ::fchmod(out.get(), 0644) != 0) written = Failed(path, errno);
  // rename replaces the entry itself, a symlink included: nothing is
  // written through a link.
  if (written.ok() && ::renameat(real_dir.get(), tmp.c_str(), real_dir.get(), leaf.c_str()) != 0) {
    written = Failed(path, errno);
  }
  if (!written.ok()) {
    ::unlinkat(real_dir.get(), tmp.c_str(), 0);
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", written.message()));
  }
  return absl::OkStatus();
}

std::string HostsFile(const std::string& ip, const std::string& hostname, const std::vector<HostsEntry>& extra) {
  std::string out =
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n"
      "fe00::0\tip6-localnet\n"
      "ff00::0\tip6-mcastprefix\n"
      "ff02::1\tip6-allnodes\n"
      "ff02::2\tip6-allrouters\n";
  if (!ip.empty()) absl::StrAppend(&out, ip, "\t", hostname, "\n");
  for (const HostsEntry& e : extra) absl::StrAppend(&out, e.ip, "\t", e.names, "\n");
  return out;
}

std::string ResolvConf(const std::vector<std::string>& dns) {
  std::string out;
  for (const std::string& d : dns) absl::StrAppend(&out, "nameserver ", d, "\n");
  return out;
}

std::vector<std::string> LinkEnv(const std::string& parent_name, const std::string& alias, const std::string& ip,
                                 const std::vector<std::string>& ports, const std::vector<std::string>& env) {
  std::string prefix = absl::AsciiStrToUpper(alias);
  for (char& c : prefix) {
    if (c == '-' || c == '.') c = '_';
  }
  std::vector<std::string> out;
  out.push_back(absl::StrCat(prefix, "_NAME=", parent_name, "/", alias));
  for (size_t i = 0; i < ports.size(); ++i) {
    std::pair<std::string, std::string> pp = absl::StrSplit(ports[i], absl::MaxSplits('/', 1));
    std::string proto = pp.second.empty() ? "tcp" : pp.second;
    std::string key = absl::StrCat(prefix, "_PORT_", pp.first, "_", absl::AsciiStrToUpper(proto));
    std::string url = absl::StrCat(proto, "://", ip, ":", pp.first);
    if (i == 0) out.push_back(absl::StrCat(prefix, "_PORT=", url));
    out.push_back(absl::StrCat(key, "=", url));
    out.push_back(absl::StrCat(key, "_ADDR=", ip));
    out.push_back(absl::StrCat(key, "_PORT=", pp.first));
    out.push_back(absl::StrCat(key, "_PROTO=", proto));
  }
  for (const std::string& kv : env) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.first == "HOME" || p.first == "PATH") continue;
    out.push_back(absl::StrCat(prefix, "_ENV_", p.first, "=", p.second));
  }
  return out;
}

}  // namespace berth
