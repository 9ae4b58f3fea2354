// docs/engine.md, "Env".
#include "engine/env.h"

#include <doctest/doctest.h>

#include "nlohmann/json.hpp"

namespace berth {
namespace {

TEST_CASE("Set appends and Get returns the last value; absent is empty") {
  Env env;
  CHECK(env.Get("A") == "");
  CHECK_FALSE(env.Exists("A"));
  REQUIRE(env.Set("A", "1").ok());
  REQUIRE(env.Set("B", "2").ok());
  REQUIRE(env.Set("A", "3").ok());
  CHECK(env.Get("A") == "3");
  CHECK(env.Exists("A"));
  CHECK(env.entries().size() == 3);
  CHECK(env.Len() == 2);
  auto m = env.Map();
  CHECK(m.size() == 2);
  CHECK(m["A"] == "3");
  CHECK(m["B"] == "2");
}

TEST_CASE("keys must be non-empty and contain no '='") {
  Env env;
  absl::Status s = env.Set("", "x");
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(s.message() == "invalid env key '': keys must not be empty");
  s = env.Set("a=b", "x");
  CHECK(s.message() == "invalid env key 'a=b': keys must not contain '='");
  CHECK(env.empty());
  CHECK(env.Decode(R"({"a=b":"1"})").message() == "invalid env key 'a=b': keys must not contain '='");
  CHECK(env.Decode(R"({"":"1"})").message() == "invalid env key '': keys must not be empty");
  CHECK(env.empty());
}

TEST_CASE("GetBool is false only for empty, 0, no, false, none") {
  Env env;
  CHECK_FALSE(env.GetBool("missing"));
  for (const char* v : {"", "0", "no", "false", "none", "  FALSE\t", " No ", "NONE"}) {
    REQUIRE(env.Set("k", v).ok());
    CHECK_MESSAGE(!env.GetBool("k"), "value '" << v << "'");
  }
  for (const char* v : {"1", "true", "yes", "on", "anything", "00", " t "}) {
    REQUIRE(env.Set("k", v).ok());
    CHECK_MESSAGE(env.GetBool("k"), "value '" << v << "'");
  }
  REQUIRE(env.SetBool("b", true).ok());
  CHECK(env.Get("b") == "1");
  REQUIRE(env.SetBool("b", false).ok());
  CHECK(env.Get("b") == "0");
}

TEST_CASE("GetInt parses base 10 after trimming and is 0 on failure") {
  Env env;
  REQUIRE(env.Set("a", " 42\t").ok());
  REQUIRE(env.Set("b", "-7").ok());
  REQUIRE(env.Set("c", "abc").ok());
  REQUIRE(env.Set("d", "12x").ok());
  REQUIRE(env.Set("e", "0x10").ok());
  REQUIRE(env.Set("f", "9223372036854775807").ok());
  CHECK(env.GetInt("a") == 42);
  CHECK(env.GetInt64("b") == -7);
  CHECK(env.GetInt("c") == 0);
  CHECK(env.GetInt("d") == 0);
  CHECK(env.GetInt("e") == 0);
  CHECK(env.GetInt("missing") == 0);
  CHECK(env.GetInt64("f") == INT64_MAX);
  REQUIRE(env.SetInt("g", -12345678901).ok());
  CHECK(env.Get("g") == "-12345678901");
}

TEST_CASE("the checked integer accessor names the key and the bad value") {
  Env env;
  REQUIRE(env.Set("HostPort", "abc").ok());
  absl::StatusOr<int64_t> v = env.GetInt64Checked("HostPort");
  REQUIRE_FALSE(v.ok());
  CHECK(v.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(v.status().message() == "invalid integer for HostPort: 'abc'");
  CHECK(env.GetInt64Checked("Missing").status().message() == "missing integer value for Missing");
  CHECK(*env.GetInt64Checked("Missing", 5) == 5);
  REQUIRE(env.Set("Empty", " ").ok());
  CHECK(*env.GetInt64Checked("Empty", 9) == 9);
  REQUIRE(env.Set("HostPort", "8080").ok());
  CHECK(*env.GetInt64Checked("HostPort") == 8080);
  CHECK(*env.GetInt64Checked("HostPort", 1) == 8080);
  REQUIRE(env.Set("Big", "99999999999999999999").ok());
  CHECK(env.GetInt64Checked("Big").status().message() == "invalid integer for Big: '99999999999999999999'");
}

TEST_CASE("GetList: empty, JSON array of strings, or the raw value") {
  Env env;
  CHECK(env.GetList("missing").empty());
  REQUIRE(env.Set("a", R"(["80/tcp", "53/udp"])").ok());
  CHECK(env.GetList("a") == std::vector<std::string>{"80/tcp", "53/udp"});
  REQUIRE(env.Set("b", "plain").ok());
  CHECK(env.GetList("b") == std::vector<std::string>{"plain"});
  REQUIRE(env.Set("c", "[1, 2]").ok());
  CHECK(env.GetList("c") == std::vector<std::string>{"[1, 2]"});
  REQUIRE(env.Set("d", "[\"unterminated").ok());
  CHECK(env.GetList("d") == std::vector<std::string>{"[\"unterminated"});
  REQUIRE(env.SetList("e", {"x", "y \"z\""}).ok());
  CHECK(env.Get("e") == R"(["x","y \"z\""])");
  CHECK(env.GetList("e") == std::vector<std::string>{"x", "y \"z\""});
  REQUIRE(env.SetList("f", {}).ok());
  CHECK(env.Get("f") == "[]");
  CHECK(env.GetList("f").empty());
}

TEST_CASE("GetJson/SetJson and sub-envs") {
  Env env;
  REQUIRE(env.SetJson("j", nlohmann::json{{"a", 1}, {"b", {true, nullptr}}}).ok());
  auto j = env.GetJson("j");
  REQUIRE(j.ok());
  CHECK((*j)["a"] == 1);
  CHECK((*j)["b"][0] == true);
  CHECK(env.GetJson("missing")->is_null());
  REQUIRE(env.Set("bad", "{nope").ok());
  CHECK(env.GetJson("bad").status().message() == "invalid JSON for bad: '{nope'");

  Env sub;
  REQUIRE(sub.Set("Name", "web").ok());
  REQUIRE(sub.Set("Port", "80").ok());
  REQUIRE(env.SetSubEnv("Config", sub).ok());
  auto back = env.GetSubEnv("Config");
  REQUIRE(back.ok());
  CHECK(back->Get("Name") == "web");
  CHECK(back->Get("Port") == "80");
  // The sub-env survives an encode/decode of the outer env unchanged.
  auto outer = Env::FromJson(env.Encode());
  REQUIRE(outer.ok());
  CHECK(*outer->GetSubEnv("Config") == *back);
  CHECK(env.GetSubEnv("bad").status().message().find("invalid sub-env bad") == 0);
}

TEST_CASE("Decode: strings raw, null skipped, other values as their JSON text") {
  Env env;
  REQUIRE(env.Decode(R"({"s":"a\nb","n":null,"i":42,"f":1.5,"t":true,"o":{"x":[1,2]},"big":123456789012345678901234567890,"e":1E+2})").ok());
  CHECK(env.Get("s") == "a\nb");
  CHECK_FALSE(env.Exists("n"));
  CHECK(env.Get("i") == "42");
  CHECK(env.Get("f") == "1.5");
  CHECK(env.Get("t") == "true");
  CHECK(env.Get("o") == R"({"x":[1,2]})");
  CHECK(env.Get("big") == "123456789012345678901234567890");
  CHECK(env.Get("e") == "1E+2");
}

TEST_CASE("Encode changes no type and truncates no number") {
  Env env;
  REQUIRE(env.Set("str_true", "true").ok());
  REQUIRE(env.Set("str_num", "1.5").ok());
  REQUIRE(env.Set("str_quote", "say \"hi\"\\").ok());
  REQUIRE(env.Decode(R"({"num":1.5,"bool":true,"big":18446744073709551616})").ok());
  std::string text = env.Encode();
  CHECK(text == R"({"str_true":"true","str_num":"1.5","str_quote":"say \"hi\"\\","num":1.5,"bool":true,"big":18446744073709551616})");
  auto back = Env::FromJson(text);
  REQUIRE(back.ok());
  CHECK(*back == env);
  // Keys appear once, with their last value, in order of first appearance.
  Env dup;
  REQUIRE(dup.Set("a", "1").ok());
  REQUIRE(dup.Set("b", "2").ok());
  REQUIRE(dup.Set("a", "3").ok());
  CHECK(dup.Encode() == R"({"a":"3","b":"2"})");
}

TEST_CASE("Encode of control characters and bytes round-trips") {
  Env env;
  std::string weird("\x01\x1f\t\r\n\xff\xfe zz", 11);
  REQUIRE(env.Set("w", weird).ok());
  auto back = Env::FromJson(env.Encode());
  REQUIRE(back.ok());
  CHECK(back->Get("w") == weird);
}

TEST_CASE("Decode reports bad JSON and changes nothing") {
  Env env;
  REQUIRE(env.Set("keep", "1").ok());
  for (const char* bad : {"", "[]", "{", R"({"a":})", R"({"a":1,})", R"({"a" 1})", "{} x", R"({"a":tru})",
                          R"({"a":"\x"})", R"({"a":01})", R"({"a":"\ud800"})"}) {
    absl::Status s = env.Decode(bad);
    CHECK_MESSAGE(!s.ok(), "input: " << bad);
  }
  CHECK(env.entries().size() == 1);
  CHECK(env.Decode("{\"a\":1,}").message() == "invalid JSON at offset 7: expected '\"', found '}'");
  CHECK(env.Decode("{}").ok());
  CHECK(env.Decode(R"({"u":"\u00e9\ud83d\ude00"})").ok());
  CHECK(env.Get("u") == "\xc3\xa9\xf0\x9f\x98\x80");
}

TEST_CASE("deep nesting is refused, not a crash") {
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  Env env;
  absl::Status s = env.Decode(deep);
  CHECK(s.message() == "invalid JSON at offset 260: nesting deeper than 256");
}

}  // namespace
}  // namespace berth
