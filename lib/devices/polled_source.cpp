#include "devices/polled_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "core/unique_fd.hpp"

namespace gpioirq::devices {

namespace {

PollReading failure(int err, std::string message) {
  PollReading r;
  r.error = err;
  r.message = std::move(message);
  return r;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string describe(int err) {
  switch (err) {
    case EAGAIN: return "no data to read (nothing written yet)";
    case ENODATA: return "no data to read (end of file: a FIFO without a writer, or an empty file)";
    case ETIMEDOUT: return "no data within the deadline: the read was cancelled";
    default: return std::strerror(err);
  }
}

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

PolledSource::PolledSource(const config::PollConfig& cfg) : cfg_(cfg) {}

PollReading PolledSource::parse(std::string_view text) const {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double raw = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, raw);
  if (ec != std::errc{} || ptr != end || text.empty()) {
    std::string shown(text.substr(0, 40));
    return failure(EINVAL, cfg_.path + ": not a number: '" + shown + "'");
  }
  PollReading r;
  r.raw = raw;
  r.value = raw * cfg_.scale + cfg_.offset;
  return r;
}

int PolledSource::open_nonblocking() const noexcept {
  const int fd = ::open(cfg_.path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -errno;
  // A regular file (sysfs, procfs, a file on disk) goes back to blocking reads: io_uring
  // fails a non-blocking read that misses the page cache with EAGAIN instead of reading
  // it in an io-wq worker. A FIFO or device stays non-blocking: it reads what is there.
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  return fd;
}

const PollReading& PolledSource::complete(int err, std::string_view text, std::uint64_t now_ns) {
  ++reads_;
  const int error_before = last_.error;
  const std::string message_before = last_.message;
  const bool first = reads_ == 1;
  if (err != 0) {
    last_ = failure(err, cfg_.path + ": " + describe(err));
  } else if (text.empty()) {
    last_ = failure(ENODATA, cfg_.path + ": " + describe(ENODATA));
  } else if (text.size() >= kMaxFileBytes) {
    last_ = failure(EFBIG, cfg_.path + ": larger than " + std::to_string(kMaxFileBytes) + " bytes");
  } else {
    last_ = parse(text);
  }
  if (last_.ok()) {
    consecutive_failures_ = 0;
    last_ok_ns_ = now_ns;
    state_changed_ = error_before != 0;
  } else {
    ++errors_;
    ++consecutive_failures_;
    // The same errno with another text (a parse error showing other junk) is still a
    // change: the user sees what the file holds now.
    state_changed_ = first || last_.error != error_before || last_.message != message_before;
  }
  return last_;
}

const PollReading& PolledSource::poll() {
  const int fd = open_nonblocking();
  if (fd < 0) return complete(-fd, {}, monotonic_ns());
  core::UniqueFd file(fd);
  char buf[kMaxFileBytes];
  std::size_t len = 0;
  int err = 0;
  // sysfs hands the whole attribute to the first read; loop anyway for plain files.
  while (len < sizeof buf) {
    const ssize_t n = ::read(file.get(), buf + len, sizeof buf - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN && len > 0) break;  // a FIFO: what was written so far
      err = errno;
      break;
    }
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
  }
  return complete(err, std::string_view(buf, len), monotonic_ns());
}

}  // namespace gpioirq::devices
