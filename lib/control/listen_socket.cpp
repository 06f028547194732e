#include "control/listen_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "control/peer_credentials.hpp"

namespace gpioirq::control {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error("control socket: " + what + ": " + std::strerror(err));
}

sockaddr_un make_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty()) throw std::runtime_error("control socket: the socket path is empty");
  if (path.size() >= sizeof addr.sun_path)
    throw std::runtime_error(
        "control socket: path '" + path + "' is " + std::to_string(path.size()) +
        " bytes; a UNIX socket path must be under " + std::to_string(sizeof addr.sun_path));
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

void make_parent(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  if (std::filesystem::is_directory(parent, ec)) return;
  // create_directories would use 0777 & ~umask; the brief is 0755, so each level by hand.
  std::filesystem::path partial;
  for (const auto& part : parent) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
      fail("cannot create directory '" + partial.string() + "'", errno);
  }
}

// A socket file left by a daemon that died is replaced; one with a live listener is not.
void remove_stale(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail("cannot stat '" + path + "'", errno);
  }
  if (!S_ISSOCK(st.st_mode))
    throw std::runtime_error("control socket: '" + path +
                             "' exists and is not a socket; not replacing it");
  // A daemon that was just killed (kill -9, then an immediate restart) can still accept for
  // a moment: its io_uring's pending accept keeps the socket open until the kernel has torn
  // the ring down, after the process is gone. So a listener must still be there after 2 s
  // of probing to count as another running daemon.
  int err = 0;
  for (int attempt = 0;; ++attempt) {
    core::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe) fail("socket()", errno);
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      err = errno;
      break;
    }
    if (attempt == 40)
      throw std::runtime_error("control socket: another process is listening on '" + path +
                               "' (is gpioirqd already running?)");
    ::usleep(50'000);
  }
  if (err != ECONNREFUSED && err != ENOENT)
    fail("cannot probe existing socket '" + path + "'", err);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    fail("cannot remove stale socket '" + path + "'", errno);
}

}  // namespace

ListenSocket::ListenSocket(const ListenSocketOptions& options) : path_(options.path) {
  // The group first: an unknown name must fail before anything is touched on disk.
  if (!options.group.empty()) {
    group_ = lookup_group(options.group);
    if (!group_)
      throw std::runtime_error("control socket: unknown group '" + options.group +
                               "' (daemon.socket_group); create it or fix the configuration");
  }
  const sockaddr_un addr = make_address(path_);
  make_parent(path_);
  remove_stale(path_, addr);

  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_) fail("socket()", errno);
  if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    fail("cannot bind '" + path_ + "'", errno);
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
  // Mode and group are set before listen(): until then nobody can connect, so the window
  // in which bind's umask-derived mode applies is harmless.
  if (::chmod(path_.c_str(), 0660) != 0) {
    const int err = errno;
    ::unlink(path_.c_str());
    fail("cannot chmod '" + path_ + "' to 0660", err);
  }
  // Already the group (the socket_group is the daemon's own): no chown, which a hardened
  // unit's system call filter may not allow.
  if (group_ && st.st_gid != *group_ &&
      ::chown(path_.c_str(), static_cast<uid_t>(-1), *group_) != 0) {
    const int err = errno;
    ::unlink(path_.c_str());
    // EPERM: a daemon that is not root may only give its files to its own groups.
    fail("cannot give '" + path_ + "' to group '" + options.group + "'" +
             (err == EPERM ? " (this daemon's user is not a member of it)" : ""),
         err);
  }
  if (::listen(fd_.get(), options.backlog) != 0) {
    const int err = errno;
    ::unlink(path_.c_str());
    fail("cannot listen on '" + path_ + "'", err);
  }
}

ListenSocket::~ListenSocket() {
  if (!fd_ || path_.empty()) return;
  struct stat st {};
  // Only our own file: a second daemon may have replaced it after a failed start of ours.
  if (::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
    ::unlink(path_.c_str());
}

}  // namespace gpioirq::control
