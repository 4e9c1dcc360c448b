#include "state/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "balance/algorithm.h"
#include "config/toml.h"
#include "config/toml_guard.h"
#include "files/read_file.h"
#include "log/log.h"
#include "net/host_port.h"
#include "text/quote.h"

namespace plby::state {
namespace {

constexpr int64_t kFormat = 1;

absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

std::string Quoted(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Collects the problems of a parsed state file, each with its position.
class Checker {
 public:
  explicit Checker(absl::string_view source) : source_(source) {}

  void Error(const toml::source_region& where, absl::string_view message) {
    errors_.push_back(
        absl::StrCat(source_, ":", where.begin.line, ":", where.begin.column, ": ", message));
  }

  void CheckKeys(const toml::table& table, absl::string_view context,
                 std::initializer_list<absl::string_view> allowed) {
    for (auto&& [key, value] : table) {
      bool known = false;
      for (absl::string_view name : allowed) known = known || ToAbsl(key.str()) == name;
      if (!known) {
        Error(key.source(),
              absl::StrCat("unknown key ", text::Quote(ToAbsl(key.str())), " in ", context));
      }
    }
  }

  State Run(const toml::table& root) {
    State state;
    CheckKeys(root, "the state file", {"format", "pool"});
    const toml::node* format = root.get("format");
    if (format == nullptr || format->as_integer() == nullptr ||
        format->as_integer()->get() != kFormat) {
      Error(format != nullptr ? format->source() : root.source(),
            absl::StrCat("expected format = ", kFormat, " (a plby-node state file)"));
      return state;
    }
    const toml::node* pools = root.get("pool");
    if (pools == nullptr) return state;  // no pool was ever changed
    const toml::array* array = pools->as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      Error(pools->source(), "pool: expected an array of tables ([[pool]])");
      return state;
    }
    for (const toml::node& node : *array) {
      const toml::table& table = *node.as_table();
      CheckKeys(table, "[[pool]]", {"name", "version", "backends", "balance"});
      PoolRecord pool;
      const auto* name = table.get("name") ? table.get("name")->as_string() : nullptr;
      const auto* version = table.get("version") ? table.get("version")->as_integer() : nullptr;
      const auto* backends = table.get("backends") ? table.get("backends")->as_array() : nullptr;
      if (name == nullptr || version == nullptr || version->get() < 1 || backends == nullptr) {
        Error(table.source(),
              "[[pool]] needs name (a string), version (an integer from 1) and backends (an "
              "array)");
        continue;
      }
      pool.name = name->get();
      pool.version = static_cast<uint64_t>(version->get());
      if (state.Find(pool.name) != nullptr) {
        Error(table.source(), absl::StrCat("pool ", text::Quote(pool.name), " is listed twice"));
        continue;
      }
      absl::flat_hash_set<std::string> listed;  // canonical addresses so far
      for (const toml::node& entry : *backends) {
        const toml::table* backend = entry.as_table();
        if (backend == nullptr) {
          Error(entry.source(), "a backend must be a table { address, weight, draining }");
          continue;
        }
        CheckKeys(*backend, "a backend", {"address", "weight", "draining"});
        const auto* address =
            backend->get("address") ? backend->get("address")->as_string() : nullptr;
        const auto* weight =
            backend->get("weight") ? backend->get("weight")->as_integer() : nullptr;
        const auto* draining =
            backend->get("draining") ? backend->get("draining")->as_boolean() : nullptr;
        if (address == nullptr || weight == nullptr || draining == nullptr) {
          Error(backend->source(),
                "a backend needs address (a string), weight (an integer) and draining (true "
                "or false)");
          continue;
        }
        absl::StatusOr<net::HostPort> parsed =
            net::ParseHostPort(address->get(), net::AddressUse::kConnect);
        if (!parsed.ok()) {
          LeftOut(backend->get("address")->source(), pool.name, parsed.status().message());
          continue;
        }
        if (absl::Status valid = balance::ValidateWeight(weight->get()); !valid.ok()) {
          LeftOut(backend->get("weight")->source(), pool.name,
                  absl::StrCat("backend ", text::Quote(parsed->ToString()), ": ", valid.message()));
          continue;
        }
        const std::string canonical = parsed->ToString();
        if (!listed.insert(canonical).second) {
          LeftOut(backend->get("address")->source(), pool.name,
                  absl::StrCat("backend ", text::Quote(canonical),
                               " is listed twice (an earlier entry has the same address)"));
          continue;
        }
        pool.backends.push_back({canonical, weight->get(), draining->get()});
      }
      if (const toml::node* balance = table.get("balance")) ReadBalance(*balance, pool);
      state.pools.push_back(std::move(pool));
    }
    return state;
  }

  const std::vector<std::string>& errors() const { return errors_; }
  std::vector<std::string>& warnings() { return warnings_; }

 private:
  // balance = { algorithm, slow_start, hash, maglev_table_size }. Settings the node would
  // refuse now are left out (the config's apply), with a warning: they never stop a restart.
  void ReadBalance(const toml::node& node, PoolRecord& pool) {
    const toml::table* table = node.as_table();
    const auto* algorithm =
        table && table->get("algorithm") ? table->get("algorithm")->as_string() : nullptr;
    const auto* slow_start =
        table && table->get("slow_start") ? table->get("slow_start")->as_string() : nullptr;
    const auto* hash = table && table->get("hash") ? table->get("hash")->as_string() : nullptr;
    const auto* size = table && table->get("maglev_table_size")
                           ? table->get("maglev_table_size")->as_integer()
                           : nullptr;
    if (table != nullptr) {
      CheckKeys(*table, "balance", {"algorithm", "slow_start", "hash", "maglev_table_size"});
    }
    if (algorithm == nullptr || slow_start == nullptr || hash == nullptr || size == nullptr) {
      Error(node.source(),
            "balance needs algorithm, slow_start and hash (strings) and maglev_table_size (an "
            "integer)");
      return;
    }
    balance::Settings settings;
    absl::Status valid = absl::OkStatus();
    absl::StatusOr<balance::Algorithm> parsed_algorithm = balance::ParseAlgorithm(algorithm->get());
    absl::StatusOr<balance::HashKey> parsed_hash = balance::ParseHashKey(hash->get());
    absl::Duration parsed_slow_start;
    if (!parsed_algorithm.ok()) {
      valid = parsed_algorithm.status();
    } else if (!parsed_hash.ok()) {
      valid = parsed_hash.status();
    } else if (!absl::ParseDuration(slow_start->get(), &parsed_slow_start)) {
      valid = absl::InvalidArgumentError(
          absl::StrCat("slow_start ", text::Quote(slow_start->get()), " is not a duration"));
    } else {
      settings = {.algorithm = *parsed_algorithm,
                  .slow_start = parsed_slow_start,
                  .hash = *parsed_hash,
                  .maglev_table_size = size->get() < 0 ? 0 : static_cast<uint64_t>(size->get())};
      valid = balance::Validate(settings);
    }
    if (!valid.ok()) {
      warnings_.push_back(absl::StrCat(
          source_, ":", node.source().begin.line, ":", node.source().begin.column, ": pool ",
          text::Quote(pool.name), ": the saved balance settings are left out (", valid.message(),
          "): the config's apply"));
      return;
    }
    pool.balance = settings;
  }

  void LeftOut(const toml::source_region& where, absl::string_view pool, absl::string_view why) {
    warnings_.push_back(absl::StrCat(source_, ":", where.begin.line, ":", where.begin.column,
                                     ": pool ", text::Quote(pool), ": a backend is left out: ", why,
                                     "; the next change saved drops it from the file"));
  }

  std::string source_;
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
};

}  // namespace

const PoolRecord* State::Find(absl::string_view name) const {
  for (const PoolRecord& pool : pools) {
    if (pool.name == name) return &pool;
  }
  return nullptr;
}

std::string FormatState(const State& state) {
  std::string text = absl::StrCat(
      "# plby-node runtime state: the pools as the control service left them. Written by the\n"
      "# node on every acknowledged change; at start it takes precedence over config.toml for\n"
      "# the pools it lists. To go back to config.toml, stop the node and delete this file.\n"
      "format = ",
      kFormat, "\n");
  for (const PoolRecord& pool : state.pools) {
    absl::StrAppend(&text, "\n[[pool]]\nname = ", Quoted(pool.name), "\nversion = ", pool.version,
                    "\nbackends = [\n");
    for (const BackendRecord& backend : pool.backends) {
      absl::StrAppend(&text, "  { address = ", Quoted(backend.address),
                      ", weight = ", backend.weight,
                      ", draining = ", backend.draining ? "true" : "false", " },\n");
    }
    text += "]\n";
    if (pool.balance) {
      absl::StrAppend(&text, "balance = { algorithm = ",
                      Quoted(balance::AlgorithmName(pool.balance->algorithm)),
                      ", slow_start = ", Quoted(absl::FormatDuration(pool.balance->slow_start)),
                      ", hash = ", Quoted(balance::HashKeyName(pool.balance->hash)),
                      ", maglev_table_size = ", pool.balance->maglev_table_size, " }\n");
    }
  }
  return text;
}

absl::StatusOr<State> ParseState(absl::string_view text, absl::string_view source_name) {
  text = config::WithoutByteOrderMark(text);  // a state file edited by hand, say
  if (absl::Status guarded = config::CheckNonAsciiOnlyInComments(text, source_name);
      !guarded.ok()) {
    return absl::DataLossError(absl::StrCat("not a valid state file: ", guarded.message()));
  }
  toml::table root;
  try {
    root = toml::parse(std::string_view(text.data(), text.size()),
                       std::string_view(source_name.data(), source_name.size()));
  } catch (const toml::parse_error& error) {
    return absl::DataLossError(absl::StrCat(source_name, ":", error.source().begin.line, ":",
                                            error.source().begin.column,
                                            ": not a valid state "
                                            "file (TOML syntax error: ",
                                            ToAbsl(error.description()), ")"));
  }
  Checker checker(source_name);
  State state = checker.Run(root);
  if (!checker.errors().empty()) {
    return absl::DataLossError(absl::StrJoin(checker.errors(), "\n"));
  }
  state.warnings = std::move(checker.warnings());
  return state;
}

absl::StatusOr<std::optional<State>> ReadStateFile(const std::string& path) {
  absl::StatusOr<std::string> text = files::ReadFile(path, files::kMaxConfigBytes);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return std::nullopt;  // nothing saved yet
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot read the state file: ", text.status().message()));
  }
  absl::StatusOr<State> state = ParseState(*text, path);
  if (!state.ok()) return state.status();
  return std::optional<State>(*std::move(state));
}

