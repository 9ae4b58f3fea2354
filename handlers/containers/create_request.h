// The `create` job's env, parsed and checked: every error names the key and
// the value, e.g. `Memory: invalid size '12q'`, `PortBindings: invalid port
// '99999/tcp'`.
#ifndef BERTH_HANDLERS_CONTAINERS_CREATE_REQUEST_H_
#define BERTH_HANDLERS_CONTAINERS_CREATE_REQUEST_H_

#include "absl/status/statusor.h"
#include "engine/env.h"
#include "handlers/containers/runtime.h"

namespace berth {

absl::StatusOr<CreateRequest> ParseCreateRequest(const Env& env);

// "KILL", "SIGKILL", "9" → 9. `signal: invalid signal 'X'`.
absl::StatusOr<int> ParseSignal(absl::string_view text);

}  // namespace berth

#endif  // BERTH_HANDLERS_CONTAINERS_CREATE_REQUEST_H_
