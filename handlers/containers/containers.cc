// The `containers` group's handlers: env in, ContainerRuntime call, output.
#include "handlers/containers/containers.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "handlers/containers/container_logs.h"
#include "handlers/containers/create_request.h"
#include "nlohmann/json.hpp"

namespace berth {
namespace {

using nlohmann::json;

// Missing objects are status 1 with their message (127 means "no such job").
int Fail(Job& job, const absl::Status& s) { return job.Error(s.message()); }

// The one ID argument of a job, resolved.
absl::StatusOr<std::string> OneId(ContainerRuntime* rt, Job& job) {
  if (job.args().size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("usage: ", job.name(), " ID (a container name, id or id prefix)"));
  }
  absl::StatusOr<std::string> id = rt->store().Resolve(job.args()[0]);
  if (id.ok()) job.set_log_subject(*id);  // the job's log records name it
  return id;
}

absl::StatusOr<absl::Duration> StopTimeout(const Env& env) {
  absl::StatusOr<int64_t> t = env.GetInt64Checked("t", 10);
  if (!t.ok()) return t.status();
  if (*t < 0) return absl::InvalidArgumentError(absl::StrCat("t: must not be negative, got '", env.Get("t"), "'"));
  return absl::Seconds(*t);
}

// Docker's HumanDuration.
std::string HumanDuration(absl::Duration d) {
  int64_t s = absl::ToInt64Seconds(d);
  if (s < 1) return "Less than a second";
  if (s < 60) return absl::StrCat(s, " seconds");
  int64_t m = s / 60;
  if (m == 1) return "About a minute";
  if (m < 60) return absl::StrCat(m, " minutes");
  int64_t h = m / 60;
  if (h == 1) return "About an hour";
  if (h < 48) return absl::StrCat(h, " hours");
  if (h < 24 * 7 * 2) return absl::StrCat(h / 24, " days");
  if (h < 24 * 30 * 3) return absl::StrCat(h / 24 / 7, " weeks");
  if (h < 24 * 365 * 2) return absl::StrCat(h / 24 / 30, " months");
  return absl::StrCat(h / 24 / 365, " years");
}

absl::Time ParseTime(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) return absl::Now();
  return t;
}

std::string StatusText(const ContainerRecord& c) {
  if (c.state.restarting) {
    return absl::StrCat("Restarting (", c.state.exit_code, ") ", HumanDuration(absl::Now() - ParseTime(c.state.finished_at)),
                        " ago");
  }
  if (c.state.running) return absl::StrCat("Up ", HumanDuration(absl::Now() - ParseTime(c.state.started_at)));
  if (c.state.finished_at.empty()) return "";
  if (c.state.lost) {
    return absl::StrCat("Lost ", HumanDuration(absl::Now() - ParseTime(c.state.finished_at)), " ago");
  }
  return absl::StrCat("Exited (", c.state.exit_code, ") ", HumanDuration(absl::Now() - ParseTime(c.state.finished_at)),
                      " ago");
}

json PortsList(const ContainerRecord& c) {
  json out = json::array();
  for (const std::string& port : c.config.exposed_ports) {
    std::pair<std::string, std::string> p = absl::StrSplit(port, absl::MaxSplits('/', 1));
    int private_port = 0;
    (void)absl::SimpleAtoi(p.first, &private_port);
    auto bound = c.network.ports.find(port);
    if (bound == c.network.ports.end() || bound->second.empty()) {
      out.push_back({{"PrivatePort", private_port}, {"Type", p.second}});
      continue;
    }
    for (const PortBinding& b : bound->second) {
      int public_port = 0;
      (void)absl::SimpleAtoi(b.host_port, &public_port);
      out.push_back({{"IP", b.host_ip}, {"PrivatePort", private_port}, {"PublicPort", public_port}, {"Type", p.second}});
    }
  }
  return out;
}

int Create(ContainerRuntime* rt, Job& job) {
  if (!job.args().empty()) return job.Errorf("create: takes no arguments (the container is described by env), got '%s'",
                                             job.args()[0]);
  absl::StatusOr<CreateRequest> request = ParseCreateRequest(job.env());
  if (!request.ok()) return Fail(job, request.status());
  absl::StatusOr<std::string> id = rt->Create(*request);
  if (!id.ok()) return Fail(job, id.status());
  return job.Error(job.Stdout().Write(*id + "\n"));
}

// Resolves the one ID argument and runs `op` on the container; its error is
// the job's.
int OnContainer(ContainerRuntime* rt, Job& job, const std::function<absl::Status(const std::string& id)>& op) {
  absl::StatusOr<std::string> id = OneId(rt, job);
  if (!id.ok()) return Fail(job, id.status());
  absl::Status s = op(*id);
  return s.ok() ? kStatusOk : Fail(job, s);
}

int Start(ContainerRuntime* rt, Job& job) {
  return OnContainer(rt, job, [rt](const std::string& id) { return rt->Start(id); });
}

