// A deterministic stand-in Model for unit tests of harness logic (never for end-to-end tests):
// log-likelihoods are a hash of the request text, generations echo a fixed answer.
#pragma once

#include <atomic>
#include <set>

#include "harness/model.h"

namespace assay::testing {

class FakeModel : public Model {
 public:
  explicit FakeModel(std::string identity = "fake-1");
  const ModelInfo& info() const override { return info_; }
  std::vector<Result<LoglikelihoodResponse>> loglikelihood(
      std::span<const LoglikelihoodRequest> requests) override;
  std::vector<Result<RollingResponse>> loglikelihood_rolling(
      std::span<const RollingRequest> requests) override;
  std::vector<Result<GenerateResponse>> generate_until(
      std::span<const GenerateRequest> requests) override;

  ModelInfo info_;
  std::atomic<int64_t> calls{0};   // requests received
  std::set<std::string> fail_contexts;  // contexts answered with an Unavailable error
  std::string generation = "The answer is 42.";
};

}  // namespace assay::testing
