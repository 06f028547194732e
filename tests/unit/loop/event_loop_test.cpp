#include "loop/event_loop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sched.h>

#include <catch2/catch_test_macros.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/unique_fd.hpp"
#include "loop/callback_completion.hpp"
#include "loop/opcode_probe.hpp"
#include "loop_test_util.hpp"

using gpioirq::core::UniqueFd;
using gpioirq::loop::CallbackCompletion;
using gpioirq::loop::EventLoop;
using gpioirq::loop::test::run_until;
using gpioirq::loop::test::TempDir;

namespace {

// Records every complete() call, so tests can check "exactly once" and the result.
struct Recorder {
  std::vector<int> results;
  CallbackCompletion completion{[this](int res, std::uint32_t) { results.push_back(res); }};
  bool done() const { return !results.empty(); }
};

struct SocketPair {
  UniqueFd a, b;
  SocketPair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
};

std::string_view as_text(const char* buf, int res) {
  return res > 0 ? std::string_view(buf, static_cast<std::size_t>(res)) : std::string_view();
}

}  // namespace

TEST_CASE("the opcode probe passes on this kernel", "[loop][probe]") {
  REQUIRE_NOTHROW(EventLoop{});
  io_uring_probe* probe = io_uring_get_probe();
  REQUIRE(probe != nullptr);
  CHECK_FALSE(gpioirq::loop::first_missing_opcode(*probe).has_value());
  io_uring_free_probe(probe);
}

TEST_CASE("the refusal message names the missing opcode and the kernel", "[loop][probe]") {
  CHECK(gpioirq::loop::missing_opcode_message("IORING_OP_SEND", "5.4.0-150-generic") ==
        "io_uring lacks opcode IORING_OP_SEND (kernel 5.4.0-150-generic); "
        "gpioirqd needs Linux >= 5.19");
  CHECK_FALSE(gpioirq::loop::kernel_release().empty());
}

TEST_CASE("first_missing_opcode finds an opcode the kernel lacks", "[loop][probe]") {
  // A hand-made probe result, as IORING_REGISTER_PROBE would fill it for an older kernel.
  constexpr std::size_t kOps = IORING_OP_LAST;
  std::vector<unsigned char> storage(sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op));
  // (operator new's storage is aligned for io_uring_probe; through void*, as -Wcast-align
  // on 32-bit ARM cannot know that)
  auto* probe = static_cast<io_uring_probe*>(static_cast<void*>(storage.data()));
  probe->last_op = kOps - 1;
  probe->ops_len = kOps;
  for (std::size_t i = 0; i < kOps; ++i) {
    probe->ops[i].op = static_cast<__u8>(i);
    probe->ops[i].flags = IO_URING_OP_SUPPORTED;
  }
  CHECK_FALSE(gpioirq::loop::first_missing_opcode(*probe).has_value());

  probe->ops[IORING_OP_RECV].flags = 0;
  CHECK(gpioirq::loop::first_missing_opcode(*probe) == "IORING_OP_RECV");

  probe->last_op = IORING_OP_NOP;  // a kernel that knows nothing: the first in the list
  CHECK(gpioirq::loop::first_missing_opcode(*probe) ==
        gpioirq::loop::required_opcodes().front().name);
}

TEST_CASE("read and write on a pipe", "[loop]") {
  EventLoop loop;
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  UniqueFd rd(fds[0]), wr(fds[1]);

  // The read is queued first, with the pipe empty: it must wait for the write.
  char buf[16] = {};
  Recorder reader, writer;
  REQUIRE(loop.read(rd.get(), buf, sizeof buf, EventLoop::kCurrentPosition, reader.completion) ==
          0);
  REQUIRE(loop.write(wr.get(), "hello", 5, EventLoop::kCurrentPosition, writer.completion) == 0);
  CHECK(loop.in_flight() == 2);

  REQUIRE(run_until(loop, [&] { return reader.done() && writer.done(); }));
  CHECK(writer.results == std::vector<int>{5});
  CHECK(reader.results == std::vector<int>{5});
  CHECK(as_text(buf, reader.results[0]) == "hello");
  CHECK(loop.in_flight() == 0);
}

