#pragma once
// The io_uring opcodes the EventLoop submits, and the start-up check that the running
// kernel supports every one of them (seastar probes the same way). The check refuses with
// a message naming the missing opcode and the kernel release, so a too-old kernel fails
// at start-up rather than with -EINVAL on the first unlucky submission.

#include <liburing.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gpioirq::loop {

struct RequiredOpcode {
  int opcode;             // IORING_OP_*
  std::string_view name;  // "IORING_OP_READ"
};

// Every opcode lib/loop submits. Keep in step with event_loop.cpp.
std::span<const RequiredOpcode> required_opcodes() noexcept;

// The first required opcode that `probe` does not mark supported, if any.
std::optional<std::string_view> first_missing_opcode(const io_uring_probe& probe) noexcept;

// "io_uring lacks opcode IORING_OP_X (kernel 5.4.0); gpioirqd needs Linux >= 5.19"
std::string missing_opcode_message(std::string_view opcode_name, std::string_view kernel_release);

// uname(2)'s release string, or "unknown".
std::string kernel_release();

// Throws std::runtime_error with missing_opcode_message() if the ring lacks an opcode,
// or with an explanation if the kernel cannot be probed at all.
void check_required_opcodes(io_uring& ring);

}  // namespace gpioirq::loop
