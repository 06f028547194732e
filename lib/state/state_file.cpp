#include "state/state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "core/unique_fd.hpp"

namespace gpioirq::state {
namespace {

// "20261130T201509Z": a file name part, sortable, no colons.
std::string compact_utc(std::int64_t realtime_ns) {
  const time_t secs = static_cast<time_t>(realtime_ns / 1'000'000'000);
  tm t{};
  ::gmtime_r(&secs, &t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &t);
  return buf;
}

std::int64_t realtime_now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Moves a file that cannot be used out of the way (kept for the user) and says where.
std::string set_aside(const std::string& path, const std::string& why) {
  std::string bad = path + ".bad-" + compact_utc(realtime_now_ns());
  // Two bad files in one second: the second keeps its own name.
  for (int n = 2; ::access(bad.c_str(), F_OK) == 0 && n < 100; ++n)
    bad = path + ".bad-" + compact_utc(realtime_now_ns()) + "-" + std::to_string(n);
  if (::rename(path.c_str(), bad.c_str()) != 0)
    return fmt::format("{} {}; it could not be renamed to {} ({})", path, why, bad,
                       std::strerror(errno));
  return fmt::format("{} {}; kept as {}", path, why, bad);
}

}  // namespace

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

std::string utc_text(std::int64_t realtime_ns) {
  const time_t secs = static_cast<time_t>(realtime_ns / 1'000'000'000);
  tm t{};
  ::gmtime_r(&secs, &t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

StateFile::StateFile(std::string dir)
    : dir_(std::move(dir)), path_(dir_ + "/state.json"), temp_path_(dir_ + "/state.json.tmp") {}

std::string StateFile::prepare() const {
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) {
    if (errno != ENOENT) return fmt::format("state_dir {}: {}", dir_, std::strerror(errno));
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return fmt::format("state_dir {}: cannot create it: {}", dir_, ec.message());
    // Whatever the umask: the totals are nobody else's to write (or read).
    if (::chmod(dir_.c_str(), 0750) != 0 || ::stat(dir_.c_str(), &st) != 0)
      return fmt::format("state_dir {}: {}", dir_, std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return fmt::format("state_dir {} is not a directory", dir_);
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0)
    return fmt::format(
        "state_dir {} belongs to user {}, who could replace the saved totals; make it owned by "
        "user {} (chown) or by root",
        dir_, st.st_uid, me);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return fmt::format(
        "state_dir {} is writable by {} (mode {:04o}): another user could replace the saved "
        "totals; remove that permission (chmod go-w {})",
        dir_, (st.st_mode & S_IWOTH) != 0 ? "others" : "its group", st.st_mode & 07777, dir_);
  return {};
}

LoadedState StateFile::load() const {
  LoadedState result;
  core::UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return result;  // the first start
    result.outcome = LoadedState::Outcome::corrupt;
    result.problem = set_aside(path_, fmt::format("cannot be read ({})", std::strerror(errno)));
    return result;
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result.outcome = LoadedState::Outcome::corrupt;
      result.problem = set_aside(path_, fmt::format("cannot be read ({})", std::strerror(errno)));
      return result;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  fd.reset();
  auto corrupt = [&](const std::string& why) {
    result = LoadedState{};
    result.outcome = LoadedState::Outcome::corrupt;
    result.problem = set_aside(path_, why);
    return result;
  };
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return corrupt("is not valid JSON");
  if (!j.is_object()) return corrupt("is not a JSON object");
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() ||
      version->get<long long>() != kStateVersion)
    return corrupt(fmt::format("has no version {} (found {})", kStateVersion,
                               version == j.end() ? std::string("none") : version->dump()));
  const auto devices = j.find("devices");
  if (devices == j.end() || !devices->is_object()) return corrupt("has no \"devices\" object");
  for (const auto& [name, entry] : devices->items())
    if (!entry.is_object() || !entry.contains("kind") || !entry["kind"].is_string() ||
        !entry.contains("state"))
      return corrupt(fmt::format("has a device '{}' without a kind and a state", name));
  result.outcome = LoadedState::Outcome::loaded;
  result.devices = *devices;
  if (const auto t = j.find("saved_realtime_ns"); t != j.end() && t->is_number_integer())
    result.saved_realtime_ns = t->get<std::int64_t>();
  if (const auto b = j.find("saved_boot_id"); b != j.end() && b->is_string())
    result.saved_boot_id = b->get<std::string>();
  return result;
}

int StateFile::save(const nlohmann::json& devices, std::int64_t realtime_ns,
                    const std::string& boot_id) const {
  const nlohmann::json j = {{"version", kStateVersion},
                            {"saved_realtime_ns", realtime_ns},
                            {"saved_boot_id", boot_id},
                            {"devices", devices}};
  const std::string text = j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  // O_TRUNC over a temp file a crash left behind; never through a planted link.
  core::UniqueFd fd(
      ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd) return -errno;
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::unlink(temp_path_.c_str());
      return -err;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd.get()) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    return -err;
  }
  fd.reset();
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    return -err;
  }
  // The rename itself is durable only once the directory is synced.
  core::UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return -errno;
  if (::fsync(dir.get()) != 0) return -errno;
  return 0;
}

}  // namespace gpioirq::state
