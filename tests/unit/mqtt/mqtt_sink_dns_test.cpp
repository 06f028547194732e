// The broker given by host name: resolved off the loop thread. getaddrinfo is interposed in
// this test binary (libmosquitto's call resolves to the one below before libc's): it
// records which thread asks for which name, can take its time like a slow DNS server, and
// fails for one name, so the test sees what a user cannot: that the loop thread never asks
// and keeps running while a lookup takes long.

#include <dlfcn.h>
#include <netdb.h>

#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loop/event_loop.hpp"
#include "loop/timer.hpp"
#include "mqtt/mqtt_sink.hpp"
#include "support/mosquitto_broker.hpp"
#include "support/temp_dir.hpp"

namespace {

std::mutex g_lookups_mutex;
std::vector<std::pair<std::string, std::thread::id>> g_lookups;  // name, asking thread
std::atomic<int> g_delay_ms{0};                                  // for names, not addresses
constexpr const char* kFailingName = "broken.test";

}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** res) {
  using Real = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
  static const auto real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "getaddrinfo"));
  const std::string name = node == nullptr ? "" : node;
  const bool is_name = name.find_first_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos;
  if (is_name) {
    {
      const std::lock_guard<std::mutex> lock(g_lookups_mutex);
      g_lookups.emplace_back(name, std::this_thread::get_id());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(g_delay_ms.load()));
    if (name == kFailingName) return EAI_NONAME;
  }
  return real(node, service, hints, res);
}

using Catch::Matchers::ContainsSubstring;
using gpioirq::loop::EventLoop;
using gpioirq::mqtt::MqttSink;
using gpioirq::mqtt::SinkSource;
using gpioirq_test::Broker;
using gpioirq_test::run_until;
using gpioirq_test::TempDir;
using nlohmann::json;

namespace {

struct QuietSource : SinkSource {
  std::vector<PublishedDevice> published_devices() const override { return {}; }
  json published_state(std::string_view, std::uint64_t) const override { return nullptr; }
  json health() const override { return json::object(); }
  void spool_dropped(std::string_view, std::uint64_t) override {}
};

gpioirq::config::MqttConfig config_for(const std::string& host, int port) {
  gpioirq::config::MqttConfig c;
  c.url = "mqtt://" + host + ":" + std::to_string(port);
  c.topic_prefix = "t/dns";
  c.keepalive_s = 5;
  return c;
}

std::vector<std::pair<std::string, std::thread::id>> lookups_of(const std::string& name) {
  const std::lock_guard<std::mutex> lock(g_lookups_mutex);
  std::vector<std::pair<std::string, std::thread::id>> out;
  for (const auto& l : g_lookups)
    if (l.first == name) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("mqtt sink: a broker host name is resolved off the loop thread", "[mqtt][sink]") {
  TempDir dir;
  Broker broker(dir, "allow_anonymous true\n");
  EventLoop loop;
  QuietSource source;
  g_delay_ms = 600;  // a slow DNS server
  MqttSink sink(loop, config_for("localhost", broker.port()), dir.file("state"), "h", source);
  gpioirq_test::Subscriber sub(broker.port(), "t/dns/x/events");
  sink.start();
  CHECK(sink.status()["state"] == "resolving");

  // The loop keeps turning while the lookup sleeps: no round takes long.
  auto longest = std::chrono::steady_clock::duration::zero();
  int rounds = 0;
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(run_until(
      loop,
      [&] {
        const auto t0 = std::chrono::steady_clock::now();
        loop.run_once(5);
        longest = std::max(longest, std::chrono::steady_clock::now() - t0);
        ++rounds;
        return sink.status()["state"] == "connected";
      },
      5000));
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(550));
  CHECK(longest < std::chrono::milliseconds(100));
  CHECK(rounds >= 20);  // about 15 ms each: the loop kept turning through the lookup
  const auto asked = lookups_of("localhost");
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].second != std::this_thread::get_id());  // never the loop thread

  // And it works: an event reaches the broker.
  {
    gpioirq::sinks::DeviceEvent ev;
    ev.ts_ns = gpioirq::loop::Timer::now_ns();
    ev.device = "x";
    ev.kind = "button";
    ev.event = "click";
    ev.cls = gpioirq::sinks::EventClass::occurrence;
    sink.on_event(ev, {{"ts_ns", ev.ts_ns}, {"name", "x"}, {"event", "click"}});
  }
  REQUIRE(run_until(
      loop, [&] { return sub.messages.size() == 1; }, 5000, [&] { sub.pump(); }));
  CHECK(json::parse(sub.messages[0].second)["seq"] == 1);
  g_delay_ms = 0;
}

TEST_CASE("mqtt sink: a failed lookup is shown and retried with the backoff", "[mqtt][sink]") {
  TempDir dir;
  EventLoop loop;
  QuietSource source;
  g_delay_ms = 50;
  MqttSink sink(loop, config_for(kFailingName, 1883), dir.file("state"), "h", source);
  sink.start();
  // Backoff 250 ms, 500 ms, 1 s: three or four lookups in 2 s, each off the loop thread.
  run_until(
      loop, [] { return false; }, 2000);
  // Between two attempts (none half started), so that attempts and lookups compare.
  REQUIRE(run_until(
      loop, [&] { return sink.status()["state"] == "disconnected"; }, 2000));
  const json st = sink.status();
  CHECK_THAT(st["last_error"].get<std::string>(),
             ContainsSubstring("lookup of broken.test failed") &&
                 ContainsSubstring(::gai_strerror(EAI_NONAME)));
  CHECK(st["connects"] == 0);
  const auto asked = lookups_of(kFailingName);
  CHECK(asked.size() >= 3);
  CHECK(asked.size() <= 4);
  CHECK(st["connect_attempts"] == asked.size());
  for (const auto& a : asked) CHECK(a.second != std::this_thread::get_id());

  // Stopped while a lookup runs, then destroyed while another one still does: the thread
  // finishes on its own with the handle.
  g_delay_ms = 300;
  run_until(
      loop, [&] { return sink.status()["state"] == "resolving"; }, 3000);
  sink.stop();
  run_until(
      loop, [&] { return sink.status()["state"] == "disconnected"; }, 2000);
  CHECK(sink.status()["state"] == "disconnected");
  g_delay_ms = 0;
}

TEST_CASE("mqtt sink: destroyed while a lookup runs, the lookup thread cleans up", "[mqtt][sink]") {
  TempDir dir;
  EventLoop loop;
  QuietSource source;
  g_delay_ms = 300;
  const auto before = lookups_of("slow.test").size();
  {
    MqttSink sink(loop, config_for("slow.test", 1883), dir.file("state"), "h", source);
    sink.start();
    CHECK(sink.status()["state"] == "resolving");
    loop.run_once(0);
  }
  // The loop goes on without it; the thread finishes (and destroys the handle) by itself.
  run_until(
      loop, [] { return false; }, 500);
  CHECK(lookups_of("slow.test").size() == before + 1);
  CHECK(loop.in_flight() == 0);
  g_delay_ms = 0;
}
