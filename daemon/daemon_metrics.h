// The daemon's figures for the metrics page (docs/observability.md): start-up
// step durations, images, containers by state with each running container's
// CPU and memory from its cgroup, the addresses and ports containers hold,
// and this process's iptables commits.
#ifndef BERTH_DAEMON_DAEMON_METRICS_H_
#define BERTH_DAEMON_DAEMON_METRICS_H_

#include "daemon/daemon.h"
#include "handlers/observe/observability.h"

namespace berth {

// Adds the collector; `daemon` must outlive `obs`'s scrapes.
void AddDaemonMetrics(Observability& obs, Daemon& daemon);

}  // namespace berth

#endif  // BERTH_DAEMON_DAEMON_METRICS_H_
