#include "control/peer_credentials.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

namespace gpioirq::control {

int read_peer_credentials(int fd, PeerCredentials& out) noexcept {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -errno;
  out.pid = cred.pid;
  out.uid = cred.uid;
  out.gid = cred.gid;
  out.privileged = false;
  return 0;
}

std::optional<bool> proc_has_group(pid_t pid, gid_t gid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  if (!status) return std::nullopt;
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("Groups:")) continue;
    std::istringstream groups(line.substr(7));
    unsigned long value = 0;
    while (groups >> value)
      if (static_cast<gid_t>(value) == gid) return true;
    return false;
  }
  return std::nullopt;
}

namespace {

bool user_has_group(uid_t uid, gid_t primary, gid_t gid) {
  // getpwuid_r/getgrouplist: the user database's view, for when /proc does not answer.
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) != 0 || !found) return false;
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (::getgrouplist(pw.pw_name, primary, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count));
    if (::getgrouplist(pw.pw_name, primary, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<std::size_t>(count));
  for (gid_t g : groups)
    if (g == gid) return true;
  return false;
}

}  // namespace

PrivilegePredicate default_privilege(std::optional<gid_t> group, uid_t daemon_user) {
  return [group, daemon_user](const PeerCredentials& peer) {
    if (peer.uid == 0 || peer.uid == daemon_user) return true;
    if (!group) return false;
    if (peer.gid == *group) return true;
    if (auto in_proc = proc_has_group(peer.pid, *group)) return *in_proc;
    return user_has_group(peer.uid, peer.gid, *group);
  };
}

std::optional<gid_t> lookup_group(const std::string& name) {
  long size = ::sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  for (;;) {
    group gr{};
    group* found = nullptr;
    const int rc = ::getgrnam_r(name.c_str(), &gr, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0 || !found) return std::nullopt;
    return gr.gr_gid;
  }
}

}  // namespace gpioirq::control
