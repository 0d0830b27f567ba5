// `assay serve`: the OpenAI-compatible HTTP server over a local model (engines/serve/).
#include <pthread.h>

#include <csignal>
#include <cstdio>

#include "engines/local/local_model.h"
#include "engines/serve/model_server.h"
#include "harness/cli/cli.h"
#include "harness/cli/model_factory.h"
#include "harness/log.h"
#include "harness/model_spec.h"

namespace assay::cli {
namespace {

int serve(const Args& args) {
  auto spec = args.get("model");
  if (!spec) {
    log_line(LogLevel::kError, "assay serve: --model SPEC is required (see assay serve --help)");
    return kExitUsage;
  }
  serve::HttpServerOptions opt;
  opt.host = args.get_or("host", "127.0.0.1");
  opt.api_key = args.get_or("api-key", "");
  auto port = args.get_int("port");
  if (!port.ok()) return fail(port.status());
  if (port->value_or(8000) < 0 || port->value_or(8000) > 65535) {
    return fail(invalid_argument("--port " + std::to_string(**port) + ": expected 0..65535"));
  }
  opt.port = static_cast<uint16_t>(port->value_or(8000));
  auto body = args.get_int("max-body-bytes");
  if (!body.ok()) return fail(body.status());
  if (*body) {
    if (**body < 1) return fail(invalid_argument("--max-body-bytes must be positive"));
    opt.max_body_bytes = static_cast<uint64_t>(**body);
  }
  auto margs = parse_kv_list(args.get_or("model-args", ""), "--model-args");
  if (!margs.ok()) return fail(margs.status());
  auto ms = parse_model_spec(*spec);
  if (!ms.ok()) return fail(ms.status());
  if (ms->kind != ModelKind::kLocal) {
    return fail(invalid_argument("--model " + *spec +
                                 ": assay serve needs a local model (local:PATH or default)"));
  }

  // SIGINT/SIGTERM are taken by sigwait below; blocked before any thread (the engine's pool,
  // the server's) exists, so every thread inherits the mask and none is killed by them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto model = make_model(*spec, *margs);
  if (!model.ok()) return fail(model.status());
  auto* local = dynamic_cast<LocalModel*>(model->get());
  if (!local)
    return fail(invalid_argument("--model " + *spec +
                                 ": assay serve needs a local model (local:PATH or default)"));
  auto server = serve::ModelServer::start(*local, opt);
  if (!server.ok()) return fail(server.status());
  std::printf("listening on %s\n", (*server)->base_url().c_str());
  std::fflush(stdout);
  ASSAY_LOG(kInfo) << "serving " << local->info().id << " (n_ctx " << local->n_ctx() << ")"
                   << (opt.api_key.empty() ? "" : ", API key required");
  int sig = 0;
  sigwait(&sigs, &sig);
  ASSAY_LOG(kInfo) << "signal " << sig << ": finishing requests in flight, then exiting";
  (*server)->stop();
  return kExitOk;
}

}  // namespace

Command serve_command() {
  Command c;
  c.name = "serve";
  c.summary = "OpenAI-compatible HTTP server over a local model";
  c.usage =
      "assay serve --model SPEC [--host 127.0.0.1] [--port N] [--api-key K] [--model-args K=V,...]";
  c.description =
      "Endpoints: GET /v1/models, POST /v1/completions (echo + logprobs give prompt log-probs),\n"
      "POST /v1/chat/completions (stream: true for SSE), GET /health. Prints\n"
      "\"listening on http://HOST:PORT/v1\" once ready. SIGINT/SIGTERM stop it gracefully.";
  c.flags = {
      {"model", {}, true, "SPEC", "local:PATH or default"},
      {"model-args", {"model_args"}, true, "K=V,...", "as for assay run (n_ctx, threads, ...)"},
      {"host", {}, true, "ADDR", "address to bind (default 127.0.0.1; others need --api-key)"},
      {"port", {}, true, "N", "port (default 8000; 0 picks a free one)"},
      {"api-key", {"api_key"}, true, "KEY", "require Authorization: Bearer KEY"},
      {"max-body-bytes", {"max_body_bytes"}, true, "N", "largest request body (default 8 MiB)"},
  };
  c.run = serve;
  return c;
}

}  // namespace assay::cli
