#pragma once
// MqttClient: one connection to an MQTT broker through libmosquitto, driven by the daemon's
// io_uring EventLoop: the library's socket is watched with one-shot polls (POLLIN, and
// POLLOUT while mosquitto_want_write()), readiness is handed to mosquitto_loop_read/write,
// and a 1 s timer runs mosquitto_loop_misc (keepalive pings). No mosquitto_loop_start();
// nothing blocks the loop thread: to an IP address the connect is mosquitto_connect_async
// on the loop thread; to a host name it is the same call made on a short-lived thread of
// its own (libmosquitto resolves the name inside it with getaddrinfo, which can take
// seconds), which hands the result back through a ThreadSafeFlag: state `resolving`
// meanwhile, and the loop thread does not touch the library until it is back. So an
// mqtts:// certificate is checked against the NAME in the URL (libmosquitto verifies
// against the host it was asked to connect to). The TLS handshake runs on the
// non-blocking socket.
//
// Status and last will: with a status topic, the will is `offline` (retained) and every
// connect publishes `online` (retained); stop() publishes `offline` (QoS 0, retained)
// before it disconnects.
// A lost connection is retried with a doubling backoff (reconnect_min_ms ..
// reconnect_max_ms), reset by a successful connect.
//
// Messages: publish() is refused (and counted dropped) unless connected, so that the
// caller keeps what it could not hand over (the spool, docs/MQTT.md). QoS 1/2 messages
// accepted by the library but not yet acknowledged at a disconnect stay in libmosquitto's
// queue and are sent again after the reconnect; they count as in flight until their
// PUBACK arrives.
//
// Thread rules: loop thread only. Callbacks run on it, from inside the client: they may
// publish(), not destroy the client.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/thread_safe_flag.hpp"
#include "loop/callback_completion.hpp"
#include "loop/event_loop.hpp"
#include "loop/flag_waiter.hpp"
#include "loop/timer.hpp"

struct mosquitto;

namespace gpioirq::mqtt {

struct BrokerAddress {
  bool tls = false;
  std::string host;      // an IPv4 or IPv6 address (without brackets), or a host name
  bool is_name = false;  // host is a name: resolved off the loop thread
  int port = 1883;
};

// mqtt://HOST[:PORT] (port 1883) or mqtts://HOST[:PORT] (8883); HOST an IPv4 address, an
// IPv6 address in brackets, or a host name (letters, digits, '-' and '.', labels of 1..63
// characters, 253 at most). Throws std::invalid_argument saying what is wrong.
BrokerAddress parse_broker_url(std::string_view url);

struct MqttClientConfig {
  std::string url;        // see parse_broker_url
  std::string ca_file;    // mqtts: the CA that signed the broker's certificate
  std::string cert_file;  // mqtts: client certificate and key, both or neither
  std::string key_file;
  std::string client_id;      // empty: the library makes one up
  std::string username;       // empty: none
  std::string password_file;  // its first line is the password (read at construction)
  int keepalive_s = 60;
  int qos = 1;               // for the status messages; publish() takes its own
  std::string status_topic;  // empty: no status messages, no will
  std::uint64_t reconnect_min_ms = 250;
  std::uint64_t reconnect_max_ms = 30000;
};

class MqttClient {
 public:
  // resolving: the connect to a host name runs on the lookup thread.
  enum class State { disconnected, resolving, connecting, connected };

  struct Counters {
    std::uint64_t published = 0;     // accepted by publish()
    std::uint64_t acknowledged = 0;  // PUBACK (QoS 1), PUBCOMP (QoS 2), sent (QoS 0)
    std::uint64_t dropped = 0;       // refused by publish(): not connected, or an error
    std::uint64_t connect_attempts = 0;
    std::uint64_t connects = 0;     // CONNACKs that accepted us
    std::uint64_t disconnects = 0;  // connections lost or closed
    std::uint64_t in_flight() const noexcept { return published - acknowledged; }
  };

  // Validates the config (throws std::invalid_argument / std::runtime_error naming what is
  // wrong: the URL, unreadable files, a refused TLS setting). Does not connect yet.
  MqttClient(loop::EventLoop& loop, MqttClientConfig config);
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;
  ~MqttClient();

  // Starts connecting (and keeps reconnecting until stop()).
  void start();
  // Publishes `offline` on the status topic when connected, then disconnects cleanly (no
  // will). The state is disconnected once the broker has closed the connection.
  void stop();

  // The library's message id (> 0), or 0 when refused (counted in dropped).
  int publish(std::string_view topic, std::string_view payload, int qos, bool retain);

  State state() const noexcept { return state_; }
  const Counters& counters() const noexcept { return counters_; }
  // libmosquitto's or the system's words for the last failure, empty when none yet.
  const std::string& last_error() const noexcept { return last_error_; }
  // The socket while there is one, else -1 (tests use it to cut the connection).
  int socket_fd() const noexcept;
  // How many host name lookups (connects by name) were started.
  std::uint64_t lookups() const noexcept { return lookups_; }

  std::function<void()> on_connected;     // after `online` was published
  std::function<void()> on_disconnected;  // the connection is gone (a reconnect is due)
  std::function<void(int mid)> on_acknowledged;

 private:
  struct MosquittoDeleter {
    void operator()(mosquitto* m) const noexcept;
  };
  // Shared with the lookup thread, which may outlive the client: a client destroyed while
  // a lookup runs leaves the library handle to the thread, which destroys it when done.
  struct Lookup {
    core::ThreadSafeFlag done;
    std::mutex mutex;
    bool running = false;    // the thread has the handle and must be left alone
    bool abandoned = false;  // the client is gone: the thread destroys the handle
    int rc = 0;
    int error = 0;  // errno after the call: getaddrinfo's code for MOSQ_ERR_EAI
  };

  static void connect_cb(mosquitto* m, void* self, int rc);
  static void disconnect_cb(mosquitto* m, void* self, int rc);
  static void publish_cb(mosquitto* m, void* self, int mid);

  void handle_connect(int rc);
  void handle_disconnect(int rc);
  void connect_now();
  void lookup_done();
  void schedule_reconnect();
  // Keeps one poll on the library's current socket, for the events it wants now.
  void arm();
  void on_poll(int res);
  // After a loop_read/write error: the disconnect the library did not announce.
  void lost_unannounced(int rc);
  void fail(std::string what, int rc);

  loop::EventLoop& loop_;
  MqttClientConfig config_;
  BrokerAddress address_;
  std::unique_ptr<mosquitto, MosquittoDeleter> mosq_;  // destroyed after the ops below
  std::shared_ptr<Lookup> lookup_;                     // outlives lookup_waiter_
  loop::FlagWaiter lookup_waiter_;
  bool lookup_waiter_started_ = false;
  std::uint64_t lookups_ = 0;
  loop::CallbackCompletion poll_;
  int polled_fd_ = -1;
  unsigned polled_events_ = 0;
  loop::Timer misc_timer_;
  loop::Timer reconnect_timer_;
  std::uint64_t backoff_ms_ = 0;
  State state_ = State::disconnected;
  bool started_ = false;
  bool stopping_ = false;
  bool refused_ = false;  // the broker refused the last CONNECT (its reason is in last_error_)
  Counters counters_;
  std::string last_error_;
};

}  // namespace gpioirq::mqtt
