// plbyctl's output: aligned tables for people, one JSON document for scripts.
#pragma once

#include <string>
#include <vector>

#include "cli.h"
#include "node_calls.h"

namespace plby::ctl {

// The results of a one-shot command on every node, as a table of the nodes that succeeded.
std::string RenderTable(const Invocation& invocation, const std::vector<NodeResult>& results);

// The results of a one-shot command as one JSON document, failed nodes included:
// {"command": "...", "ok": bool, "nodes": [{"node": "...", "ok": bool, ...}, ...]}
std::string RenderJson(const Invocation& invocation, const std::vector<NodeResult>& results);

// One watch update: a block of lines, or (JSON) one object on one line.
std::string RenderWatchUpdate(OutputFormat format, const std::string& node,
                              const v1::WatchBackendsResponse& update);

// A failed node, for stderr: "plbyctl: NODE: CODE: message".
std::string RenderFailure(const std::string& node, const absl::Status& error);

}  // namespace plby::ctl
