#include "runtime/certificate_reloader.h"

#include <pthread.h>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "files/read_file.h"
#include "log/log.h"

namespace plby::runtime {
namespace {

// Everything a listener's TLS is made of, as one string, to tell whether a change on disk
// changed anything: editors and the kubelet touch files without changing them.
std::string Fingerprint(const tls::ServerTlsSettings& settings) {
  std::string all;
  for (const tls::ServerTlsSettings::Certificate& certificate : settings.certificates) {
    absl::StrAppend(&all, certificate.cert_pem.size(), ":", certificate.cert_pem,
                    certificate.key_pem.size(), ":", certificate.key_pem,
                    certificate.ocsp_der.size(), ":", certificate.ocsp_der);
  }
  absl::StrAppend(&all, settings.ticket_keys.size(), ":", settings.ticket_keys);
  return all;
}

// A certificate, key, OCSP response or ticket key file, as the config reads it (at most
// files::kMaxPemBytes).
absl::StatusOr<std::string> ReadTlsFile(const std::string& file) {
  absl::StatusOr<std::string> bytes = files::ReadFile(file, files::kMaxPemBytes);
  if (bytes.ok()) return bytes;
  return absl::Status(bytes.status().code(),
                      absl::StrCat(file, ": cannot read it: ", bytes.status().message()));
}

// The files of `settings` read again (file names are kept; the bytes are new).
absl::StatusOr<tls::ServerTlsSettings> ReadAgain(tls::ServerTlsSettings settings) {
  for (tls::ServerTlsSettings::Certificate& certificate : settings.certificates) {
    for (auto [file, bytes] : {std::pair{&certificate.cert_file, &certificate.cert_pem},
                               std::pair{&certificate.key_file, &certificate.key_pem},
                               std::pair{&certificate.ocsp_file, &certificate.ocsp_der}}) {
      if (file->empty()) continue;  // no OCSP response
      absl::StatusOr<std::string> read = ReadTlsFile(*file);
      if (!read.ok()) return read.status();
      *bytes = *std::move(read);
    }
  }
  if (!settings.ticket_keys_file.empty()) {
    absl::StatusOr<std::string> read = ReadTlsFile(settings.ticket_keys_file);
    if (!read.ok()) return read.status();
    settings.ticket_keys = *std::move(read);
  }
  return settings;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CertificateReloader>> CertificateReloader::Create(
    std::vector<proxy::ListenerSpec*> listeners, int workers) {
  std::vector<proxy::ListenerSpec*> terminating;
  std::vector<std::string> files;
  for (proxy::ListenerSpec* listener : listeners) {
    if (!listener->tls_settings) continue;
    terminating.push_back(listener);
    for (const auto& certificate : listener->tls_settings->certificates) {
      files.push_back(certificate.cert_file);
      files.push_back(certificate.key_file);
      if (!certificate.ocsp_file.empty()) files.push_back(certificate.ocsp_file);
    }
    if (!listener->tls_settings->ticket_keys_file.empty()) {
      files.push_back(listener->tls_settings->ticket_keys_file);
    }
  }
  absl::StatusOr<net::FileWatch> watch = net::FileWatch::Create(files);
  if (!watch.ok()) return watch.status();
  if (!watch->polling().empty()) {
    PLBY_LOG(kWarn, "certificate files are looked at every second for changes (", watch->polling(),
             "; raise fs.inotify.max_user_instances to watch them instead)");
  }
  return absl::WrapUnique(
      new CertificateReloader(std::move(terminating), workers, *std::move(watch)));
}

CertificateReloader::CertificateReloader(std::vector<proxy::ListenerSpec*> listeners, int workers,
                                         net::FileWatch watch)
    : listeners_(std::move(listeners)), workers_(workers), watch_(std::move(watch)) {
  for (const proxy::ListenerSpec* listener : listeners_) {
    loaded_.push_back(Fingerprint(*listener->tls_settings));
  }
}

CertificateReloader::~CertificateReloader() { Stop(); }

void CertificateReloader::Start() {
  if (listeners_.empty()) return;
  thread_ = std::thread([this] { Run(); });
}

void CertificateReloader::Stop() {
  stopping_.store(true);
  watch_.Wake();
  if (thread_.joinable()) thread_.join();
}

void CertificateReloader::Run() {
  pthread_setname_np(pthread_self(), "plby-certs");
  while (!stopping_.load()) {
    if (watch_.Wait(absl::Hours(1)) && !stopping_.load()) Reload("a file changed");
  }
}

std::vector<CertificateReload> CertificateReloader::Reload(absl::string_view why) {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  std::vector<CertificateReload> results;
  for (size_t i = 0; i < listeners_.size(); ++i) {
    proxy::ListenerSpec& listener = *listeners_[i];
    CertificateReload result{.listener = listener.name, .changed = false, .error = ""};
    absl::StatusOr<tls::ServerTlsSettings> settings = ReadAgain(*listener.tls_settings);
    absl::StatusOr<std::shared_ptr<const tls::ServerContext>> loaded;
    if (settings.ok() && Fingerprint(*settings) == loaded_[i]) {
      results.push_back(std::move(result));  // the same bytes: nothing to do
      continue;
    }
    if (settings.ok()) loaded = tls::ServerContext::Load(*settings, workers_);
    const absl::Status status = !settings.ok() ? settings.status() : loaded.status();
    if (!status.ok()) {
      result.error = std::string(status.message());
      listener.tls_reload_failures.fetch_add(1);
      PLBY_LOG(kError, "certificates of listener ", listener.name, " not reloaded (", why,
               "): ", status.message(), "; the ones loaded before stay in use");
    } else {
      loaded_[i] = Fingerprint(*settings);
      listener.tls->Set(*std::move(loaded));
      listener.tls_reloads.fetch_add(1);
      result.changed = true;
      std::string names;
      for (const tls::LoadedCertificate& certificate : listener.tls->Get()->certificates()) {
        absl::StrAppend(
            &names, names.empty() ? "" : " ", certificate.cert_file, " (expires ",
            absl::FormatTime("%Y-%m-%d", certificate.facts.not_after, absl::UTCTimeZone()), ")");
      }
      PLBY_LOG(kInfo, "certificates of listener ", listener.name, " reloaded (", why, "): ", names,
               "; new handshakes use them");
      for (const tls::LoadedCertificate& certificate : listener.tls->Get()->certificates()) {
        for (const std::string& warning : tls::LoadWarnings(certificate, absl::Now())) {
          PLBY_LOG(kWarn, "certificates of listener ", listener.name, ": ", warning);
        }
      }
    }
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace plby::runtime
