#pragma once
// [metrics] textfile (docs/METRICS.md): the daemon's Prometheus text written for
// node_exporter's textfile collector, which reads every *.prom in its directory at each
// scrape. Written whole to <path>.tmp (a name the collector skips), then renamed over
// <path>, so that a scrape sees the previous file or the new one, never a part.
//
// A failed write (a full disk, a missing directory, no permission) is counted and logged,
// at most once a minute while it keeps failing and once when it works again; it never
// stops the daemon. Small writes on the loop thread (a few kB): no fsync, since a file
// lost to a power cut is rewritten at the next interval.

#include <cstdint>
#include <string>
#include <string_view>

namespace gpioirq::app {

class MetricsTextfile {
 public:
  explicit MetricsTextfile(std::string path);

  // Replaces the file with `text`; false when it could not (counted, logged).
  bool write(std::string_view text, std::uint64_t now_mono_ns);

  const std::string& path() const noexcept { return path_; }
  std::uint64_t writes() const noexcept { return writes_; }
  std::uint64_t failures() const noexcept { return failures_; }
  // What the last failure said ("writing /x/g.prom.tmp: No space left on device"); empty
  // once a write succeeded again.
  const std::string& last_error() const noexcept { return last_error_; }

 private:
  // "" or the reason, e.g. "renaming ... : Permission denied".
  std::string replace(std::string_view text) const;

  std::string path_, tmp_path_;
  std::uint64_t writes_ = 0, failures_ = 0;
  std::uint64_t failures_since_ok_ = 0;  // since the last good write
  std::uint64_t last_logged_ns_ = 0;
  std::string last_error_;
};

}  // namespace gpioirq::app