absl::Status WriteFileDurably(const std::string& path, absl::string_view text) {
  // The directory is opened first: once the rename has happened, nothing may fail for want of
  // a descriptor.
  const std::string directory = DirectoryOf(path);
  const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Errno("cannot open directory", directory);
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const absl::Status error = Errno("cannot create", temporary);
    ::close(dir);
    return error;
  }
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const absl::Status error = Errno("cannot write", temporary);
      ::close(fd);
      ::close(dir);
      ::unlink(temporary.c_str());
      return error;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const absl::Status error = Errno("cannot fsync", temporary);
    ::close(fd);
    ::close(dir);
    ::unlink(temporary.c_str());
    return error;
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const absl::Status error = Errno("cannot rename onto", path);
    ::close(dir);
    ::unlink(temporary.c_str());
    return error;
  }
  // The rename is durable once the directory is. The file already holds the change now, so a
  // failure here cannot take it back: it is reported, and the change stands.
  if (::fsync(dir) != 0) {
    PLBY_LOG(kError, "state file ", path, ": the new version is in place but fsync of ", directory,
             " failed (", std::strerror(errno), "); it may not survive a power loss");
  }
  ::close(dir);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<StateFile>> StateFile::Open(std::string path, State initial) {
  const std::string probe = path + ".tmp";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("control.state_file ", path, ": cannot write beside it (", probe, ": ",
                     std::strerror(errno), "); the node could not save its changes"));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return absl::WrapUnique(new StateFile(std::move(path), std::move(initial)));
}

absl::Status StateFile::Save(const PoolRecord& pool) {
  std::lock_guard<std::mutex> lock(mutex_);
  State next = state_;
  bool found = false;
  for (PoolRecord& record : next.pools) {
    if (record.name == pool.name) {
      record = pool;
      found = true;
    }
  }
  if (!found) next.pools.push_back(pool);
  if (absl::Status written = WriteFileDurably(path_, FormatState(next)); !written.ok()) {
    return absl::UnavailableError(absl::StrCat("could not save the change to the state file (",
                                               written.message(), "); nothing changed"));
  }
  state_ = std::move(next);
  return absl::OkStatus();
}

}  // namespace plby::state