int Wait(ContainerRuntime* rt, Job& job) {
  absl::StatusOr<std::string> id = OneId(rt, job);
  if (!id.ok()) return Fail(job, id.status());
  absl::StatusOr<int> code = rt->Wait(*id, [&job] { return job.cancelled() || absl::Now() >= job.deadline(); });
  if (!code.ok()) {
    if (code.status().code() != absl::StatusCode::kCancelled) return Fail(job, code.status());
    // Stopped waiting: 124 past the deadline, 130 when cancelled.
    if (!job.cancelled()) return job.Error(absl::DeadlineExceededError("wait: deadline exceeded"));
    return job.Error(code.status());
  }
  return job.Error(job.Stdout().Write(absl::StrCat(*code, "\n")));
}

int Stop(ContainerRuntime* rt, Job& job) {
  absl::StatusOr<absl::Duration> t = StopTimeout(job.env());
  if (!t.ok()) return Fail(job, t.status());
  return OnContainer(rt, job, [rt, t](const std::string& id) { return rt->Stop(id, *t); });
}

int Restart(ContainerRuntime* rt, Job& job) {
  absl::StatusOr<absl::Duration> t = StopTimeout(job.env());
  if (!t.ok()) return Fail(job, t.status());
  return OnContainer(rt, job, [rt, t](const std::string& id) { return rt->Restart(id, *t); });
}

int Kill(ContainerRuntime* rt, Job& job) {
  absl::StatusOr<int> sig = ParseSignal(job.env().Get("signal"));
  if (!sig.ok()) return Fail(job, sig.status());
  return OnContainer(rt, job, [rt, sig](const std::string& id) { return rt->Kill(id, *sig); });
}

int Delete(ContainerRuntime* rt, Job& job) {
  bool force = job.env().GetBool("force");
  return OnContainer(rt, job, [rt, force](const std::string& id) { return rt->Delete(id, force); });
}

int List(ContainerRuntime* rt, Job& job) {
  if (!job.args().empty()) return job.Errorf("containers: takes no arguments, got '%s'", job.args()[0]);
  bool all = job.env().GetBool("all");
  std::vector<ContainerRecord> list = rt->store().List();
  std::sort(list.begin(), list.end(), [](const ContainerRecord& a, const ContainerRecord& b) {
    return a.created != b.created ? a.created > b.created : a.id < b.id;
  });
  json out = json::array();
  for (const ContainerRecord& c : list) {
    if (!all && !c.state.running) continue;
    std::vector<std::string> cmd = c.config.cmd;
    out.push_back({{"Id", c.id},
                   {"Names", json::array({c.name})},
                   {"Image", c.config.image},
                   {"Command", absl::StrJoin(cmd, " ")},
                   {"Created", absl::ToUnixSeconds(ParseTime(c.created))},
                   {"Status", StatusText(c)},
                   {"Ports", PortsList(c)}});
  }
  return job.Error(job.Stdout().Write(out.dump() + "\n"));
}

int Inspect(ContainerRuntime* rt, Job& job) {
  absl::StatusOr<std::string> id = OneId(rt, job);
  if (!id.ok()) return Fail(job, id.status());
  absl::StatusOr<ContainerRecord> c = rt->store().Get(*id);
  if (!c.ok()) return Fail(job, c.status());
  json j = json::parse(EncodeContainer(*c));
  j["Id"] = c->id;
  j.erase("ID");
  j["HostConfig"] = json::parse(EncodeHostConfig(c->host_config));
  j["ExecDriver"] = absl::StrCat(rt->options().exec_driver, "-", BERTH_VERSION);
  j["State"]["Paused"] = false;
  return job.Error(job.Stdout().Write(j.dump() + "\n"));
}

int Top(ContainerRuntime* rt, Job& job) {
  absl::StatusOr<std::string> id = OneId(rt, job);
  if (!id.ok()) return Fail(job, id.status());
  absl::StatusOr<std::shared_ptr<execdriver::Container>> p = rt->Process(*id);
  if (!p.ok()) return Fail(job, p.status());
  absl::StatusOr<std::vector<pid_t>> pids = (*p)->Pids();
  if (!pids.ok()) return Fail(job, pids.status());
  json processes = json::array();
  for (pid_t pid : *pids) {
    std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
    std::string line, uid = "?", ppid = "?";
    while (std::getline(status, line)) {
      if (absl::StartsWith(line, "Uid:")) uid = std::vector<std::string>(absl::StrSplit(line, '\t', absl::SkipEmpty()))[1];
      if (absl::StartsWith(line, "PPid:")) ppid = std::string(absl::StripAsciiWhitespace(line.substr(5)));
    }
    std::ifstream cmdline(absl::StrCat("/proc/", pid, "/cmdline"));
    std::stringstream ss;
    ss << cmdline.rdbuf();
    std::string cmd = ss.str();
    while (!cmd.empty() && cmd.back() == '\0') cmd.pop_back();
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    processes.push_back({uid, absl::StrCat(pid), ppid, cmd});
  }
  json out = {{"Titles", {"UID", "PID", "PPID", "CMD"}}, {"Processes", processes}};
  return job.Error(job.Stdout().Write(out.dump() + "\n"));
}

