#include "engines/serve/model_server.h"

namespace assay::serve {

Result<std::unique_ptr<ModelServer>> ModelServer::start(LocalModel& model,
                                                        const HttpServerOptions& opt) {
  if (!model.has_tokenizer()) {
    return failed_precondition(model.info().spec +
                               ": the model has no tokenizer; serving text needs one");
  }
  std::unique_ptr<ModelServer> s(new ModelServer());
  s->worker_ = std::make_unique<EngineWorker>(model);
  s->service_ = std::make_unique<OpenAiService>(model, *s->worker_);
  OpenAiService* svc = s->service_.get();
  ASSAY_ASSIGN_OR_RETURN(
      s->http_, HttpServer::start(opt, [svc](std::string_view m, std::string_view t,
                                             std::string_view b) { return svc->handle(m, t, b); }));
  return s;
}

ModelServer::~ModelServer() { stop(); }

std::string ModelServer::base_url() const {
  return "http://" + http_->host() + ":" + std::to_string(http_->port()) + "/v1";
}

void ModelServer::stop() {
  // Transport first (in-flight requests still reach the worker), then the worker.
  if (http_) http_->stop();
  if (worker_) worker_->stop();
}

}  // namespace assay::serve