TEST_CASE("a completion accepts one op at a time", "[loop]") {
  EventLoop loop;
  SocketPair sp;
  char buf[4];
  Recorder r;
  REQUIRE(loop.recv(sp.a.get(), buf, sizeof buf, r.completion) == 0);
  CHECK(r.completion.in_flight());
  CHECK(loop.recv(sp.a.get(), buf, sizeof buf, r.completion) == -EBUSY);
  REQUIRE(::send(sp.b.get(), "x", 1, 0) == 1);
  REQUIRE(run_until(loop, [&] { return r.done(); }));
  CHECK(r.results == std::vector<int>{1});
  CHECK_FALSE(r.completion.in_flight());
}

TEST_CASE("send and recv on a socketpair; a vanished peer gives -EPIPE, not SIGPIPE",
          "[loop][socket]") {
  EventLoop loop;
  SocketPair sp;
  char buf[16] = {};
  Recorder receiver, sender;
  REQUIRE(loop.recv(sp.b.get(), buf, sizeof buf, receiver.completion) == 0);
  REQUIRE(loop.send(sp.a.get(), "ping", 4, sender.completion) == 0);
  REQUIRE(run_until(loop, [&] { return receiver.done() && sender.done(); }));
  CHECK(sender.results == std::vector<int>{4});
  CHECK(as_text(buf, receiver.results.at(0)) == "ping");

  sp.b.reset();
  Recorder late;
  REQUIRE(loop.send(sp.a.get(), "lost", 4, late.completion) == 0);
  REQUIRE(run_until(loop, [&] { return late.done(); }));
  CHECK(late.results == std::vector<int>{-EPIPE});
}

