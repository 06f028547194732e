#include "devices/polled_source.hpp"

#include <fcntl.h>
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

const PollReading& PolledSource::poll() {
  ++reads_;
  core::UniqueFd fd(::open(cfg_.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    last_ = failure(err, cfg_.path + ": " + std::strerror(err));
  } else {
    char buf[kMaxFileBytes];
    std::size_t len = 0;
    int err = 0;
    // sysfs hands the whole attribute to the first read; loop anyway for plain files.
    while (len < sizeof buf) {
      const ssize_t n = ::read(fd.get(), buf + len, sizeof buf - len);
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno;
        break;
      }
      if (n == 0) break;
      len += static_cast<std::size_t>(n);
    }
    if (err != 0) {
      last_ = failure(err, cfg_.path + ": " + std::strerror(err));
    } else if (len == sizeof buf) {
      last_ =
          failure(EFBIG, cfg_.path + ": larger than " + std::to_string(kMaxFileBytes) + " bytes");
    } else {
      last_ = parse(std::string_view(buf, len));
    }
  }
  if (!last_.ok()) ++errors_;
  return last_;
}

}  // namespace gpioirq::devices
