#include "sinks/log_dir.hpp"

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

}  // namespace gpioirq::sinks