TEST_CASE("accept, recv and send over a UNIX socket in a temp dir", "[loop][socket]") {
  TempDir dir;
  const std::string path = (dir.path() / "ctl.sock").string();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  REQUIRE(listener);
  REQUIRE(::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener.get(), 4) == 0);

  EventLoop loop;
  Recorder acceptor;
  REQUIRE(loop.accept(listener.get(), acceptor.completion) == 0);
  loop.run_once(0);  // the accept waits in the kernel before anyone connects

  UniqueFd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(client);
  REQUIRE(::connect(client.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(run_until(loop, [&] { return acceptor.done(); }));
  REQUIRE(acceptor.results.at(0) >= 0);
  UniqueFd server(acceptor.results[0]);
  CHECK((::fcntl(server.get(), F_GETFL) & O_NONBLOCK) != 0);
  CHECK((::fcntl(server.get(), F_GETFD) & FD_CLOEXEC) != 0);

  // Request / response, both directions through the loop.
  char request[32] = {}, response[32] = {};
  Recorder got_request, sent_request, got_response, sent_response;
  REQUIRE(loop.recv(server.get(), request, sizeof request, got_request.completion) == 0);
  REQUIRE(loop.send(client.get(), "status\n", 7, sent_request.completion) == 0);
  REQUIRE(run_until(loop, [&] { return got_request.done() && sent_request.done(); }));
  CHECK(as_text(request, got_request.results.at(0)) == "status\n");

  REQUIRE(loop.recv(client.get(), response, sizeof response, got_response.completion) == 0);
  REQUIRE(loop.send(server.get(), "ok\n", 3, sent_response.completion) == 0);
  REQUIRE(run_until(loop, [&] { return got_response.done() && sent_response.done(); }));
  CHECK(as_text(response, got_response.results.at(0)) == "ok\n");

  // The client hangs up: the server's recv sees end of stream.
  Recorder eof;
  REQUIRE(loop.recv(server.get(), request, sizeof request, eof.completion) == 0);
  client.reset();
  REQUIRE(run_until(loop, [&] { return eof.done(); }));
  CHECK(eof.results == std::vector<int>{0});
}

TEST_CASE("a completion cancelled in flight gets -ECANCELED exactly once", "[loop][cancel]") {
  EventLoop loop;
  SocketPair sp;
  char buf[8];
  Recorder r;
  CHECK(loop.cancel(r.completion) == -ENOENT);  // nothing in flight yet

  REQUIRE(loop.recv(sp.a.get(), buf, sizeof buf, r.completion) == 0);
  CHECK_FALSE(loop.run_once(0));  // submitted, and blocked in the kernel: no data
  REQUIRE(loop.cancel(r.completion) == 0);
  REQUIRE(run_until(loop, [&] { return r.done(); }));
  CHECK(r.results == std::vector<int>{-ECANCELED});
  CHECK(loop.in_flight() == 0);

  // Data arriving now finds no recv: nothing more reaches the completion.
  REQUIRE(::send(sp.b.get(), "late", 4, 0) == 4);
  for (int i = 0; i < 3; ++i) loop.run_once(10);
  CHECK(r.results.size() == 1);
  CHECK(loop.cancel(r.completion) == -ENOENT);
}

TEST_CASE("cancel before the op reaches the kernel", "[loop][cancel]") {
  EventLoop loop;
  SocketPair sp;
  char buf[8];
  Recorder r;
  REQUIRE(loop.recv(sp.a.get(), buf, sizeof buf, r.completion) == 0);
  REQUIRE(loop.cancel(r.completion) == 0);  // both SQEs go in the same round
  REQUIRE(run_until(loop, [&] { return r.done(); }));
  CHECK(r.results == std::vector<int>{-ECANCELED});
}

TEST_CASE("fdatasync on a temp file", "[loop][file]") {
  TempDir dir;
  const auto path = dir.path() / "log.bin";
  UniqueFd fd(::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
  REQUIRE(fd);

  EventLoop loop;
  Recorder wrote, synced, read_back;
  REQUIRE(loop.write(fd.get(), "abcdef", 6, 0, wrote.completion) == 0);
  REQUIRE(run_until(loop, [&] { return wrote.done(); }));
  CHECK(wrote.results == std::vector<int>{6});
  REQUIRE(loop.fdatasync(fd.get(), synced.completion) == 0);
  REQUIRE(run_until(loop, [&] { return synced.done(); }));
  CHECK(synced.results == std::vector<int>{0});

  Recorder writeback;
  REQUIRE(loop.start_writeback(fd.get(), 0, 6, writeback.completion) == 0);
  REQUIRE(run_until(loop, [&] { return writeback.done(); }));
  CHECK(writeback.results == std::vector<int>{0});

  char buf[8] = {};
  REQUIRE(loop.read(fd.get(), buf, 3, 2, read_back.completion) == 0);  // explicit offset
  REQUIRE(run_until(loop, [&] { return read_back.done(); }));
  CHECK(as_text(buf, read_back.results.at(0)) == "cde");
}

TEST_CASE("io workers run only on the CPUs set_worker_cpus gives them", "[loop][file]") {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  REQUIRE(::sched_getaffinity(0, sizeof allowed, &allowed) == 0);
  int last = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) last = cpu;
  REQUIRE(last >= 0);
  cpu_set_t only;
  CPU_ZERO(&only);
  CPU_SET(static_cast<unsigned>(last), &only);

  // In a thread of its own: io-wq workers belong to the task that submits, and a worker
  // an earlier test left behind on this thread (idle workers linger for seconds) would keep
  // the mask it was created with. Results are checked on this thread (Catch2 asserts are
  // not thread-safe).
  TempDir dir;
  const auto path = dir.path() / "log.bin";
  int set_result = -1, sync_result = -1;
  std::vector<std::string> worker_cpus;  // Cpus_allowed_list of each of its workers
  std::thread([&] {
    UniqueFd fd(::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    if (!fd) return;
    EventLoop loop;
    set_result = loop.set_worker_cpus(only);
    // fdatasync cannot complete without blocking, so io_uring always hands it to an
    // io-wq worker: at least one exists afterwards.
    Recorder wrote, synced;
    if (loop.write(fd.get(), "abcdef", 6, 0, wrote.completion) != 0 || !run_until(loop, [&] { return wrote.done(); }))
      return;
    if (loop.fdatasync(fd.get(), synced.completion) != 0 || !run_until(loop, [&] { return synced.done(); })) return;
    sync_result = synced.results.at(0);
    // Workers are named after the task whose io-wq they serve.
    const std::string mine = "iou-wrk-" + std::to_string(::gettid());
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      if (name != mine) continue;
      std::ifstream status(task.path() / "status");
      std::string line, cpus;
      while (std::getline(status, line))
        if (line.rfind("Cpus_allowed_list:", 0) == 0) cpus = line.substr(line.find_first_not_of(" \t", 18));
      worker_cpus.push_back(cpus);
    }
  }).join();
  CHECK(set_result == 0);
  CHECK(sync_result == 0);
  CHECK(worker_cpus.size() >= 1);
  for (const auto& cpus : worker_cpus) CHECK(cpus == std::to_string(last));
}

TEST_CASE("poll_add reports readiness", "[loop]") {
  EventLoop loop;
  SocketPair sp;
  Recorder r;
  REQUIRE(loop.poll_add(sp.a.get(), POLLIN, r.completion) == 0);
  REQUIRE(::send(sp.b.get(), "x", 1, 0) == 1);
  REQUIRE(run_until(loop, [&] { return r.done(); }));
  REQUIRE(r.results.size() == 1);
  CHECK((r.results[0] & POLLIN) != 0);
}

TEST_CASE("run() returns on stop() from a completion, and when nothing is in flight", "[loop]") {
  EventLoop loop;
  loop.run();  // nothing in flight: returns at once instead of sleeping forever

  SocketPair sp;
  char buf[8];
  int calls = 0;
  CallbackCompletion first([&](int, std::uint32_t) {
    ++calls;
    loop.stop();
  });
  CallbackCompletion second([&](int, std::uint32_t) { ++calls; });
  REQUIRE(loop.recv(sp.a.get(), buf, sizeof buf, first) == 0);
  REQUIRE(loop.recv(sp.b.get(), buf, sizeof buf, second) == 0);  // never gets data
  REQUIRE(::send(sp.b.get(), "x", 1, 0) == 1);
  loop.run();
  CHECK(calls == 1);
  CHECK(second.in_flight());
  CHECK(loop.cancel(second) == 0);
  loop.run();  // the cancellation is the last op: run() returns after it
  CHECK(calls == 2);
  CHECK(loop.in_flight() == 0);
}

TEST_CASE("destroying a completion in flight withdraws its op", "[loop][lifetime]") {
  EventLoop loop;
  SocketPair sp;
  char buf[8];
  bool called = false;
  auto c = std::make_unique<CallbackCompletion>([&](int, std::uint32_t) { called = true; });
  REQUIRE(loop.recv(sp.a.get(), buf, sizeof buf, *c) == 0);
  loop.run_once(0);
  c.reset();  // blocks until the kernel has dropped the recv
  CHECK(loop.in_flight() == 0);
  REQUIRE(::send(sp.b.get(), "x", 1, 0) == 1);
  for (int i = 0; i < 3; ++i) loop.run_once(10);
  CHECK_FALSE(called);
  // The bytes are still in the socket: the withdrawn recv did not take them.
  CHECK(::recv(sp.a.get(), buf, sizeof buf, MSG_DONTWAIT) == 1);
}

TEST_CASE("abandon() tells what became of the withdrawn op", "[loop][lifetime]") {
  // A sink that withdraws a write must know whether the write was done: writing the bytes
  // again when it was duplicates them, dropping them when it was not loses them.
  EventLoop loop;
  TempDir dir;
  UniqueFd file(::open(dir.file("f").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  REQUIRE(file);
  bool called = false;
  CallbackCompletion c([&](int, std::uint32_t) { called = true; });

  SECTION("a write queued and never run by the loop is done when abandon() returns") {
    REQUIRE(loop.write(file.get(), "abcdef", 6, EventLoop::kCurrentPosition, c) == 0);
    const std::optional<int> res = c.abandon();
    // Either the kernel wrote it before the cancel reached it, or the cancel won: the result
    // says which, and the file agrees.
    REQUIRE(res.has_value());
    CHECK((*res == 6 || *res == -ECANCELED));
    CHECK(std::filesystem::file_size(dir.file("f")) == (*res == 6 ? 6u : 0u));
  }
  SECTION("a send whose CQE is reaped but not yet dispatched") {
    SocketPair first, second;
    char buf[4];
    std::optional<int> res;
    CallbackCompletion withdrawer([&](int, std::uint32_t) { res = c.abandon(); });
    // Both complete at submission (data is there, the socket has room) and are reaped in one
    // batch; the recv, queued first, is dispatched first and withdraws the send.
    REQUIRE(::send(first.b.get(), "x", 1, 0) == 1);
    REQUIRE(loop.recv(first.a.get(), buf, sizeof buf, withdrawer) == 0);
    REQUIRE(loop.send(second.a.get(), "abc", 3, c) == 0);
    REQUIRE(run_until(loop, [&] { return res.has_value(); }));
    CHECK(res == std::optional<int>(3));
    CHECK(::recv(second.b.get(), buf, sizeof buf, MSG_DONTWAIT) == 3);
  }
  SECTION("a recv that never got data comes back cancelled") {
    SocketPair sp;
    char buf[4];
    REQUIRE(loop.recv(sp.a.get(), buf, sizeof buf, c) == 0);
    loop.run_once(0);
    CHECK(c.abandon() == std::optional<int>(-ECANCELED));
  }
  SECTION("nothing in flight") {
    CHECK_FALSE(c.abandon().has_value());
  }
  for (int i = 0; i < 2; ++i) loop.run_once(0);
  CHECK_FALSE(called);
  CHECK(loop.in_flight() == 0);
}

TEST_CASE("a completion may destroy another whose result is already reaped", "[loop][lifetime]") {
  EventLoop loop;
  SocketPair one, two;
  REQUIRE(::send(one.b.get(), "1", 1, 0) == 1);
  REQUIRE(::send(two.b.get(), "2", 1, 0) == 1);
  char buf1[4], buf2[4];
  bool second_called = false;
  auto second =
      std::make_unique<CallbackCompletion>([&](int, std::uint32_t) { second_called = true; });
  CallbackCompletion first([&](int, std::uint32_t) { second.reset(); });
  // Data is there already: both complete at submission and are reaped in one batch.
  REQUIRE(loop.recv(one.a.get(), buf1, sizeof buf1, first) == 0);
  REQUIRE(loop.recv(two.a.get(), buf2, sizeof buf2, *second) == 0);
  REQUIRE(run_until(loop, [&] { return second == nullptr; }));
  for (int i = 0; i < 2; ++i) loop.run_once(0);
  CHECK_FALSE(second_called);
  CHECK(loop.in_flight() == 0);
}

TEST_CASE("destroying the loop with ops in flight calls no completion", "[loop][lifetime]") {
  SocketPair sp;
  char buf[8];
  int calls = 0;
  CallbackCompletion c([&](int, std::uint32_t) { ++calls; });
  {
    EventLoop loop;
    REQUIRE(loop.recv(sp.a.get(), buf, sizeof buf, c) == 0);
    loop.run_once(0);
  }
  CHECK_FALSE(c.in_flight());
  CHECK(calls == 0);
  // The cancelled recv took nothing: a later sender's bytes are still there to read.
  REQUIRE(::send(sp.b.get(), "x", 1, 0) == 1);
  CHECK(::recv(sp.a.get(), buf, sizeof buf, MSG_DONTWAIT) == 1);
}
