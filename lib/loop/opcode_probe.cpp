#include "loop/opcode_probe.hpp"

#include <sys/utsname.h>

#include <array>
#include <memory>
#include <stdexcept>

namespace gpioirq::loop {

namespace {

// The floor the project states. The opcodes below all exist since 5.6; the floor is what the
// daemon is tested against (and where IORING_SETUP_COOP_TASKRUN appeared).
constexpr std::string_view kMinimumKernel = "5.19";

constexpr std::array kRequired{
    RequiredOpcode{IORING_OP_READ, "IORING_OP_READ"},
    RequiredOpcode{IORING_OP_WRITE, "IORING_OP_WRITE"},
    RequiredOpcode{IORING_OP_FSYNC, "IORING_OP_FSYNC"},  // with IORING_FSYNC_DATASYNC
    RequiredOpcode{IORING_OP_SYNC_FILE_RANGE, "IORING_OP_SYNC_FILE_RANGE"},
    RequiredOpcode{IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT"},
    RequiredOpcode{IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"},
    RequiredOpcode{IORING_OP_ACCEPT, "IORING_OP_ACCEPT"},
    RequiredOpcode{IORING_OP_RECV, "IORING_OP_RECV"},
    RequiredOpcode{IORING_OP_SEND, "IORING_OP_SEND"},
    RequiredOpcode{IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD"},
};

struct ProbeFree {
  void operator()(io_uring_probe* p) const noexcept { io_uring_free_probe(p); }
};

}  // namespace

std::span<const RequiredOpcode> required_opcodes() noexcept {
  return kRequired;
}

std::optional<std::string_view> first_missing_opcode(const io_uring_probe& probe) noexcept {
  for (const RequiredOpcode& r : kRequired) {
    if (!io_uring_opcode_supported(&probe, r.opcode)) return r.name;
  }
  return std::nullopt;
}

std::string missing_opcode_message(std::string_view opcode_name, std::string_view kernel_release) {
  std::string msg = "io_uring lacks opcode ";
  msg += opcode_name;
  msg += " (kernel ";
  msg += kernel_release;
  msg += "); gpioirqd needs Linux >= ";
  msg += kMinimumKernel;
  return msg;
}

std::string kernel_release() {
  utsname u{};
  if (::uname(&u) != 0) return "unknown";
  return u.release;
}

void check_required_opcodes(io_uring& ring) {
  const std::unique_ptr<io_uring_probe, ProbeFree> probe(io_uring_get_probe_ring(&ring));
  if (!probe) {
    // IORING_REGISTER_PROBE arrived in 5.6: a kernel without it lacks more than one opcode.
    throw std::runtime_error("io_uring cannot be probed for opcodes (kernel " + kernel_release() +
                             "); gpioirqd needs Linux >= " + std::string(kMinimumKernel));
  }
  if (const auto missing = first_missing_opcode(*probe)) {
    throw std::runtime_error(missing_opcode_message(*missing, kernel_release()));
  }
}

}  // namespace gpioirq::loop
