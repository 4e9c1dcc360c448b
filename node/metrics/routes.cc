#include "metrics/routes.h"

#include "metrics/prometheus.h"
#include "metrics/report.h"
#include "metrics/status_page.h"

namespace plby::metrics {

HttpResponse Route(const control::ControlPlane& plane, const TrafficHistory& history,
                   const std::string& path) {
  if (path == "/metrics") {
    return {.content_type = kPrometheusContentType, .body = RenderPrometheus(Collect(plane))};
  }
  if (path == "/status.json") {
    return {.content_type = "application/json", .body = RenderStatusJson(Collect(plane))};
  }
  if (path == "/history.json") {
    return {.content_type = "application/json", .body = history.Json()};
  }
  if (path == "/" || path == "/index.html") {
    return {.content_type = "text/html; charset=utf-8", .body = std::string(StatusPageHtml())};
  }
  if (path == "/status.css") {
    return {.content_type = "text/css; charset=utf-8", .body = std::string(StatusPageStyle())};
  }
  if (path == "/status.js") {
    return {.content_type = "text/javascript; charset=utf-8",
            .body = std::string(StatusPageScript())};
  }
  return {.status = 404,
          .content_type = "text/plain; charset=utf-8",
          .body =
              "not found: this listener serves / (the status page, with /status.css and "
              "/status.js), /status.json, /history.json and /metrics\n"};
}

}  // namespace plby::metrics
