// AuditLog: who changed what through the control service. Every mutation call is one info line
// (applied, unchanged or refused) naming the caller (peer address, and the client
// certificate's subject under mTLS), the pool, the backend, what was asked, the outcome and the
// pool's version before and after; every change that could not be saved to the state file is
// an error line; callers refused for their certificate are a warning (rate-limited). All are
// counted, for the metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "log/rate_limit.h"

namespace plby::control {

// Who made a call.
struct Caller {
  std::string peer = "in-process";  // gRPC's form: "ipv4:10.0.0.7:53210"
  std::string identity;             // the client certificate's subject under mTLS, else empty
};

enum class Mutation { kAddBackend, kRemoveBackend, kUpdateBackend, kUpdatePool, kMarkSynced };
inline constexpr size_t kMutations = 5;
// "AddBackend", as the API names the call; and "add_backend", as a metric label.
absl::string_view MutationName(Mutation mutation);
absl::string_view MutationLabel(Mutation mutation);

enum class Outcome { kApplied, kUnchanged, kRefused };
inline constexpr size_t kOutcomes = 3;
absl::string_view OutcomeName(Outcome outcome);  // "applied", "unchanged", "refused"

// The counts, for metrics.
struct AuditCounts {
  std::array<std::array<uint64_t, kOutcomes>, kMutations> changes{};  // [mutation][outcome]
  uint64_t save_failures = 0;
  uint64_t unauthenticated = 0;
};

class AuditLog {
 public:
  struct Entry {
    Mutation mutation = Mutation::kAddBackend;
    const Caller* caller = nullptr;
    absl::string_view pool;
    absl::string_view backend;  // empty for a change of the pool itself
    std::string asked;          // "weight 3", "draining, drain timeout 30s", ...
    absl::Status result;
    bool changed = false;         // with an OK result: a new version was published
    uint64_t version_before = 0;  // 0: no such pool
    uint64_t version_after = 0;
  };

  // Thread-safe, like the rest.
  void Record(const Entry& entry);
  void RecordSaveFailure(absl::string_view pool, const absl::Status& error);
  void RecordUnauthenticated(const Caller& caller, absl::string_view reason);

  AuditCounts counts() const;

 private:
  std::array<std::array<std::atomic<uint64_t>, kOutcomes>, kMutations> changes_{};
  std::atomic<uint64_t> save_failures_{0};
  std::atomic<uint64_t> unauthenticated_{0};
  std::mutex refusal_log_mutex_;
  // Ten a second: enough to see who is refused, not enough to flood the log.
  log::LogRateLimit refusal_log_{1000, 10};  // guarded by refusal_log_mutex_
};

}  // namespace plby::control
