#include "daemon/log_setup.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "engine/log.h"
#include "engine/job.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/base_sink.h"

namespace berth {
namespace {

using SendV = int (*)(const struct iovec*, int);

SendV JournalSend() {
  static SendV send = [] {
    void* lib = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    return lib == nullptr ? nullptr : reinterpret_cast<SendV>(::dlsym(lib, "sd_journal_sendv"));
  }();
  return send;
}

// The fields of a record logged while a job's handler runs on this thread.
struct JobFields {
  absl::string_view job, trace_id, container_id;
};

std::optional<JobFields> CurrentJobFields() {
  const Job* job = Job::Current();
  if (job == nullptr) return std::nullopt;
  return JobFields{job->name(), job->env().GetView("BERTH_TRACE_ID"), job->log_subject()};
}

int Priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return 7;
    case spdlog::level::info: return 6;
    case spdlog::level::warn: return 4;
    case spdlog::level::err: return 3;
    default: return 2;
  }
}

class JournalSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::vector<std::string> fields = {absl::StrCat("MESSAGE=", absl::string_view(msg.payload.data(), msg.payload.size())),
                                       absl::StrCat("PRIORITY=", Priority(msg.level)),
                                       "SYSLOG_IDENTIFIER=berthd"};
    if (std::optional<JobFields> f = CurrentJobFields()) {
      fields.push_back(absl::StrCat("BERTH_JOB=", f->job));
      if (!f->trace_id.empty()) fields.push_back(absl::StrCat("BERTH_TRACE_ID=", f->trace_id));
      if (!f->container_id.empty()) fields.push_back(absl::StrCat("CONTAINER_ID=", f->container_id));
    }
    std::vector<struct iovec> iov;
    for (std::string& f : fields) iov.push_back({f.data(), f.size()});
    JournalSend()(iov.data(), static_cast<int>(iov.size()));
  }
  void flush_() override {}
};

class JsonSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    nlohmann::ordered_json j;
    const absl::Time t = absl::FromChrono(msg.time);
    j["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", t, absl::UTCTimeZone());
    auto level = spdlog::level::to_string_view(msg.level);
    j["level"] = std::string(level.data(), level.size());
    j["msg"] = std::string(msg.payload.data(), msg.payload.size());
    if (std::optional<JobFields> f = CurrentJobFields()) {
      j["job"] = std::string(f->job);
      if (!f->trace_id.empty()) j["trace_id"] = std::string(f->trace_id);
      if (!f->container_id.empty()) j["container_id"] = std::string(f->container_id);
    }
    std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

void Use(std::shared_ptr<spdlog::sinks::sink> sink) {
  auto logger = std::make_shared<spdlog::logger>("berthd", std::move(sink));
  logger->set_level(spdlog::default_logger()->level());
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace

bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  std::pair<std::string, std::string> parts = absl::StrSplit(stream, absl::MaxSplits(':', 1));
  struct stat st;
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  if (parts.first != absl::StrCat(st.st_dev) || parts.second != absl::StrCat(st.st_ino)) return false;
  return JournalSend() != nullptr;
}

absl::Status ConfigureLogging(const std::string& format) {
  if (format == "json") {
    Use(std::make_shared<JsonSink>());
  } else if (format != "text") {
    return absl::InvalidArgumentError(absl::StrCat("--log-format ", format, ": want text or json"));
  } else if (StderrIsJournal()) {
    Use(std::make_shared<JournalSink>());
  }
  return absl::OkStatus();
}

}  // namespace berth
