// NewDaemon's host-facing pieces: config checks, pid file, system checks, root,
// sysinfo, DNS, container records.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "daemon/config.h"
#include "handlers/containers/create_request.h"
#include "handlers/containers/record.h"
#include "nlohmann/json.hpp"
#include "daemon/pidfile.h"
#include "daemon/system.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth {
namespace {

using testing::TempDir;
using testing::WriteFileOrDie;
using testing::ReadFileOrEmpty;

TEST_CASE("config: each flag's value is checked, the error naming the flag") {
  auto error = [](auto change) {
    Config c;
    change(c);
    return std::string(CheckConfig(c, 1500).status().message());
  };
  CHECK(error([](Config& c) { c.default_ip = "1.2.3"; }) == "--ip: invalid IPv4 address '1.2.3'");
  CHECK(error([](Config& c) { c.bridge_ip = "999.1.1.1/16"; }) ==
        "--bip: invalid CIDR '999.1.1.1/16' (want ADDRESS/PREFIX, e.g. 172.17.42.1/16)");
  CHECK(error([](Config& c) { c.fixed_cidr = "10.0.0.0"; }) ==
        "--fixed-cidr: invalid CIDR '10.0.0.0' (want ADDRESS/PREFIX, e.g. 172.17.42.1/16)");
  CHECK(error([](Config& c) { c.mtu = 10; }) == "--mtu: must be 0 (the default route's) or between 68 and 65535, got 10");
  CHECK(error([](Config& c) { c.dns = {"8.8.8.8", "notanip"}; }) == "--dns: invalid IPv4 address 'notanip'");
  CHECK(error([](Config& c) { c.exec_driver = "lxc"; }) == "--exec-driver: unknown exec driver 'lxc' (berth has: native)");
  CHECK(error([](Config& c) { c.graph_driver = "zfs"; }) ==
        "--storage-driver: unknown graph driver 'zfs' (berth has: aufs, btrfs, devicemapper, overlay, vfs)");
  CHECK(error([](Config& c) { c.graph_options = {"foo=bar"}; }) ==
        "--storage-opt: unknown option 'foo=bar' (berth's graph drivers take no options)");
  CHECK(error([](Config& c) { c.hosts = {"/run/x.sock"}; }) == "-H: '/run/x.sock' is not ipc:///PATH or tcp://HOST:PORT");
  CHECK(error([](Config& c) { c.hosts = {"ipc://run/x.sock"}; }) ==
        "-H: 'ipc://run/x.sock': an ipc endpoint needs an absolute path (ipc:///run/x.sock)");
  CHECK(absl::StartsWith(error([](Config& c) { c.hosts = {"tcp://0.0.0.0:23750"}; }),
                         "-H: refusing to serve tcp://0.0.0.0:23750 without CURVE keys"));
  CHECK(error([](Config& c) { c.hosts = {"tcp://127.0.0.1:23750", "ipc:///run/b.sock"}; }).empty());
  CHECK(error([](Config& c) {
          c.hosts = {"tcp://0.0.0.0:23750"};
          c.curve_key_file = "/etc/berth/server.key";
        }).empty());
}

TEST_CASE("config: --userns-remap is resolved from the subid files, errors naming the flag") {
  TempDir dir;
  WriteFileOrDie(dir / "subuid", "nobody:300000:65536\n");
  WriteFileOrDie(dir / "subgid", "nobody:310000:1000\n");
  Config c;
  c.subid_files = {dir / "subuid", dir / "subgid"};
  auto off = CheckConfig(c, 1500);
  REQUIRE(off.ok());
  CHECK(!off->userns.enabled());
  c.userns_remap = "nobody";
  auto on = CheckConfig(c, 1500);
  REQUIRE(on.ok());
  CHECK(on->userns.uids == execdriver::IdRange{300000, 65536});
  CHECK(on->userns.gids == execdriver::IdRange{310000, 1000});
  c.userns_remap = "nobody:nogroup";
  CHECK(CheckConfig(c, 1500).status().message() ==
        "--userns-remap: no subordinate gid range for 'nogroup' in " + dir / "subgid");
}

TEST_CASE("create: Binds are checked against the host, the error naming the value") {
  TempDir dir;
  Env env;
  (void)env.Set("Image", "bb");
  (void)env.SetJson("Cmd", nlohmann::json::array({"true"}));
  (void)env.SetJson("Binds", nlohmann::json::array({dir.path() + ":/data", dir.path() + ":/ro:ro"}));
  auto ok = ParseCreateRequest(env);
  REQUIRE_MESSAGE(ok.ok(), ok.status());
  CHECK(ok->host_config.binds == std::vector<std::string>{dir.path() + ":/data", dir.path() + ":/ro:ro"});
  (void)env.SetJson("Binds", nlohmann::json::array({dir.path() + ":/data", "/no/such:/x"}));
  CHECK(ParseCreateRequest(env).status().message() ==
        "Binds: host path /no/such does not exist (in '/no/such:/x'): No such file or directory");
  (void)env.SetJson("Binds", nlohmann::json::array({"rel:/x"}));
  CHECK(ParseCreateRequest(env).status().message() == "Binds: the host path must be absolute, got 'rel' in 'rel:/x'");
}

TEST_CASE("config: mutually exclusive flags, ICC without iptables, ip-masq, MTU, DisableNetwork") {
  Config c;
  c.bridge_iface = "br-test";
  c.bridge_ip = "10.0.0.1/24";
  CHECK(CheckConfig(c, 1500).status().message() ==
        "You specified -b & --bip, mutually exclusive options. Please specify only one.");
  Config d;
  d.enable_iptables = false;
  d.inter_container_communication = false;
  CHECK(CheckConfig(d, 1500).status().message() ==
        "You specified --iptables=false with --icc=false. ICC uses iptables to function. Please set --icc or "
        "--iptables to true.");
  Config e;
  e.enable_iptables = false;
  e.enable_ip_masq = true;
  auto checked = CheckConfig(e, 1400);
  REQUIRE(checked.ok());
  CHECK_FALSE(checked->enable_ip_masq);
  CHECK(checked->mtu == 1400);
  CHECK_FALSE(checked->disable_network);
  Config f;
  f.bridge_iface = "none";
  f.mtu = 9000;
  CHECK(CheckConfig(f, 1500)->disable_network);
  CHECK(CheckConfig(f, 1500)->mtu == 9000);
  // The env round trip keeps every field the steps use.
  Config g;
  g.bridge_ip = "10.9.0.1/16";
  g.dns = {"1.1.1.1", "9.9.9.9"};
  g.graph_options = {"a=b"};
  g.enable_selinux = true;
  auto back = ConfigFromEnv(ConfigToEnv(g));
  REQUIRE(back.ok());
  CHECK(back->bridge_ip == "10.9.0.1/16");
  CHECK(back->dns == g.dns);
  CHECK(back->graph_options == g.graph_options);
  CHECK(back->enable_selinux);
  Env bad = ConfigToEnv(g);
  REQUIRE(bad.Set("Mtu", "big").ok());
  CHECK(ConfigFromEnv(bad).status().message() == "invalid integer for Mtu: 'big'");
}

TEST_CASE("pid file: written, locked, removed; a held lock refuses with the documented message") {
  TempDir dir;
  std::string path = dir / "run/berthd.pid";
  auto p = Pidfile::Create(path);
  REQUIRE(p.ok());
  CHECK(ReadFileOrEmpty(path) == std::to_string(::getpid()) + "\n");
  // A second daemon (another open file description) cannot take it.
  auto second = Pidfile::Create(path);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message() == "pid file found, ensure berthd is not running or delete " + path);
  CHECK((*p)->Remove().ok());
  CHECK(::access(path.c_str(), F_OK) != 0);
  CHECK((*p)->Remove().ok());  // idempotent
}

