#include "mqtt/mqtt_client.hpp"

#include <arpa/inet.h>
#include <mosquitto.h>
#include <poll.h>

#include <netdb.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace gpioirq::mqtt {

namespace {

// mosquitto_lib_init once per process, mosquitto_lib_cleanup at exit.
void init_library() {
  static const struct Library {
    Library() { mosquitto_lib_init(); }
    ~Library() { mosquitto_lib_cleanup(); }
  } library;
}

std::string mosquitto_words(int rc) {
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
  return mosquitto_strerror(rc);
}

std::string read_password(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) {
    throw std::runtime_error("mqtt: cannot read the password file " + file);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// RFC 1123 host name: labels of letters, digits and '-' (not at either end), 1..63 long,
// 253 characters at most; a trailing '.' (fully qualified) allowed.
bool valid_host_name(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  char prev = '.';
  for (const char c : name) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      (c == '-' && label > 0);
      if (!ok || ++label > 63) return false;
    }
    prev = c;
  }
  return prev != '-';
}

}  // namespace

BrokerAddress parse_broker_url(std::string_view url) {
  BrokerAddress a;
  std::string_view rest;
  if (url.starts_with("mqtt://")) {
    rest = url.substr(7);
  } else if (url.starts_with("mqtts://")) {
    rest = url.substr(8);
    a.tls = true;
    a.port = 8883;
  } else {
    throw std::invalid_argument("mqtt: broker URL '" + std::string(url) +
                                "' must start with mqtt:// or mqtts://");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string_view host = rest;
  std::string_view port;
  bool has_port = false;
  if (rest.starts_with("[")) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) {
      throw std::invalid_argument("mqtt: broker URL '" + std::string(url) + "' lacks the ']'");
    }
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        throw std::invalid_argument("mqtt: broker URL '" + std::string(url) +
                                    "': expected ':PORT' after ']'");
      }
      port = rest.substr(close + 2);
      has_port = true;
    }
  } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    has_port = true;
  }
  if (host.empty()) {
    throw std::invalid_argument("mqtt: broker URL '" + std::string(url) + "' has no host");
  }
  if (has_port) {
    int p = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || p < 1 ||
        p > 65535) {
      throw std::invalid_argument("mqtt: broker URL '" + std::string(url) + "': port '" +
                                  std::string(port) + "' is not 1..65535");
    }
    a.port = p;
  }
  a.host = std::string(host);
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, a.host.c_str(), buf) != 1 &&
      inet_pton(AF_INET6, a.host.c_str(), buf) != 1) {
    if (!valid_host_name(a.host)) {
      throw std::invalid_argument("mqtt: broker host '" + a.host +
                                  "' is neither an IP address nor a host name (letters, "
                                  "digits, '-' and '.'; an IPv6 address goes in brackets)");
    }
    a.is_name = true;
  }
  return a;
}

void MqttClient::MosquittoDeleter::operator()(mosquitto* m) const noexcept {
  mosquitto_destroy(m);
}

