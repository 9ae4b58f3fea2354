#include "daemon/daemon_metrics.h"

#include <map>

#include "net/iptables_stats.h"

namespace berth {
namespace {

void WriteSteps(PromWriter& out, const Daemon& d) {
  out.Family("berth_startup_step_seconds", "gauge", "How long each NewDaemon step took at this start.");
  double total = 0;
  for (const StepTiming& t : d.step_timings()) {
    const double s = absl::ToDoubleSeconds(t.duration);
    total += s;
    out.Sample("berth_startup_step_seconds", {{"step", t.job}}, s);
  }
  out.Family("berth_startup_seconds", "gauge", "How long NewDaemon took at this start (the steps together).");
  out.Sample("berth_startup_seconds", {}, total);
}

void WriteContainers(PromWriter& out, const Daemon& d) {
  out.Family("berth_containers", "gauge", "Containers by state (running, restarting, stopped).");
  out.Family("berth_ips_allocated", "gauge", "Container addresses held on the bridge.");
  out.Family("berth_port_mappings", "gauge", "Host ports mapped to containers.");
  out.Family("berth_container_cpu_seconds_total", "counter", "CPU time of a running container's cgroup.");
  out.Family("berth_container_memory_bytes", "gauge", "Memory in use by a running container's cgroup.");
  ContainerRuntime* rt = d.runtime();
  std::map<std::string, int> states = {{"running", 0}, {"restarting", 0}, {"stopped", 0}};
  int ips = 0;
  int ports = 0;
  std::vector<ContainerRecord> records = rt == nullptr ? std::vector<ContainerRecord>() : rt->store().List();
  for (const ContainerRecord& c : records) {
    ++states[c.state.restarting ? "restarting" : c.state.running ? "running" : "stopped"];
    if (!c.network.ip_address.empty()) ++ips;
    for (const auto& [port, bindings] : c.network.ports) ports += static_cast<int>(bindings.size());
    if (!c.state.running || c.state.restarting) continue;
    absl::StatusOr<std::shared_ptr<execdriver::Container>> p = rt->Process(c.id);
    if (!p.ok()) continue;
    absl::StatusOr<execdriver::CgroupStats> stats = (*p)->Stats();
    if (!stats.ok()) continue;
    const PromLabels labels = {{"id", c.id.substr(0, 12)}, {"name", c.name}};
    out.Sample("berth_container_cpu_seconds_total", labels, stats->cpu_usage_ns / 1e9);
    out.Sample("berth_container_memory_bytes", labels, static_cast<double>(stats->memory_usage_bytes));
  }
  for (const auto& [state, n] : states) out.Sample("berth_containers", {{"state", state}}, n);
  out.Sample("berth_ips_allocated", {}, ips);
  out.Sample("berth_port_mappings", {}, ports);
}

void WriteImages(PromWriter& out, const Daemon& d) {
  out.Family("berth_images", "gauge", "Images (layers) in the graph.");
  out.Sample("berth_images", {}, d.graph() == nullptr ? 0 : static_cast<double>(d.graph()->Ids().size()));
}

void WriteIptables(PromWriter& out) {
  net::IptablesStats::Snapshot s = net::IptablesStats::Process().Read();
  out.Family("berth_iptables_rules_written_total", "counter",
             "Rule and chain changes committed by this process's libiptc batches.");
  out.Sample("berth_iptables_rules_written_total", {}, static_cast<double>(s.rules_written));
  out.Family("berth_iptables_commit_errors_total", "counter", "iptables commits that failed.");
  out.Sample("berth_iptables_commit_errors_total", {}, static_cast<double>(s.commit_errors));
  out.Family("berth_iptables_commit_seconds", "histogram", "How long one iptables table commit took.");
  out.Histogram("berth_iptables_commit_seconds", {}, net::IptablesStats::Bounds(), s.cumulative, s.commits,
                s.commit_seconds);
}

}  // namespace

void AddDaemonMetrics(Observability& obs, Daemon& daemon) {
  obs.AddCollector([&daemon](PromWriter& out) {
    WriteSteps(out, daemon);
    WriteImages(out, daemon);
    WriteContainers(out, daemon);
    WriteIptables(out);
  });
}

}  // namespace berth
