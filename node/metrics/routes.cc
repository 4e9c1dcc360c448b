#include "metrics/routes.h"

#include "metrics/prometheus.h"
#include "metrics/report.h"
#include "metrics/status_page.h"

namespace plby::metrics {

HttpResponse Route(const control::ControlPlane& plane, const std::string& path) {
  if (path == "/metrics") {
    return {.content_type = kPrometheusContentType, .body = RenderPrometheus(Collect(plane))};
  }
  if (path == "/status.json") {
    return {.content_type = "application/json", .body = RenderStatusJson(Collect(plane))};
  }
  if (path == "/" || path == "/index.html") {
    return {.content_type = "text/html; charset=utf-8", .body = std::string(StatusPageHtml())};
  }
  return {.status = 404,
          .content_type = "text/plain; charset=utf-8",
          .body =
              "not found: this listener serves / (the status page), /status.json and "
              "/metrics\n"};
}

}  // namespace plby::metrics
