#pragma once
// Who is on the other end of a control connection (SO_PEERCRED), and whether they may
// run state-changing commands: uid 0, the daemon's own user, or membership of the
// configured socket group (primary or supplementary).

#include <sys/types.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <string>

namespace gpioirq::control {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  bool privileged = false;  // uid 0, the daemon's user, or member of the configured group
};

// Decides PeerCredentials::privileged. Replaceable (ServerOptions::privilege) so tests
// running as root can play an unprivileged peer.
using PrivilegePredicate = std::function<bool(const PeerCredentials&)>;

// SO_PEERCRED of a connected UNIX socket (privileged left false); -errno on failure.
int read_peer_credentials(int fd, PeerCredentials& out) noexcept;

// The default predicate: uid 0, `daemon_user` (the service's own user: `systemctl reload`
// runs as it), or `group` (when set) is the peer's gid or one of its supplementary groups,
// read from /proc/<pid>/status "Groups:", falling back to getgrouplist(3) of the uid's
// user when /proc cannot tell (a hardened unit's ProtectProc=invisible hides other users'
// processes).
PrivilegePredicate default_privilege(std::optional<gid_t> group, uid_t daemon_user = ::geteuid());

// True if /proc/<pid>/status lists gid among the process's groups. nullopt when the file
// cannot be read (process gone, /proc not mounted).
std::optional<bool> proc_has_group(pid_t pid, gid_t gid);

// getgrnam(3); nullopt for an unknown group name.
std::optional<gid_t> lookup_group(const std::string& name);

}  // namespace gpioirq::control
