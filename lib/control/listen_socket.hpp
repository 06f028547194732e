#pragma once
// The control socket's listening end, made at start-up (errors are exceptions with a
// message for the operator): parent directory created 0755 if missing, a stale socket
// file replaced only if nobody listens on it, mode 0660, group set from the config.

#include <sys/types.h>

#include <optional>
#include <string>

#include "core/unique_fd.hpp"

namespace gpioirq::control {

struct ListenSocketOptions {
  std::string path;
  std::string group;   // empty: keep the daemon's group
  int backlog = 4096;  // the kernel clamps to net.core.somaxconn
};

class ListenSocket {
 public:
  // Throws std::runtime_error: unknown group, path too long, path taken by a non-socket,
  // another daemon listening, or a failing syscall (named, with strerror).
  explicit ListenSocket(const ListenSocketOptions& options);
  ListenSocket(ListenSocket&&) noexcept = default;
  ListenSocket& operator=(ListenSocket&&) noexcept = default;
  // Unlinks the socket file if it is still the one this object bound.
  ~ListenSocket();

  int fd() const noexcept { return fd_.get(); }
  const std::string& path() const noexcept { return path_; }
  std::optional<gid_t> group() const noexcept { return group_; }

 private:
  core::UniqueFd fd_;
  std::string path_;
  std::optional<gid_t> group_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace gpioirq::control