TEST_CASE("pid file: a stale pid and a reused pid do not block; a live unlocked berthd does") {
  TempDir dir;
  std::string path = dir / "berthd.pid";
  // Stale: a pid nobody has.
  WriteFileOrDie(path, "4194303\n");
  auto stale = Pidfile::Create(path);
  REQUIRE(stale.ok());
  REQUIRE((*stale)->Remove().ok());
  // Reused: a live process that is not berthd (this test).
  WriteFileOrDie(path, std::to_string(::getppid()) + "\n");
  auto reused = Pidfile::Create(path);
  REQUIRE(reused.ok());
  REQUIRE((*reused)->Remove().ok());
  // A live process named berthd, holding no lock (say, an older daemon).
  std::string fake = dir / "berthd";
  std::filesystem::copy_file("/bin/sleep", fake);
  ::chmod(fake.c_str(), 0755);
  testing::Process live(testing::ProcessOptions{{fake, "30"}, {}, "", dir.path()});
  REQUIRE(testing::WaitFor([&] { return ReadFileOrEmpty("/proc/" + std::to_string(live.pid()) + "/comm") == "berthd\n"; },
                           absl::Seconds(5)));
  WriteFileOrDie(path, std::to_string(live.pid()) + "\n");
  auto refused = Pidfile::Create(path);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message() == "pid file found, ensure berthd is not running or delete " + path);
}

