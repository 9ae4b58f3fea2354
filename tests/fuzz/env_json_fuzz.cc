// Fuzz target: env JSON decoding, and the decode→encode→decode round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "engine/env.h"
#include "engine/streams.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<berth::Env> env = berth::Env::FromJson(text);
  if (env.ok()) {
    // Encoding a decoded env and decoding it again gives the same env, after
    // collapsing duplicate keys (Encode keeps each key's last value).
    absl::StatusOr<berth::Env> again = berth::Env::FromJson(env->Encode());
    if (!again.ok()) std::abort();
    if (again->Map() != env->Map()) std::abort();
    if (again->Encode() != env->Encode()) std::abort();
    (void)env->GetList("a");
    (void)env->GetSubEnv("a");
  }
  // The same bytes as a stream, split in two writes.
  berth::Output out;
  auto dst = out.AddEnv();
  (void)out.Write(text.substr(0, size / 2));
  (void)out.Write(text.substr(size / 2));
  (void)out.Close();
  return 0;
}
