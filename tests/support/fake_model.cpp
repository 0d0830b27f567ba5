#include "tests/support/fake_model.h"

#include "harness/sha256.h"

namespace assay::testing {

FakeModel::FakeModel(std::string identity) {
  info_.spec = "fake";
  info_.id = "fake";
  info_.identity = std::move(identity);
  info_.backend = "fake";
  info_.n_ctx = 4096;
  info_.supports_loglikelihood = true;
  info_.supports_rolling = true;
}

std::vector<Result<LoglikelihoodResponse>> FakeModel::loglikelihood(
    std::span<const LoglikelihoodRequest> requests) {
  std::vector<Result<LoglikelihoodResponse>> out;
  for (const auto& r : requests) {
    ++calls;
    if (fail_contexts.count(r.context)) {
      out.push_back(unavailable("injected failure"));
      continue;
    }
    std::string h = sha256_hex(info_.identity + r.context + "|" + r.continuation);
    LoglikelihoodResponse resp;
    resp.logprob = -static_cast<double>(std::stoul(h.substr(0, 6), nullptr, 16)) / 1e6;
    resp.is_greedy = h[6] < '4';
    resp.n_tokens = 1;
    out.push_back(resp);
  }
  return out;
}

std::vector<Result<RollingResponse>> FakeModel::loglikelihood_rolling(
    std::span<const RollingRequest> requests) {
  std::vector<Result<RollingResponse>> out;
  for (const auto& r : requests) {
    ++calls;
    out.push_back(RollingResponse{-static_cast<double>(r.text.size()), static_cast<int64_t>(r.text.size())});
  }
  return out;
}

std::vector<Result<GenerateResponse>> FakeModel::generate_until(
    std::span<const GenerateRequest> requests) {
  std::vector<Result<GenerateResponse>> out;
  for (size_t i = 0; i < requests.size(); ++i) {
    ++calls;
    GenerateResponse g;
    g.text = generation;
    g.finish_reason = "stop";
    out.push_back(g);
  }
  return out;
}

}  // namespace assay::testing
