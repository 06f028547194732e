#include "sinks/log_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

namespace gpioirq::sinks {

std::string prepare_log_dir(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return fmt::format("log_dir {}: {}", dir, std::strerror(errno));
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return fmt::format("log_dir {}: cannot create it: {}", dir, ec.message());
    if (::stat(dir.c_str(), &st) != 0)
      return fmt::format("log_dir {}: {}", dir, std::strerror(errno));
    // A umask of 002 (common for users with their own group) would make it group-writable.
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      const mode_t mode = st.st_mode & 07777 & ~static_cast<mode_t>(S_IWGRP | S_IWOTH);
      if (::chmod(dir.c_str(), mode) == 0) st.st_mode = (st.st_mode & ~07777u) | mode;
    }
  }
  if (!S_ISDIR(st.st_mode)) return fmt::format("log_dir {} is not a directory", dir);
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0)
    return fmt::format(
        "log_dir {} belongs to user {}, who could plant links there and aim this daemon's writes "
        "elsewhere; make it owned by user {} (chown) or by root",
        dir, st.st_uid, me);
  const bool shared = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  const bool sticky_and_ours = (st.st_mode & S_ISVTX) != 0 && st.st_uid == me;
  if (shared && !sticky_and_ours)
    return fmt::format(
        "log_dir {} is writable by {} (mode {:04o}): another user could plant links there and aim "
        "this daemon's writes elsewhere; remove that permission (chmod go-w {})",
        dir, (st.st_mode & S_IWOTH) != 0 ? "others" : "its group", st.st_mode & 07777, dir);
  return {};
}

std::string share_log_dir(const std::string& dir, gid_t group) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return fmt::format("log_dir {}: {}", dir, std::strerror(errno));
  const uid_t me = ::geteuid();
  if (st.st_uid != me) {
    if (st.st_gid == group) return {};
    return fmt::format(
        "log_dir {} belongs to user {}, not to this daemon (uid {}): its files stay "
        "unreadable for group {} (chgrp {} {}; chmod g+rx {})",
        dir, st.st_uid, me, group, group, dir, dir);
  }
  if (st.st_gid != group && ::chown(dir.c_str(), static_cast<uid_t>(-1), group) != 0)
    return fmt::format("log_dir {}: cannot give it to group {}: {}", dir, group,
                       std::strerror(errno));
  const mode_t mode = (st.st_mode & 07777 & ~static_cast<mode_t>(S_IWGRP)) | S_IRGRP | S_IXGRP;
  if ((st.st_mode & 07777) != mode && ::chmod(dir.c_str(), mode) != 0)
    return fmt::format("log_dir {}: cannot chmod it to {:04o}: {}", dir, mode,
                       std::strerror(errno));
  // Files of earlier runs (or of a daemon that ran as another group): ours only, never
  // through a link.
  std::error_code ec;
  std::string failed;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    struct stat fst {};
    if (::fstatat(AT_FDCWD, it->path().c_str(), &fst, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(fst.st_mode) || fst.st_uid != me || fst.st_gid == group) continue;
    if (::fchownat(AT_FDCWD, it->path().c_str(), static_cast<uid_t>(-1), group,
                   AT_SYMLINK_NOFOLLOW) != 0 &&
        failed.empty())
      failed = fmt::format("log_dir {}: cannot give {} to group {}: {}", dir, name, group,
                           std::strerror(errno));
  }
  if (ec) return fmt::format("log_dir {}: cannot list it: {}", dir, ec.message());
  return failed;
}

}  // namespace gpioirq::sinks
