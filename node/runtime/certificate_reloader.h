// CertificateReloader: loads the certificates and ticket keys of every listener that
// terminates TLS again when their files change (a Kubernetes Secret update swaps a symlink
// in their directory) or when asked (ReloadCertificates). New handshakes use the new ones; open
// connections keep theirs. A file that does not load is refused, logged and counted, and the
// listener keeps what it had.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "net/file_watch.h"
#include "proxy/listener.h"

namespace plby::runtime {

// What a reload did to one listener.
struct CertificateReload {
  std::string listener;
  bool changed = false;  // new files were loaded (false: they were the same, or refused)
  std::string error;     // why they were refused; empty: they were not
};

class CertificateReloader {
 public:
  // The listeners (those without [server.tls] are skipped) and their workers' count; the
  // listeners must outlive this.
  static absl::StatusOr<std::unique_ptr<CertificateReloader>> Create(
      std::vector<proxy::ListenerSpec*> listeners, int workers);
  ~CertificateReloader();

  // Watches the files on a thread of its own until Stop().
  void Start();
  void Stop();

  // Reads every listener's files again and loads those that changed. Thread-safe.
  std::vector<CertificateReload> Reload(absl::string_view why);

 private:
  CertificateReloader(std::vector<proxy::ListenerSpec*> listeners, int workers,
                      net::FileWatch watch);
  void Run();

  const std::vector<proxy::ListenerSpec*> listeners_;
  const int workers_;
  net::FileWatch watch_;
  std::mutex reload_mutex_;          // one reload at a time
  std::vector<std::string> loaded_;  // per listener: the bytes of the files in use
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace plby::runtime
