// gpioirqd: turns GPIO interrupts into timestamped, loss-accounted data. See README.md.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

#include "app/daemon.hpp"
#include "config/config_error.hpp"
#include "kinds/kind.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"gpioirqd: GPIO interrupts to exact, timestamped, loss-accounted data"};
  std::string config_path = "/etc/gpioirqd.toml";
  std::string check_path;
  double run_seconds = 0;
  bool verbose = false;
  cli.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  cli.add_option("--check-config", check_path,
                 "check FILE and exit: 0 when valid, 78 with the error otherwise");
  cli.add_option("--run-seconds", run_seconds, "stop by itself after this many seconds (demo, tests)")
      ->check(CLI::PositiveNumber);
  cli.add_flag("-v,--verbose", verbose, "debug diagnostics");
  cli.set_version_flag("--version", gpioirq::app::kVersion);
  CLI11_PARSE(cli, argc, argv);

  // Under systemd (it sets JOURNAL_STREAM for our stderr) diagnostics go to the journal.
  if (std::getenv("JOURNAL_STREAM"))
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "gpioirqd", std::make_shared<spdlog::sinks::systemd_sink_mt>("gpioirqd")));
  else
    spdlog::set_default_logger(spdlog::stderr_color_mt("gpioirqd"));
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);

  if (!check_path.empty()) {
    try {
      const auto cfg = gpioirq::kinds::load_config(check_path);
      // "N chips, N encoders, N buttons, ...": every kind, in the table's order.
      std::cout << check_path << ": ok (" << cfg.chips.size() << " chips";
      for (const gpioirq::kinds::Kind* kind : gpioirq::kinds::registry()) {
        const auto count = std::count_if(cfg.devices.begin(), cfg.devices.end(),
                                         [&](const auto& d) { return d.kind == kind->name(); });
        std::cout << ", " << count << " " << kind->plural();
      }
      std::cout << ")\n";
      return 0;
    } catch (const gpioirq::config::ConfigError& e) {
      std::cerr << e.what() << "\n";
      return gpioirq::config::config_error_exit_code;
    }
  }

  gpioirq::config::Config cfg;
  try {
    cfg = gpioirq::kinds::load_config(config_path);
  } catch (const gpioirq::config::ConfigError& e) {
    std::cerr << "gpioirqd: " << e.what() << "\n";
    return gpioirq::config::config_error_exit_code;
  }
  try {
    gpioirq::app::Daemon daemon(std::move(cfg));
    gpioirq::app::RunOptions options;
    options.run_seconds = run_seconds;
    return daemon.run(options);
  } catch (const gpioirq::config::ConfigError& e) {
    // Found at start and not in the file's syntax (an unsafe log_dir, a link at a log
    // name): restarting will not fix it either.
    spdlog::critical("{}", e.what());
    return gpioirq::config::config_error_exit_code;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return EXIT_FAILURE;
  }
}