int Logs(ContainerRuntime* rt, Job& job) {
  absl::StatusOr<std::string> id = OneId(rt, job);
  if (!id.ok()) return Fail(job, id.status());
  absl::StatusOr<LogsRequest> request = ParseLogsRequest(job.env());
  if (!request.ok()) return Fail(job, request.status());
  return job.Error(StreamLogs(*rt, *id, *request, job));
}

int Attach(ContainerRuntime* rt, Job& job) {
  absl::StatusOr<std::string> id = OneId(rt, job);
  if (!id.ok()) return Fail(job, id.status());
  return job.Error(AttachContainer(*rt, *id, job));
}

}  // namespace

std::vector<JobHelp> ContainersHelp() {
  const std::string id = "ID (a full id, a unique id prefix, or a name)";
  return {
      JobHelp("create", "", "makes a container from an image; prints its 64-hex id",
              {{"Image", "image name (repo[:tag]), id or id prefix; required"},
               {"Cmd", "JSON array: the program and its arguments; required"},
               {"Env", "JSON array of KEY=VALUE"},
               {"Name", "[a-zA-Z0-9][a-zA-Z0-9_.-]+; default a generated adjective_name"},
               {"Hostname", "default: the id's first 12 characters"},
               {"WorkingDir", "absolute; created at start if missing"},
               {"User", "uid, uid:gid, name or name:group from the image's /etc/passwd"},
               {"Memory", "bytes, or with a k/m/g suffix; at least 4m"},
               {"CpuShares", "relative CPU weight"},
               {"PidsLimit", "most processes in the container; 0 = none"},
               {"ExposedPorts", "[\"80/tcp\"]"},
               {"PortBindings", "{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}]}"},
               {"Links", "[\"/web:db\"]: container web as db"},
               {"RestartPolicy", "no, always, on-failure[:max]"},
               {"SecurityOpt", "JSON array; seccomp=unconfined turns the seccomp filter off"},
               {"NetworkDisabled", "true: no eth0, only lo"},
               {"OpenStdin", "true: attach writes the container's stdin"}}),
      JobHelp("start", id, "sets up the network and /etc files, then runs the container's process"),
      JobHelp("wait", id, "waits until the container stops; prints its exit code"),
      JobHelp("stop", id, "SIGTERM, then SIGKILL after t seconds; returns once it is stopped",
              {{"t", "seconds before SIGKILL (default 10)"}}),
      JobHelp("kill", id, "sends a signal to the container's process",
              {{"signal", "KILL, SIGTERM, 15, ... (default KILL)"}}),
      JobHelp("restart", id, "stop, then start", {{"t", "seconds before SIGKILL (default 10)"}}),
      JobHelp("container_delete", id, "removes the container's record, layers, name and links",
              {{"force", "true: kill a running container first"}, {"v", "accepted; containers have no volumes"}}),
      JobHelp("containers", "", "JSON array of containers (Id, Names, Image, Command, Created, Status, Ports), "
                                "newest first",
              {{"all", "true: stopped containers too"}}),
      JobHelp("container_inspect", id, "the container's record as JSON"),
      JobHelp("logs", id, "the container's output, each line on the stream it was written to",
              {{"follow", "true: keep going until the container stops"},
               {"tail", "N or all"},
               {"timestamps", "true: prefix each line with its RFC 3339 time"}}),
      JobHelp("attach", id, "the container's output as it comes, until it stops; with OpenStdin, stdin goes to it",
              {}, StdinUse::kOptional),
      JobHelp("top", id, "the processes in the container as JSON {Titles, Processes}"),
  };
}

HandlerGroup ContainersGroup(ContainerRuntime* rt) {
  HandlerGroup g;
  g.name = "containers";
  struct Entry {
    const char* name;
    int (*fn)(ContainerRuntime*, Job&);
  };
  static const Entry kJobs[] = {
      {"create", Create},   {"start", Start},   {"wait", Wait},
      {"stop", Stop},       {"kill", Kill},     {"restart", Restart},
      {"container_delete", Delete}, {"containers", List}, {"container_inspect", Inspect},
      {"logs", Logs},       {"attach", Attach}, {"top", Top},
  };
  g.help = ContainersHelp();
  g.jobs = JobNames(g.help);
  g.install = [rt](Engine& eng) -> absl::Status {
    for (const Entry& e : kJobs) {
      auto fn = e.fn;
      if (absl::Status s = eng.Register(e.name, [rt, fn](Job& job) { return fn(rt, job); }); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  return g;
}

}  // namespace berth
