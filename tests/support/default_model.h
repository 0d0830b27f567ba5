// Where tests find real model files and data.
//
// default_model_path() is the harness's own (harness/model_spec.h): $ASSAY_DEFAULT_MODEL, else
// the models directory. It fails with a message telling to run scripts/setup when the file is
// absent (tests should FAIL, not skip: the default model is part of the test environment).
// test_data_dir(): the shared data folder (tests/support/test_env.h).
#pragma once

#include <string>

#include "harness/model_spec.h"
#include "harness/status.h"

namespace assay {

std::string test_data_dir();

}  // namespace assay
