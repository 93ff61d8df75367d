// A real local HTTP receiver for webhook tests (civetweb, in the test
// process): records every request (headers, body, arrival time) and answers
// with what the test's handler says (status, extra headers, a delay).
// Bind 127.0.0.1 on a free port or on a port the test reserved. Thread-safe;
// the destructor stops the server (waits for handlers in progress).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "civetweb.h"

namespace cutover::testing {

class WebhookReceiver {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    absl::Time at;
  };
  struct Reply {
    int status = 200;
    std::string headers;  // extra "Name: value\r\n" lines
    absl::Duration delay = absl::ZeroDuration();
  };
  static Reply Status(int status, std::string headers = "") {
    Reply r;
    r.status = status;
    r.headers = std::move(headers);
    return r;
  }
  using Handler = std::function<Reply(const Request&, int index)>;

  // port 0: a free port.
  explicit WebhookReceiver(int port = 0) {
    const std::string listen = absl::StrCat("127.0.0.1:", port);
    const char* options[] = {"listening_ports", listen.c_str(), "num_threads", "8", nullptr};
    mg_callbacks cb{};
    ctx_ = mg_start(&cb, this, options);
    if (ctx_ == nullptr) return;
    mg_set_request_handler(ctx_, "/", &WebhookReceiver::Handle, this);
    mg_server_port ports[1];
    if (mg_get_server_ports(ctx_, 1, ports) >= 1) port_ = ports[0].port;
  }
  ~WebhookReceiver() {
    if (ctx_) mg_stop(ctx_);
  }
  bool ok() const { return ctx_ != nullptr && port_ > 0; }
  int port() const { return port_; }
  std::string url(absl::string_view path = "/hook") const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

  void SetHandler(Handler h) {
    absl::MutexLock l(&mu_);
    handler_ = std::move(h);
  }
  std::vector<Request> requests() {
    absl::MutexLock l(&mu_);
    return requests_;
  }
  size_t count() {
    absl::MutexLock l(&mu_);
    return requests_.size();
  }
  // Polls until at least n requests arrived (false after `timeout`).
  bool WaitForCount(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (count() >= n) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return count() >= n;
  }

 private:
  static int Handle(mg_connection* conn, void* self) {
    return static_cast<WebhookReceiver*>(self)->Serve(conn);
  }
  int Serve(mg_connection* conn) {
    const mg_request_info* info = mg_get_request_info(conn);
    Request r;
    r.method = info->request_method ? info->request_method : "";
    r.path = info->local_uri ? info->local_uri : "";
    for (int i = 0; i < info->num_headers; ++i) {
      r.headers[absl::AsciiStrToLower(info->http_headers[i].name)] = info->http_headers[i].value;
    }
    char buf[4096];
    int n;
    while ((n = mg_read(conn, buf, sizeof(buf))) > 0) r.body.append(buf, n);
    r.at = absl::Now();
    Handler h;
    int index;
    {
      absl::MutexLock l(&mu_);
      index = static_cast<int>(requests_.size());
      requests_.push_back(r);
      h = handler_;
    }
    Reply reply;
    if (h) reply = h(r, index);
    if (reply.delay > absl::ZeroDuration()) absl::SleepFor(reply.delay);
    mg_printf(conn, "HTTP/1.1 %d Test\r\nContent-Length: 2\r\nConnection: close\r\n%s\r\nok", reply.status,
              reply.headers.c_str());
    return reply.status;
  }

  mg_context* ctx_ = nullptr;
  int port_ = 0;
  absl::Mutex mu_;
  Handler handler_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
};

// A port nobody listens on while this object lives: bound, not listening, so
// connections are refused. Release() frees it for a receiver to take.
class ReservedPort {
 public:
  ReservedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
      socklen_t len = sizeof(a);
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin_port);
    }
  }
  ~ReservedPort() { Release(); }
  int port() const { return port_; }
  void Release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace cutover::testing