TEST_CASE("pid file: a berthd killed but not yet reaped (a zombie) does not block the next start") {
  TempDir dir;
  std::string path = dir / "berthd.pid";
  std::string fake = dir / "berthd";
  std::filesystem::copy_file("/bin/sleep", fake);
  ::chmod(fake.c_str(), 0755);
  // Our own child, so that it stays a zombie until we reap it.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::execl(fake.c_str(), "berthd", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  REQUIRE(testing::WaitFor([&] { return ReadFileOrEmpty("/proc/" + std::to_string(child) + "/comm") == "berthd\n"; },
                           absl::Seconds(5)));
  ::kill(child, SIGKILL);
  REQUIRE(testing::WaitFor([&] {
    std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(child) + "/stat");
    size_t close = stat.rfind(')');
    return close != std::string::npos && stat.substr(close + 2, 1) == "Z";
  }, absl::Seconds(5)));
  WriteFileOrDie(path, std::to_string(child) + "\n");
  auto p = Pidfile::Create(path);
  CHECK_MESSAGE(p.ok(), p.status().ToString());
  int status = 0;
  ::waitpid(child, &status, 0);
}

TEST_CASE("system checks: root, architecture, kernel version") {
  std::vector<std::string> warnings;
  HostFacts h{0, "Linux", "x86_64", "6.1.0-13-amd64"};
  CHECK(CheckSystem(h, &warnings).ok());
  CHECK(warnings.empty());
  h.euid = 1000;
  CHECK(CheckSystem(h, &warnings).message() == "The berth daemon needs to be run as root");
  h.euid = 0;
  h.machine = "mips";
  CHECK(CheckSystem(h, &warnings).message() ==
        "The berth runtime currently only supports x86_64 and aarch64 (not mips)");
  h.machine = "aarch64";
  h.kernel_release = "3.2.0-4-amd64";
  CHECK(CheckSystem(h, &warnings).ok());
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "You are running Linux kernel version 3.2.0-4-amd64, which might be unstable running berth. "
                       "Please upgrade your kernel to 3.8.0.");
  CHECK(ParseKernelVersion("3.8")->minor == 8);
  CHECK(ParseKernelVersion("garbage").status().message() == "cannot parse kernel version 'garbage'");
  h.os = "Darwin";
  CHECK(CheckSystem(h, &warnings).message() == "berthd runs on Linux only (this is Darwin)");
}

