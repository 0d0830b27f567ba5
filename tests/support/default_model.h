// Where tests find real model files and data.
//
// default_model_path() is the harness's own (harness/model_spec.h): $ASSAY_DEFAULT_MODEL, else
// the models directory. It fails with a message telling to run scripts/setup when the file is
// absent (tests should FAIL, not skip: the default model is part of the test environment).
// test_data_dir(): the shared data folder (tests/support/test_env.h).
#pragma once

#include <string>
#include <vector>

#include "harness/model.h"
#include "harness/model_spec.h"
#include "harness/status.h"

namespace assay {

std::string test_data_dir();

// Two generation requests on one prompt for the default model: greedy, and seeded top-p 0.9 at
// temperature 0.9 (seed 4); tests compare backends or code paths on both decoding modes.
inline std::vector<GenerateRequest> greedy_and_sampled_requests(int max_gen_toks) {
  std::vector<GenerateRequest> g(2);
  g[0].context = "The three primary colours are";
  g[0].params.max_gen_toks = max_gen_toks;
  g[1] = g[0];
  g[1].params.do_sample = true;
  g[1].params.temperature = 0.9;
  g[1].params.top_p = 0.9;
  g[1].params.seed = 4;
  return g;
}

}  // namespace assay
