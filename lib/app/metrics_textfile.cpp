#include "app/metrics_textfile.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

namespace gpioirq::app {

namespace {

constexpr std::uint64_t kLogEveryNs = 60'000'000'000ull;

// The descriptor closed on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() noexcept { return std::exchange(fd, -1); }
};

std::string failed(const std::string& what, const std::string& path, int err) {
  return what + " " + path + ": " + std::strerror(err);
}

}  // namespace

MetricsTextfile::MetricsTextfile(std::string path)
    : path_(std::move(path)), tmp_path_(path_ + ".tmp") {}

std::string MetricsTextfile::replace(std::string_view text) const {
  Fd out{::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)};
  if (out.fd < 0) return failed("opening", tmp_path_, errno);
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(out.fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::unlink(tmp_path_.c_str());
      return failed("writing", tmp_path_, err);
    }
    done += static_cast<std::size_t>(n);
  }
  // close() can report a deferred write error (NFS, a full quota).
  if (::close(out.release()) != 0) {
    const int err = errno;
    ::unlink(tmp_path_.c_str());
    return failed("closing", tmp_path_, err);
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_path_.c_str());
    return failed("renaming " + tmp_path_ + " to", path_, err);
  }
  return {};
}

bool MetricsTextfile::write(std::string_view text, std::uint64_t now_mono_ns) {
  std::string error = replace(text);
  if (error.empty()) {
    ++writes_;
    if (failures_since_ok_ > 0)
      spdlog::info("metrics textfile {} written again, after {} failed writes", path_,
                   failures_since_ok_);
    last_error_.clear();
    failures_since_ok_ = 0;
    return true;
  }
  ++failures_;
  last_error_ = std::move(error);
  // The first failure of a run of them, then once a minute: a full disk must not flood
  // the journal at every interval.
  if (failures_since_ok_++ == 0 || now_mono_ns - last_logged_ns_ >= kLogEveryNs) {
    spdlog::error("metrics textfile: {} ({} failed writes; retried every interval)", last_error_,
                  failures_);
    last_logged_ns_ = now_mono_ns;
  }
  return false;
}

}  // namespace gpioirq::app