TEST_CASE("root: created 0700, resolved through symlinks, tmp dir becomes TMPDIR") {
  TempDir dir;
  std::string real = dir / "real-root";
  REQUIRE(::mkdir(real.c_str(), 0755) == 0);
  REQUIRE(::symlink(real.c_str(), (dir / "link").c_str()) == 0);
  const char* before = std::getenv("TMPDIR");
  std::string saved = before ? before : "";
  auto dirs = PrepareRoot(dir / "link", "");
  REQUIRE(dirs.ok());
  CHECK(dirs->root == std::filesystem::canonical(real).string());
  CHECK(dirs->tmp == dirs->root + "/tmp");
  CHECK(std::string(std::getenv("TMPDIR")) == dirs->tmp);
  struct stat st;
  REQUIRE(::stat(dirs->tmp.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  auto fresh = PrepareRoot(dir / "new/deeper", dir / "elsewhere");
  REQUIRE(fresh.ok());
  REQUIRE(::stat(fresh->root.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(fresh->tmp == dir / "elsewhere");
  CHECK(PrepareRoot("relative", "").status().message() == "the root (-g) must be an absolute path, got 'relative'");
  if (saved.empty()) {
    ::unsetenv("TMPDIR");
  } else {
    ::setenv("TMPDIR", saved.c_str(), 1);
  }
}

TEST_CASE("sysinfo from a fake host tree") {
  TempDir dir;
  auto mk = [&](const std::string& p) { std::filesystem::create_directories(dir.path() + p); };
  mk("/proc/self");
  mk("/proc/sys/net/ipv4");
  mk("/sys/fs/cgroup/memory");
  WriteFileOrDie(dir.path() + "/proc/self/mountinfo",
                 "30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n");
  WriteFileOrDie(dir.path() + "/proc/sys/net/ipv4/ip_forward", "0\n");
  WriteFileOrDie(dir.path() + "/sys/fs/cgroup/memory/memory.limit_in_bytes", "");
  WriteFileOrDie(dir.path() + "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes", "");
  std::vector<std::string> warnings;
  SysInfo s = ReadSysInfo(dir.path(), &warnings);
  CHECK(s.memory_limit);
  CHECK_FALSE(s.swap_limit);
  CHECK_FALSE(s.apparmor);
  CHECK(s.ipv4_forwarding_disabled);
  CHECK(warnings == std::vector<std::string>{"Your kernel does not support cgroup swap limit."});
  WriteFileOrDie(dir.path() + "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "");
  mk("/sys/kernel/security/apparmor");
  WriteFileOrDie(dir.path() + "/proc/sys/net/ipv4/ip_forward", "1\n");
  s = ReadSysInfo(dir.path(), nullptr);
  CHECK(s.swap_limit);
  CHECK(s.apparmor);
  CHECK_FALSE(s.ipv4_forwarding_disabled);
}

TEST_CASE("DNS: configured servers win; only local resolvers or none fall back to 8.8.8.8, 8.8.4.4") {
  TempDir dir;
  std::vector<std::string> warnings;
  WriteFileOrDie(dir / "local", "nameserver 127.0.0.53\noptions edns0\n");
  CHECK(ContainerDns({}, dir / "local", &warnings) == std::vector<std::string>{"8.8.8.8", "8.8.4.4"});
  REQUIRE(warnings.size() == 1);
  WriteFileOrDie(dir / "none", "# nothing\n");
  CHECK(ContainerDns({}, dir / "none", &warnings) == std::vector<std::string>{"8.8.8.8", "8.8.4.4"});
  WriteFileOrDie(dir / "real", "nameserver 10.0.0.2\nnameserver 127.0.0.1\n");
  CHECK(ContainerDns({}, dir / "real", &warnings) == std::vector<std::string>{"10.0.0.2", "127.0.0.1"});
  CHECK(ContainerDns({"1.1.1.1"}, dir / "local", &warnings) == std::vector<std::string>{"1.1.1.1"});
}

TEST_CASE("container records round-trip and refuse a bad id") {
  ContainerRecord c;
  c.id = std::string(64, 'a');
  c.name = "/web";
  c.image = std::string(64, 'b');
  c.state.running = true;
  c.state.restarting = true;
  c.state.pid = 42;
  c.restart_count = 3;
  c.network.ip_address = "172.17.0.2";
  c.network.ip_prefix_len = 16;
  c.network.ports["80/tcp"] = {{"0.0.0.0", "8080"}};
  auto back = DecodeContainer(EncodeContainer(c));
  REQUIRE(back.ok());
  CHECK(*back == c);
  CHECK(DecodeContainer("{\"ID\":\"xyz\"}").status().message() == "config.json: ID must be 64 lowercase hex characters");
  CHECK(DecodeContainer("[]").status().message() == "config.json: not a JSON object");
  CHECK(DecodeContainer("{\"ID\":5}").status().message() == "config.json: ID has the wrong type");
  TempDir dir;
  c.host_config.restart_policy = {"on-failure", 5};
  c.host_config.security_opt = {"seccomp=unconfined"};
  REQUIRE(WriteContainer(dir.path(), c, true).ok());
  // config.json holds the state, hostconfig.json the policy and options; a
  // record of the previous release (no Restarting, no SecurityOpt) reads too.
  auto read = ReadContainer(dir.path() + "/" + c.id);
  REQUIRE(read.ok());
  CHECK(*read == c);
  HostConfig old;
  REQUIRE(DecodeHostConfig(R"({"PortBindings":{},"Links":[],"RestartPolicy":{"Name":"always","MaximumRetryCount":0}})",
                           &old).ok());
  CHECK(old.restart_policy.name == "always");
  CHECK(old.security_opt.empty());
  CHECK(old.binds.empty());
  // Binds are written only when there are some, so records without stay as they were.
  CHECK(EncodeHostConfig(old).find("Binds") == std::string::npos);
  c.host_config.binds = {"/srv:/data:ro"};
  REQUIRE(WriteContainer(dir.path(), c, false).ok());
  auto with_binds = ReadContainer(dir.path() + "/" + c.id);
  REQUIRE(with_binds.ok());
  CHECK(with_binds->host_config.binds == c.host_config.binds);
}

}  // namespace
}  // namespace berth
