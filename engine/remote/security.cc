#include "engine/remote/security.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/log.h"

namespace berth::remote {
namespace {

bool IsZ85Key(absl::string_view s) {
  if (s.size() != 40) return false;
  static constexpr absl::string_view kZ85 =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  for (char c : s) {
    if (kZ85.find(c) == absl::string_view::npos) return false;
  }
  return true;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteNew(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return absl::AlreadyExistsError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  ::fchmod(fd, mode);
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KeyPair> GenerateKeyPair() {
  char pub[41] = {};
  char sec[41] = {};
  if (zmq_curve_keypair(pub, sec) != 0) {
    return absl::InternalError(absl::StrCat("cannot generate a CURVE keypair: ", zmq_strerror(zmq_errno())));
  }
  return KeyPair{pub, sec};
}

absl::Status WriteKeyPair(const KeyPair& keys, const std::string& base) {
  const std::string header = "# berth CURVE keypair (Z85). Keep the .key file secret.\n";
  if (absl::Status s = WriteNew(base + ".key",
                                absl::StrCat(header, "public: ", keys.public_key, "\nsecret: ", keys.secret_key, "\n"),
                                0600);
      !s.ok()) {
    return s;
  }
  return WriteNew(base + ".pub", absl::StrCat("public: ", keys.public_key, "\n"), 0644);
}

absl::StatusOr<KeyPair> ReadKeyFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  KeyPair keys;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(':', 1));
    absl::string_view key = absl::StripAsciiWhitespace(kv.first);
    absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    if (!IsZ85Key(value)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": expected a 40-character Z85 key"));
    }
    if (key == "public") {
      keys.public_key = std::string(value);
    } else if (key == "secret") {
      keys.secret_key = std::string(value);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": expected 'public:' or 'secret:'"));
    }
  }
  if (keys.public_key.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no public key"));
  return keys;
}

absl::StatusOr<std::string> ResolvePublicKey(const std::string& key_or_path) {
  if (IsZ85Key(key_or_path)) return key_or_path;
  absl::StatusOr<KeyPair> keys = ReadKeyFile(key_or_path);
  if (!keys.ok()) return keys.status();
  return keys->public_key;
}

absl::StatusOr<std::vector<std::string>> ReadAuthorizedKeys(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  std::vector<std::string> keys;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_no;
    // '#' is a Z85 digit, so it starts a comment only at the start of a line or
    // after white space.
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line = line.substr(0, i);
        break;
      }
    }
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    // Accept "public: KEY" as written in .pub files, or the bare key.
    if (absl::StartsWith(line, "public:")) line = absl::StripAsciiWhitespace(line.substr(7));
    absl::string_view key = line.substr(0, line.find_first_of(" \t"));
    if (!IsZ85Key(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected a 40-character Z85 public key, got '", key, "'"));
    }
    keys.emplace_back(key);
  }
  return keys;
}

bool IsLoopbackTcp(absl::string_view endpoint) {
  if (!absl::ConsumePrefix(&endpoint, "tcp://")) return false;
  absl::string_view host;
  if (absl::StartsWith(endpoint, "[")) {
    size_t close = endpoint.find(']');
    if (close == absl::string_view::npos) return false;
    host = endpoint.substr(1, close - 1);
  } else {
    host = endpoint.substr(0, endpoint.rfind(':'));
  }
  if (host == "localhost" || host == "::1") return true;
  if (!absl::StartsWith(host, "127.")) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return dots == 3;
}

// ---- ZAP ----

absl::StatusOr<std::unique_ptr<ZapHandler>> ZapHandler::Start(zmq::context_t& ctx, std::string file) {
  absl::StatusOr<std::vector<std::string>> keys = ReadAuthorizedKeys(file);
  if (!keys.ok()) return keys.status();
  auto zap = std::unique_ptr<ZapHandler>(new ZapHandler(ctx, std::move(file)));
  return zap;
}

ZapHandler::ZapHandler(zmq::context_t& ctx, std::string file) : ctx_(ctx), file_(std::move(file)) {
  // Bind before returning so that no CURVE handshake can happen without us.
  auto sock = std::make_shared<zmq::socket_t>(ctx_, zmq::socket_type::rep);
  sock->set(zmq::sockopt::linger, 0);
  sock->bind("inproc://zeromq.zap.01");
  thread_ = std::thread([this, sock] {
    std::vector<std::string> keys;
    struct timespec seen_mtime = {0, 0};
    off_t seen_size = -1;
    auto reload = [&] {
      struct stat st;
      if (::stat(file_.c_str(), &st) != 0) return;
      if (st.st_mtim.tv_sec == seen_mtime.tv_sec && st.st_mtim.tv_nsec == seen_mtime.tv_nsec &&
          st.st_size == seen_size) {
        return;
      }
      absl::StatusOr<std::vector<std::string>> fresh = ReadAuthorizedKeys(file_);
      if (!fresh.ok()) {
        spdlog::error("authorized keys not reloaded: {}", fresh.status().message());
        return;
      }
      keys = *std::move(fresh);
      seen_mtime = st.st_mtim;
      seen_size = st.st_size;
    };
    reload();
    while (!stop_.load()) {
      zmq::pollitem_t item{sock->handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) <= 0) continue;
      std::vector<zmq::message_t> req;
      while (true) {
        zmq::message_t part;
        if (!sock->recv(part, zmq::recv_flags::dontwait)) break;
        bool more = part.more();
        req.push_back(std::move(part));
        if (!more) break;
      }
      if (req.size() < 6) continue;
      std::string request_id = req[1].to_string();
      std::string mechanism = req[5].to_string();
      std::string address = req[3].to_string();
      std::string status = "400";
      std::string text = "client key not authorized";
      if (mechanism == "CURVE" && req.size() >= 7 && req[6].size() == 32) {
        char z85[41] = {};
        zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
        reload();
        for (const std::string& k : keys) {
          if (k == z85) {
            status = "200";
            text = "OK";
            break;
          }
        }
        if (status == "200") {
          spdlog::debug("zap: admitted client key {} from {}", z85, address);
        } else {
          spdlog::warn("zap: refused client key {} from {}: not in {}", z85, address, file_);
        }
      } else {
        text = "only CURVE clients are admitted";
      }
      std::array<std::string, 6> reply = {"1.0", request_id, status, text, "", ""};
      for (size_t i = 0; i < reply.size(); ++i) {
        sock->send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    }
    sock->close();
  });
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace berth::remote
