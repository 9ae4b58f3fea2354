#include "tools/berth/verbs.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tools/berth/trace_svg.h"

namespace berth {
namespace {

using nlohmann::json;

std::string Ago(int64_t unix_seconds) {
  absl::Duration d = absl::Now() - absl::FromUnixSeconds(unix_seconds);
  const int64_t s = absl::ToInt64Seconds(d);
  if (s < 60) return absl::StrCat(s, " seconds ago");
  if (s < 3600) return absl::StrCat(s / 60, " minutes ago");
  if (s < 86400) return absl::StrCat(s / 3600, " hours ago");
  return absl::StrCat(s / 86400, " days ago");
}

std::string Size(int64_t bytes) {
  if (bytes < 1000) return absl::StrCat(bytes, " B");
  if (bytes < 1000 * 1000) return absl::StrFormat("%.1f kB", bytes / 1e3);
  return absl::StrFormat("%.1f MB", bytes / 1e6);
}

// Prints rows as columns padded to their widest cell, three spaces apart.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      absl::StrAppend(&line, r[i]);
      if (i + 1 < r.size()) line.append(width[i] - r[i].size() + 3, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

remote::JobRequest Request(std::string name, std::vector<std::string> args = {}) {
  remote::JobRequest r;
  r.name = std::move(name);
  r.args = std::move(args);
  return r;
}

int TraceSvgCommand(const std::string& file) {
  std::ifstream in(file);
  if (!in) {
    std::fprintf(stderr, "berth: trace-svg: cannot read %s: %s\n", file.c_str(), std::strerror(errno));
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::string> svg = TraceToSvg(text.str(), file);
  if (!svg.ok()) {
    std::fprintf(stderr, "berth: %s\n", std::string(svg.status().message()).c_str());
    return 1;
  }
  std::fputs(svg->c_str(), stdout);
  return 0;
}

}  // namespace

Verbs::Verbs(CLI::App& app) {
  auto add_format = [&](CLI::App* sub) {
    sub->add_option("--format", format_, "table or json")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();
  };
  version_ = app.add_subcommand("version", "the client's and the server's versions (job: version)");
  add_format(version_);
  info_ = app.add_subcommand("info", "what the server runs: driver, containers, images, root (job: info)");
  add_format(info_);
  images_ = app.add_subcommand("images", "list images (job: images)");
  add_format(images_);
  images_->add_flag("-q,--quiet", quiet_, "only image ids");
  ps_ = app.add_subcommand("ps", "list running containers (job: containers)");
  add_format(ps_);
  ps_->add_flag("-a,--all", all_, "stopped containers too");
  ps_->add_flag("-q,--quiet", quiet_, "only container ids");
  inspect_ = app.add_subcommand("inspect", "a container's or image's JSON (jobs: container_inspect, image_inspect)");
  inspect_->add_option("id", ids_, "container or image: id, id prefix or name")->required();
  logs_ = app.add_subcommand("logs", "a container's output (job: logs)");
  logs_->add_flag("-f,--follow", follow_, "keep streaming until the container stops");
  logs_->add_flag("-t,--timestamps", timestamps_, "prefix each line with its time");
  logs_->add_option("--tail", tail_, "only the last N lines");
  logs_->add_option("id", ids_, "the container")->required()->expected(1);
  start_ = app.add_subcommand("start", "start containers (job: start)");
  start_->add_option("id", ids_, "containers")->required();
  stop_ = app.add_subcommand("stop", "stop containers: SIGTERM, SIGKILL after -t seconds (job: stop)");
  stop_->add_option("-t,--time", stop_seconds_, "seconds before SIGKILL")->capture_default_str();
  stop_->add_option("id", ids_, "containers")->required();
  rm_ = app.add_subcommand("rm", "delete containers (job: container_delete)");
  rm_->add_flag("-f,--force", force_, "kill a running container first");
  rm_->add_option("id", ids_, "containers")->required();
  rmi_ = app.add_subcommand("rmi", "delete images (job: image_delete)");
  rmi_->add_option("id", ids_, "images")->required();
  events_ = app.add_subcommand("events", "follow berthd's events until interrupted (job: events)");
  events_->add_option("--since", since_, "replay from this time: unix seconds, RFC 3339 or a duration ago (10m)");
  events_->add_option("--until", until_, "stop at this time (same forms)");
  events_->add_option("-f,--filter", filters_, "KEY=VALUE, KEY one of type, event, id, from (repeatable)");
  trace_svg_ = app.add_subcommand("trace-svg", "draw a berthd trace file's start-up and shutdown as SVG on stdout");
  trace_svg_->add_option("file", trace_file_, "the trace (berthd --trace FILE)")->required();
}

bool Verbs::Run(const CaptureFn& capture, const StreamFn& stream, int* status) {
  std::string out;
  const bool as_json = format_ == "json";
  if (*version_) {
    *status = capture(Request("version"), &out, nullptr);
    if (*status != 0) return true;
    json server = json::parse(out, nullptr, false);
    if (as_json) {
      std::printf("%s\n", json{{"Client", {{"Version", BERTH_VERSION}}}, {"Server", server}}.dump().c_str());
      return true;
    }
    std::printf("Client:\n  Version: %s\nServer:\n", BERTH_VERSION);
    if (server.is_object()) {
      for (auto& [k, v] : server.items())
        std::printf("  %s: %s\n", k.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
    }
    return true;
  }
  if (*info_) {
    *status = capture(Request("info"), &out, nullptr);
    if (*status != 0) return true;
    json info = json::parse(out, nullptr, false);
    if (as_json || !info.is_object()) {
      std::fputs(out.c_str(), stdout);
      return true;
    }
    for (auto& [k, v] : info.items())
      std::printf("%s: %s\n", k.c_str(), v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
    return true;
  }
  if (*images_ || *ps_) {
    remote::JobRequest req = Request(*images_ ? "images" : "containers");
    if (*ps_ && all_) (void)req.env.SetBool("all", true);
    *status = capture(std::move(req), &out, nullptr);
    if (*status != 0) return true;
    json list = json::parse(out, nullptr, false);
    if (as_json || !list.is_array()) {
      std::fputs(out.c_str(), stdout);
      return true;
    }
    std::vector<std::vector<std::string>> rows;
    if (*images_) {
      if (!quiet_) rows.push_back({"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"});
      for (const json& img : list) {
        std::string id = img.value("Id", "").substr(0, 12);
        if (quiet_) {
          rows.push_back({id});
          continue;
        }
        for (const json& rt : img.value("RepoTags", json::array())) {
          std::string t = rt.get<std::string>();
          size_t colon = t.rfind(':');
          rows.push_back({t.substr(0, colon), colon == std::string::npos ? "" : t.substr(colon + 1), id,
                          Ago(img.value("Created", int64_t{0})), Size(img.value("Size", int64_t{0}))});
        }
      }
    } else {
      if (!quiet_) rows.push_back({"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"});
      for (const json& c : list) {
        std::string id = c.value("Id", "").substr(0, 12);
        if (quiet_) {
          rows.push_back({id});
          continue;
        }
        std::vector<std::string> ports, names;
        for (const json& p : c.value("Ports", json::array())) {
          if (p.contains("PublicPort")) {
            ports.push_back(absl::StrCat(p.value("IP", ""), ":", p.value("PublicPort", 0), "->",
                                         p.value("PrivatePort", 0), "/", p.value("Type", "")));
          } else {
            ports.push_back(absl::StrCat(p.value("PrivatePort", 0), "/", p.value("Type", "")));
          }
        }
        for (const json& n : c.value("Names", json::array())) {
          std::string name = n.get<std::string>();
          names.push_back(name.empty() || name[0] != '/' ? name : name.substr(1));
        }
        rows.push_back({id, c.value("Image", ""), absl::StrCat("\"", c.value("Command", ""), "\""),
                        Ago(c.value("Created", int64_t{0})), c.value("Status", ""), absl::StrJoin(ports, ", "),
                        absl::StrJoin(names, ",")});
      }
    }
    PrintTable(rows);
    return true;
  }
  if (*inspect_) {
    json all = json::array();
    for (const std::string& id : ids_) {
      std::string one;
      std::string err;
      int st = capture(Request("container_inspect", {id}), &one, &err);
      if (st != 0) st = capture(Request("image_inspect", {id}), &one, &err);
      if (st != 0) {
        if (st == 1) {
          std::fprintf(stderr, "berth: no such container or image: %s\n", id.c_str());
        } else {
          std::fputs(err.c_str(), stderr);
        }
        *status = st;
        return true;
      }
      all.push_back(json::parse(one, nullptr, false));
    }
    std::printf("%s\n", all.dump(2).c_str());
    *status = 0;
    return true;
  }
  if (*logs_) {
    remote::JobRequest req = Request("logs", ids_);
    if (follow_) (void)req.env.SetBool("follow", true);
    if (timestamps_) (void)req.env.SetBool("timestamps", true);
    if (!tail_.empty()) (void)req.env.Set("tail", tail_);
    *status = stream(std::move(req));
    return true;
  }
  if (*events_) {
    remote::JobRequest req = Request("events");
    if (!since_.empty()) (void)req.env.Set("since", since_);
    if (!until_.empty()) (void)req.env.Set("until", until_);
    if (!filters_.empty()) (void)req.env.SetList("filter", filters_);
    *status = stream(std::move(req));
    return true;
  }
  if (*trace_svg_) {
    *status = TraceSvgCommand(trace_file_);
    return true;
  }
  struct Each {
    CLI::App* verb;
    const char* job;
  };
  for (const Each& e :
       {Each{start_, "start"}, Each{stop_, "stop"}, Each{rm_, "container_delete"}, Each{rmi_, "image_delete"}}) {
    if (!*e.verb) continue;
    *status = 0;
    for (const std::string& id : ids_) {
      remote::JobRequest req = Request(e.job, {id});
      if (e.verb == stop_) (void)req.env.SetInt("t", stop_seconds_);
      if (e.verb == rm_ && force_) (void)req.env.SetBool("force", true);
      int st = stream(std::move(req));
      if (st != 0) *status = st;
    }
    return true;
  }
  return false;
}

}  // namespace berth
