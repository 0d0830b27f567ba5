// ModelServer: `assay serve` in one object — an EngineWorker over the model, the OpenAI API
// (OpenAiService) and the HTTP transport (HttpServer). The CLI and the tests start it the same
// way.
//
// Ownership: the model is borrowed and must outlive the server.
// Thread safety: stop() from any thread; it is graceful (in-flight requests finish) and
// idempotent; the destructor calls it.
#pragma once

#include <memory>

#include "engines/serve/engine_worker.h"
#include "engines/serve/http_server.h"
#include "engines/serve/openai_service.h"

namespace assay::serve {

class ModelServer {
 public:
  static Result<std::unique_ptr<ModelServer>> start(LocalModel& model,
                                                    const HttpServerOptions& opt);
  ~ModelServer();

  uint16_t port() const { return http_->port(); }
  // "http://HOST:PORT/v1"
  std::string base_url() const;
  void stop();
  const EngineWorker& worker() const { return *worker_; }
  const OpenAiService& service() const { return *service_; }

 private:
  ModelServer() = default;
  std::unique_ptr<EngineWorker> worker_;
  std::unique_ptr<OpenAiService> service_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace assay::serve