MqttClient::MqttClient(loop::EventLoop& loop, MqttClientConfig config)
    : loop_(loop),
      config_(std::move(config)),
      address_(parse_broker_url(config_.url)),
      lookup_(std::make_shared<Lookup>()),
      lookup_waiter_(loop, lookup_->done, [this] { lookup_done(); }),
      misc_timer_(loop,
                  [this] {
                    // The lookup thread has the handle while resolving.
                    if (state_ == State::resolving) return;
                    mosquitto_loop_misc(mosq_.get());
                    arm();
                  }),
      reconnect_timer_(loop, [this] { connect_now(); }) {
  init_library();
  if (config_.qos < 0 || config_.qos > 2)
    throw std::invalid_argument("mqtt: qos must be 0, 1 or 2");
  if (config_.keepalive_s < 5 || config_.keepalive_s > 65535) {
    throw std::invalid_argument("mqtt: keepalive must be 5..65535 seconds");
  }
  if (config_.cert_file.empty() != config_.key_file.empty()) {
    throw std::invalid_argument(
        "mqtt: a client certificate needs its key, and the key its certificate");
  }
  if (!address_.tls && (!config_.ca_file.empty() || !config_.cert_file.empty())) {
    throw std::invalid_argument("mqtt: CA and certificate files need an mqtts:// URL");
  }
  if (address_.tls && config_.ca_file.empty()) {
    throw std::invalid_argument(
        "mqtt: an mqtts:// broker needs the CA file that signed its certificate");
  }
  mosq_.reset(
      mosquitto_new(config_.client_id.empty() ? nullptr : config_.client_id.c_str(), true, this));
  if (!mosq_) throw std::runtime_error("mqtt: mosquitto_new: " + std::string(std::strerror(errno)));
  mosquitto_connect_callback_set(mosq_.get(), &MqttClient::connect_cb);
  mosquitto_disconnect_callback_set(mosq_.get(), &MqttClient::disconnect_cb);
  mosquitto_publish_callback_set(mosq_.get(), &MqttClient::publish_cb);
  int rc = MOSQ_ERR_SUCCESS;
  if (!config_.username.empty()) {
    const std::string password =
        config_.password_file.empty() ? std::string() : read_password(config_.password_file);
    rc = mosquitto_username_pw_set(mosq_.get(), config_.username.c_str(),
                                   config_.password_file.empty() ? nullptr : password.c_str());
    if (rc != MOSQ_ERR_SUCCESS)
      throw std::invalid_argument("mqtt: username: " + mosquitto_words(rc));
  }
  if (address_.tls) {
    rc = mosquitto_tls_set(mosq_.get(), config_.ca_file.c_str(), nullptr,
                           config_.cert_file.empty() ? nullptr : config_.cert_file.c_str(),
                           config_.key_file.empty() ? nullptr : config_.key_file.c_str(), nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      throw std::invalid_argument("mqtt: TLS files (CA " + config_.ca_file +
                                  "): " + mosquitto_words(rc));
    }
  }
  if (!config_.status_topic.empty()) {
    static constexpr std::string_view kOffline = "offline";
    rc = mosquitto_will_set(mosq_.get(), config_.status_topic.c_str(),
                            static_cast<int>(kOffline.size()), kOffline.data(), config_.qos, true);
    if (rc != MOSQ_ERR_SUCCESS) {
      throw std::invalid_argument("mqtt: status topic '" + config_.status_topic +
                                  "': " + mosquitto_words(rc));
    }
  }
}

MqttClient::~MqttClient() {
  // The poll must be withdrawn before the socket it watches goes with mosq_.
  poll_.abandon();
  lookup_waiter_.stop();
  const std::lock_guard<std::mutex> lock(lookup_->mutex);
  if (lookup_->running) {
    // The lookup thread may block for long yet: it gets the handle and destroys it.
    lookup_->abandoned = true;
    static_cast<void>(mosq_.release());
  }
}

int MqttClient::socket_fd() const noexcept {
  if (state_ == State::resolving) return -1;
  return mosquitto_socket(mosq_.get());
}

