#include "control/audit_log.h"

#include "absl/strings/str_cat.h"
#include "log/log.h"
#include "net/event_loop.h"
#include "text/quote.h"

namespace plby::control {
namespace {

// The error messages are plby's own, bounded already (the values in them are quoted in part).
constexpr size_t kLongest = 2000;

std::string CallerText(const Caller& caller) {
  return absl::StrCat(
      "peer=", caller.peer,
      caller.identity.empty() ? "" : absl::StrCat(" client=", text::Quote(caller.identity)));
}

}  // namespace

namespace {

// Each call's and outcome's names, in enum order: one table, so that a new one is one line.
struct MutationNames {
  absl::string_view api;    // as the API names the call
  absl::string_view label;  // as a metric label
};
constexpr MutationNames kMutationNames[kMutations] = {
    {"AddBackend", "add_backend"},       {"RemoveBackend", "remove_backend"},
    {"UpdateBackend", "update_backend"}, {"UpdatePool", "update_pool"},
    {"MarkSynced", "mark_synced"},
};
constexpr absl::string_view kOutcomeNames[kOutcomes] = {"applied", "unchanged", "refused"};

}  // namespace

absl::string_view MutationName(Mutation mutation) {
  return kMutationNames[static_cast<size_t>(mutation)].api;
}

absl::string_view MutationLabel(Mutation mutation) {
  return kMutationNames[static_cast<size_t>(mutation)].label;
}

absl::string_view OutcomeName(Outcome outcome) {
  return kOutcomeNames[static_cast<size_t>(outcome)];
}

void AuditLog::Record(const Entry& entry) {
  const Outcome outcome = !entry.result.ok() ? Outcome::kRefused
                          : entry.changed    ? Outcome::kApplied
                                             : Outcome::kUnchanged;
  changes_[static_cast<size_t>(entry.mutation)][static_cast<size_t>(outcome)].fetch_add(
      1, std::memory_order_relaxed);
  static const Caller kNobody;
  const std::string versions =
      outcome == Outcome::kApplied
          ? absl::StrCat(entry.version_before, "->", entry.version_after)
          : absl::StrCat(entry.version_after != 0 ? entry.version_after : entry.version_before);
  PLBY_LOG(kInfo, "control change call=", MutationName(entry.mutation), " ",
           CallerText(entry.caller != nullptr ? *entry.caller : kNobody),
           // (A call about the node as a whole, MarkSynced, names no pool and no version.)
           entry.pool.empty() ? "" : absl::StrCat(" pool=", text::Quote(entry.pool)),
           entry.backend.empty() ? "" : absl::StrCat(" backend=", text::Quote(entry.backend)),
           " asked=", text::Quote(entry.asked), " result=", OutcomeName(outcome),
           entry.pool.empty() ? "" : absl::StrCat(" version=", versions),
           entry.result.ok()
               ? ""
               : absl::StrCat(" code=", absl::StatusCodeToString(entry.result.code()),
                              " error=", text::Quote(entry.result.message(), kLongest)));
}

void AuditLog::RecordSaveFailure(absl::string_view pool, const absl::Status& error) {
  save_failures_.fetch_add(1, std::memory_order_relaxed);
  PLBY_LOG(kError, "state file: a change of pool ", text::Quote(pool),
           " could not be saved, so it was refused: ", error.message());
}

void AuditLog::RecordUnauthenticated(const Caller& caller, absl::string_view reason) {
  unauthenticated_.fetch_add(1, std::memory_order_relaxed);
  uint64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> lock(refusal_log_mutex_);
    if (!refusal_log_.Allow(net::MonotonicMs(), &suppressed)) return;
  }
  PLBY_LOG(kWarn, "control call refused ", CallerText(caller),
           " reason=", text::Quote(reason, kLongest), log::SuppressedSuffix(suppressed));
}

AuditCounts AuditLog::counts() const {
  AuditCounts counts;
  for (size_t m = 0; m < kMutations; ++m) {
    for (size_t o = 0; o < kOutcomes; ++o) {
      counts.changes[m][o] = changes_[m][o].load(std::memory_order_relaxed);
    }
  }
  counts.save_failures = save_failures_.load(std::memory_order_relaxed);
  counts.unauthenticated = unauthenticated_.load(std::memory_order_relaxed);
  return counts;
}

}  // namespace plby::control
