// Readiness notification to systemd (sd_notify), when berthd runs under it.
#ifndef BERTH_DAEMON_NOTIFY_H_
#define BERTH_DAEMON_NOTIFY_H_

namespace berth {

// Sends `state` (e.g. "READY=1") through libsystemd's sd_notify when
// $NOTIFY_SOCKET is set. libsystemd is loaded only then, so a daemon not run by
// systemd does not pay for loading it at every start.
void NotifySystemd(const char* state);

}  // namespace berth

#endif  // BERTH_DAEMON_NOTIFY_H_