void MqttClient::start() {
  if (started_) return;
  started_ = true;
  stopping_ = false;
  misc_timer_.start_periodic(1'000'000'000);
  connect_now();
}

void MqttClient::stop() {
  stopping_ = true;
  started_ = false;
  reconnect_timer_.cancel();
  if (state_ == State::resolving) {
    // The lookup thread has the handle: lookup_done() finishes the stop.
    misc_timer_.cancel();
    return;
  }
  if (state_ == State::connected) {
    // QoS 0: libmosquitto closes the socket right after writing the DISCONNECT, so a PUBACK
    // could never be read; the broker handles the PUBLISH before the DISCONNECT behind it
    // on the same connection anyway.
    if (!config_.status_topic.empty()) publish(config_.status_topic, "offline", 0, true);
    // The broker closes the connection; handle_disconnect() finishes the stop.
    mosquitto_disconnect(mosq_.get());
    arm();
    return;
  }
  // Not connected: an attempt in progress is abandoned (libmosquitto closes its socket at
  // the next connect or with the client), and nothing of ours stays in the loop.
  mosquitto_disconnect(mosq_.get());
  misc_timer_.cancel();
  if (lookup_waiter_started_) {
    lookup_waiter_.stop();
    lookup_waiter_started_ = false;
  }
  state_ = State::disconnected;
  arm();
}

void MqttClient::connect_now() {
  if (stopping_) return;
  ++counters_.connect_attempts;
  if (address_.is_name) {
    // libmosquitto resolves the name (getaddrinfo) inside its connect: on a thread of its
    // own, which hands the handle back through lookup_->done. The library's TLS check is
    // against the host it connects to, so a certificate is checked against the name.
    state_ = State::resolving;
    ++lookups_;
    if (!lookup_waiter_started_) {
      lookup_waiter_.start();
      lookup_waiter_started_ = true;
    }
    {
      const std::lock_guard<std::mutex> lock(lookup_->mutex);
      lookup_->running = true;
    }
    std::thread([lookup = lookup_, m = mosq_.get(), host = address_.host, port = address_.port,
                 keepalive = config_.keepalive_s] {
      const int rc = mosquitto_connect_async(m, host.c_str(), port, keepalive);
      const int error = errno;
      const std::lock_guard<std::mutex> lock(lookup->mutex);
      lookup->rc = rc;
      lookup->error = error;
      lookup->running = false;
      if (lookup->abandoned) {
        mosquitto_destroy(m);  // the client is gone and left the handle to us
        return;
      }
      lookup->done.set();
    }).detach();
    return;
  }
  state_ = State::connecting;
  const int rc = mosquitto_connect_async(mosq_.get(), address_.host.c_str(), address_.port,
                                         config_.keepalive_s);
  if (rc != MOSQ_ERR_SUCCESS) {
    fail("connect to " + config_.url, rc);
    state_ = State::disconnected;
    schedule_reconnect();
    return;
  }
  arm();
}

void MqttClient::lookup_done() {
  int rc = 0;
  int error = 0;
  {
    const std::lock_guard<std::mutex> lock(lookup_->mutex);
    if (lookup_->running || state_ != State::resolving) return;
    rc = lookup_->rc;
    error = lookup_->error;
  }
  if (stopping_) {
    // stop() came while the lookup ran: nothing of ours stays in the loop.
    mosquitto_disconnect(mosq_.get());
    state_ = State::disconnected;
    lookup_waiter_.stop();
    lookup_waiter_started_ = false;
    arm();
    return;
  }
  if (rc == MOSQ_ERR_EAI) {
    // libmosquitto leaves getaddrinfo's code in errno.
    last_error_ = "lookup of " + address_.host + " failed: " + ::gai_strerror(error);
  } else if (rc != MOSQ_ERR_SUCCESS) {
    errno = error;
    fail("connect to " + config_.url, rc);
  }
  if (rc != MOSQ_ERR_SUCCESS) {
    state_ = State::disconnected;
    schedule_reconnect();
    return;
  }
  state_ = State::connecting;
  arm();
}

void MqttClient::schedule_reconnect() {
  if (stopping_) return;
  backoff_ms_ = backoff_ms_ == 0 ? config_.reconnect_min_ms
                                 : std::min(backoff_ms_ * 2, config_.reconnect_max_ms);
  reconnect_timer_.start_once(backoff_ms_ * 1'000'000);
}

void MqttClient::arm() {
  if (state_ == State::resolving) return;  // the lookup thread has the handle
  if (stopping_ && state_ == State::disconnected) {
    if (poll_.in_flight()) loop_.cancel(poll_);
    return;
  }
  const int fd = mosquitto_socket(mosq_.get());
  const unsigned want = fd < 0 ? 0U : POLLIN | (mosquitto_want_write(mosq_.get()) ? POLLOUT : 0U);
  if (poll_.in_flight()) {
    if (fd == polled_fd_ && want == polled_events_) return;
    // A new socket (reconnect) or other events: the poll's completion re-arms (-ECANCELED).
    loop_.cancel(poll_);
    return;
  }
  if (fd < 0) return;
  poll_.set_callback([this](int res, std::uint32_t) { on_poll(res); });
  if (loop_.poll_add(fd, want, poll_) == 0) {
    polled_fd_ = fd;
    polled_events_ = want;
  }
}

void MqttClient::on_poll(int res) {
  if (res >= 0 && polled_fd_ == mosquitto_socket(mosq_.get())) {
    const auto events = static_cast<unsigned>(res);
    if ((events & (POLLIN | POLLERR | POLLHUP)) != 0) {
      // Also drives the TLS handshake while it runs (mosquitto_loop_read does it then).
      // Also drives the TLS handshake while it runs.
      lost_unannounced(mosquitto_loop_read(mosq_.get(), 1));
    }
    if ((events & POLLOUT) != 0 && mosquitto_socket(mosq_.get()) >= 0) {
      lost_unannounced(mosquitto_loop_write(mosq_.get(), 1));
    }
  }
  arm();
}

void MqttClient::lost_unannounced(int rc) {
  // Most errors close the socket and call the disconnect callback, which records them;
  // a failed TLS handshake closes it without the callback: handled the same way here.
  if (rc != MOSQ_ERR_SUCCESS && state_ != State::disconnected &&
      mosquitto_socket(mosq_.get()) < 0) {
    handle_disconnect(rc);
  }
}

int MqttClient::publish(std::string_view topic, std::string_view payload, int qos, bool retain) {
  if (state_ != State::connected) {
    ++counters_.dropped;
    return 0;
  }
  int mid = 0;
  const std::string t(topic);
  const int rc = mosquitto_publish(mosq_.get(), &mid, t.c_str(), static_cast<int>(payload.size()),
                                   payload.data(), qos, retain);
  if (rc != MOSQ_ERR_SUCCESS) {
    fail("publish to " + t, rc);
    ++counters_.dropped;
    return 0;
  }
  ++counters_.published;
  arm();
  return mid;
}

void MqttClient::fail(std::string what, int rc) {
  last_error_ = std::move(what) + ": " + mosquitto_words(rc);
}

void MqttClient::connect_cb(mosquitto*, void* self, int rc) {
  static_cast<MqttClient*>(self)->handle_connect(rc);
}
void MqttClient::disconnect_cb(mosquitto*, void* self, int rc) {
  static_cast<MqttClient*>(self)->handle_disconnect(rc);
}
void MqttClient::publish_cb(mosquitto*, void* self, int mid) {
  auto* c = static_cast<MqttClient*>(self);
  ++c->counters_.acknowledged;
  if (c->on_acknowledged) c->on_acknowledged(mid);
}

void MqttClient::handle_connect(int rc) {
  if (rc != 0) {
    // The broker refused (CONNACK return code): it closes; the disconnect callback follows.
    last_error_ = "connect to " + config_.url + " refused: " + mosquitto_connack_string(rc);
    refused_ = true;
    return;
  }
  state_ = State::connected;
  backoff_ms_ = 0;
  ++counters_.connects;
  if (!config_.status_topic.empty()) {
    // Counted like any message: the status is one of them.
    publish(config_.status_topic, "online", config_.qos, true);
  }
  if (on_connected) on_connected();
}

void MqttClient::handle_disconnect(int rc) {
  const bool was_connected = state_ == State::connected;
  state_ = State::disconnected;
  if (was_connected) ++counters_.disconnects;
  // A refusal's reason (CONNACK) says more than the close that follows it.
  if (rc != 0 && !refused_) {
    fail((was_connected ? "connection to " : "connect to ") + config_.url +
             (was_connected ? " lost" : " failed"),
         rc);
  }
  refused_ = false;
  if (poll_.in_flight()) loop_.cancel(poll_);
  if (was_connected && on_disconnected) on_disconnected();
  if (stopping_) {
    // Nothing left to keep alive: an idle client holds no op in the loop.
    misc_timer_.cancel();
    if (lookup_waiter_started_) {
      lookup_waiter_.stop();
      lookup_waiter_started_ = false;
    }
    return;
  }
  schedule_reconnect();
}

}  // namespace gpioirq::mqtt
