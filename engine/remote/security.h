// Transport security: CURVE keypairs, the authorized-keys file, the ZAP handler
// that admits only those keys, and the checks that keep an unauthenticated server
// off the network.
#ifndef BERTH_ENGINE_REMOTE_SECURITY_H_
#define BERTH_ENGINE_REMOTE_SECURITY_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include <zmq.hpp>

namespace berth::remote {

// Z85-encoded CURVE keys (40 characters each).
struct KeyPair {
  std::string public_key;
  std::string secret_key;
};

absl::StatusOr<KeyPair> GenerateKeyPair();

// Writes `<base>.key` (public and secret, mode 0600) and `<base>.pub` (public
// only, mode 0644). Refuses to overwrite existing files.
absl::Status WriteKeyPair(const KeyPair& keys, const std::string& base);

// Reads a key file written by WriteKeyPair: lines `public: <z85>` and
// `secret: <z85>` (the secret is optional for a .pub file).
absl::StatusOr<KeyPair> ReadKeyFile(const std::string& path);

// A public key given as 40 Z85 characters, or the path of a file holding one.
absl::StatusOr<std::string> ResolvePublicKey(const std::string& key_or_path);

// Reads an authorized-keys file: one Z85 public key per line; `#` starts a
// comment; blank lines are ignored. Errors name the line.
absl::StatusOr<std::vector<std::string>> ReadAuthorizedKeys(const std::string& path);

// Whether a tcp endpoint's host is a loopback address (127.0.0.0/8, ::1,
// localhost). `*` and 0.0.0.0 are not.
bool IsLoopbackTcp(absl::string_view endpoint);

// The ZAP handler (RFC 27) for a context: admits CURVE clients whose public key
// is in the authorized-keys file, re-reading the file when it changes.
class ZapHandler {
 public:
  static absl::StatusOr<std::unique_ptr<ZapHandler>> Start(zmq::context_t& ctx, std::string authorized_keys_file);
  ~ZapHandler();

 private:
  ZapHandler(zmq::context_t& ctx, std::string file);
  void Loop();

  zmq::context_t& ctx_;
  std::string file_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_SECURITY_H_
